// grove/net/process_error.hpp: the errors of grove::net::Process and run() /
// check_output().
//
//   SpawnError      the child could not be started (no such program, not executable,
//                   no such directory, a Stdio::file that cannot be opened): errno and
//                   the path, thrown in the parent.
//   ProcessError    run() / check_output(): the child exited with a non-zero status or
//                   was killed by a signal; says which, and keeps the output.
//   ProcessTimeout  communicate() / run() ran out of time: the child was killed and
//                   reaped; keeps the output read until then.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <grove/export.hpp>

namespace grove::net {

struct ProcessOutput;  // process.hpp
struct ExitStatus;     // process.hpp

// The child could not be started. code() is the errno (ENOENT, EACCES, ENOEXEC, ...);
// what() names the program and, when it was what failed, the directory or file.
class GROVE_API SpawnError : public std::system_error {
 public:
  // `ec` (the errno) and `what` as for std::system_error; `path` is what failed.
  SpawnError(std::error_code ec, const std::string& what, std::string path)
      : std::system_error(ec, what), path_(std::move(path)) {}
  // The path that failed: the program, the working directory or a Stdio::file.
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// A child run by run() / check_output() exited with a non-zero status or was killed by
// a signal. what(): "grove::net::run: 'false' exited with status 1" or "... was killed
// by signal SIGKILL (9)".
class GROVE_API ProcessError : public std::runtime_error {
 public:
  // For the child run as `argv`, whose output and status are `output`; what() says how
  // it ended.
  ProcessError(std::vector<std::string> argv, const ProcessOutput& output);
  ~ProcessError() override;
  // Copies argv; the copy shares the original's output rather than copying it.
  ProcessError(const ProcessError&);
  // As the copy constructor.
  ProcessError& operator=(const ProcessError&);
  // The command that was run (argv[0] is the program).
  const std::vector<std::string>& argv() const noexcept { return argv_; }
  // How it ended.
  const ExitStatus& status() const noexcept;
  // What it wrote to stdout (where it was a pipe).
  const std::string& out() const noexcept;
  // What it wrote to stderr (where it was a pipe).
  const std::string& err() const noexcept;

 private:
  struct Data;
  std::vector<std::string> argv_;
  std::shared_ptr<const Data> data_;
};

// communicate() / run() ran out of time; the child was killed (SIGKILL) and reaped.
// code() is std::errc::timed_out. output() holds what was read until then.
class GROVE_API ProcessTimeout : public std::system_error {
 public:
  // code() is timed_out; `what` is the message, `partial` the output read until then.
  ProcessTimeout(const std::string& what, const ProcessOutput& partial);
  ~ProcessTimeout() override;
  // The copy shares the original's output rather than copying it.
  ProcessTimeout(const ProcessTimeout&);
  // As the copy constructor.
  ProcessTimeout& operator=(const ProcessTimeout&);
  // The output read before the timeout, and the status (killed by SIGKILL).
  const ProcessOutput& output() const noexcept;

 private:
  std::shared_ptr<const ProcessOutput> partial_;
};

}  // namespace grove::net
