// grove/net/process.hpp: child processes whose pipes and exit park only the calling
// green thread (Python's subprocess.Popen under gevent, Go's os/exec).
//
//   grove::net::ProcessOptions o;
//   o.in = grove::net::Stdio::pipe();
//   o.out = grove::net::Stdio::pipe();
//   grove::net::Process p({"sort", "-u"}, o);
//   grove::net::ProcessOutput r = p.communicate("b\na\nb\n", 5s);  // r.out == "a\nb\n"
//
//   std::string v = grove::net::check_output({"git", "rev-parse", "HEAD"});  // process_run.hpp
//
// Starting. posix_spawn (glibc's clones with CLONE_VFORK: no copy of the parent's page
// tables, and a failure before exec comes back as posix_spawn's result). A program
// name without '/' is looked up in the parent's PATH (as Go does); one with '/' is
// relative to `cwd` when that is set (as Python does). The child gets an empty signal
// mask and SIGPIPE / SIGXFSZ at their default action (a grove thread may block signals,
// a server may ignore SIGPIPE; Python's restore_signals). Every fd but 0, 1 and 2 is
// closed in the child (closefrom), unless close_other_fds is false; grove's own fds are
// close-on-exec anyway. Files named by Stdio::file are opened by the parent, so an
// error names the file.
//
// Errors of the start are thrown in the parent, never seen as an exit status 127:
// SpawnError (a std::system_error carrying the errno) naming the program, or the
// directory or file that failed.
//
// Waiting. wait() parks only the calling green thread, on a pidfd (pidfd_open, Linux
// 5.3+) watched by this hub's loop: no SIGCHLD handler, so it works on any hub of any
// OS thread and leaves SIGCHLD to the application. Any number of green threads of the
// hub may wait at once. Where pidfd_open fails (an older kernel, a seccomp filter), a
// waiter polls waitpid(WNOHANG) instead, every 1 ms doubling to 50 ms. The child is
// reaped by waitpid(pid) only: a SIGCHLD handler of the application that reaps every
// child (waitpid(-1)) takes the status away; wait() then reports "status unknown".
//
// No zombie. A Process destroyed while its child runs kills it with SIGKILL (unless
// kill_on_destroy is false) and reaps it: at once if it is already gone, else on a
// short-lived OS thread of its own (a blocking waitpid), so the destructor never
// parks or blocks. Green threads parked in wait() / communicate() on it wake with
// ECANCELED. A Process belongs to the OS thread whose hub made it: another OS thread
// gets UsageError from every call but pid() and program() (to end a child from
// elsewhere, post the kill() to that hub).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/net/pipe_stream.hpp>
#include <grove/net/process_error.hpp>

namespace grove::net {

namespace detail {
struct ProcessState;
}

// How a child's stdin, stdout or stderr is set up.
class GROVE_API Stdio {
 public:
  // Which of the factories below made it: inherit(), null(), pipe(), file(), fd(),
  // merge_into_stdout().
  enum class Kind : std::uint8_t { kInherit, kNull, kPipe, kFile, kFd, kMergeIntoStdout };
  // The parent's own stream (the default).
  static Stdio inherit() { return Stdio(Kind::kInherit); }
  // /dev/null.
  static Stdio null() { return Stdio(Kind::kNull); }
  // A pipe whose parent end is Process::stdin_pipe() / stdout_pipe() / stderr_pipe().
  static Stdio pipe() { return Stdio(Kind::kPipe); }
  // A file opened by the parent: for stdin read-only; for stdout / stderr write-only,
  // created (mode 0666 & ~umask) and truncated, or appended to if `append`. A relative
  // path is relative to the parent's working directory, not to `cwd`.
  static Stdio file(std::string path, bool append = false) {
    Stdio s(Kind::kFile);
    s.path_ = std::move(path);
    s.append_ = append;
    return s;
  }
  // An fd of the parent (still the caller's: it is not closed).
  static Stdio fd(int fd) {
    Stdio s(Kind::kFd);
    s.fd_ = fd;
    return s;
  }
  // stderr only: wherever stdout goes (2>&1). UsageError for stdin or stdout.
  static Stdio merge_into_stdout() { return Stdio(Kind::kMergeIntoStdout); }

  // Which factory made it.
  Kind kind() const noexcept { return kind_; }
  // file()'s path (empty for the other kinds).
  const std::string& path() const noexcept { return path_; }
  // file()'s `append` (false for the other kinds).
  bool append() const noexcept { return append_; }
  // fd()'s descriptor (-1 for the other kinds).
  int fd() const noexcept { return fd_; }

 private:
  explicit Stdio(Kind k) noexcept : kind_(k) {}
  Kind kind_;
  bool append_ = false;
  int fd_ = -1;
  std::string path_;
};

// How to start a child. `{}` inherits everything (environment, directory, streams).
struct ProcessOptions {
  // The whole environment, "NAME=value" each; nullopt inherits the parent's.
  std::optional<std::vector<std::string>> env;
  // Set (or override) on top of the inherited or given environment.
  std::vector<std::pair<std::string, std::string>> env_set;
  // The child's working directory; empty: the parent's.
  std::string cwd;
  // The child's stdin.
  Stdio in = Stdio::inherit();
  // The child's stdout.
  Stdio out = Stdio::inherit();
  // The child's stderr (may also be Stdio::merge_into_stdout()).
  Stdio err = Stdio::inherit();
  // A new process group whose id is the child's pid (POSIX_SPAWN_SETPGROUP): a Ctrl-C
  // in the terminal no longer reaches it; kill(-pid, sig) reaches it and its children.
  bool new_process_group = false;
  // A new session (setsid; POSIX_SPAWN_SETSID): no controlling terminal.
  bool new_session = false;
  // Close every fd but 0, 1 and 2 in the child (false: fds without close-on-exec are
  // inherited).
  bool close_other_fds = true;
  // The destructor kills a child still running with SIGKILL before reaping it (false:
  // it is left running and reaped when it exits).
  bool kill_on_destroy = true;
};

// How a child ended.
struct GROVE_API ExitStatus {
  // Its exit status (0-255) when it exited, else -1 (killed, or status unknown).
  int code = -1;
  // The number of the signal that killed it, else 0.
  int signal = 0;
  // True when it was killed by a signal and dumped core (WCOREDUMP).
  bool core_dumped = false;

  // It exited (code holds its exit status).
  bool exited() const noexcept { return code >= 0; }
  // A signal killed it (signal holds which).
  bool killed() const noexcept { return signal != 0; }
  // Exited with status 0.
  bool success() const noexcept { return code == 0; }
  // "exit status 1", "killed by signal SIGKILL (9)", "status unknown" (reaped by
  // someone else).
  std::string to_string() const;
  // From a waitpid(2) status.
  static ExitStatus from_wait_status(int status) noexcept;
};

// What communicate() and run() return: everything read from stdout and stderr (when
// they were pipes) and how the child ended.
struct ProcessOutput {
  // Everything read from the child's stdout (empty if it was not a pipe).
  std::string out;
  // Everything read from the child's stderr (empty if it was not a pipe).
  std::string err;
  // How the child ended.
  ExitStatus status;
};

// A child process (see the comment at the top of grove/net/process.hpp). Move-only.
class GROVE_API Process {
 public:
  // No process: pid() is -1; wait() is ECHILD.
  Process() noexcept;
  // Starts `argv` (argv[0] is the program). Throws SpawnError (a std::system_error with
  // the errno) naming the program, directory or file that failed; UsageError for an
  // empty argv or a misplaced Stdio::merge_into_stdout.
  explicit Process(const std::vector<std::string>& argv, const ProcessOptions& options = {});
  // See "No zombie" at the top of this header.
  ~Process();
  // Takes over `other`'s child and pipes; `other` is left empty (pid() -1).
  Process(Process&& other) noexcept;
  // Disposes of this Process's child as the destructor does (see "No zombie"), then
  // takes over `other`'s child and pipes; `other` is left empty.
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // The child's pid (-1 for none). Still reported after it was reaped (do not signal it
  // then: the number may be reused).
  pid_t pid() const noexcept;
  // argv[0], for messages.
  const std::string& program() const noexcept;
  // The parent ends of the pipes (closed PipeStreams for streams that are not pipes).
  // Close stdin_pipe() to give the child end of file.
  PipeStream& stdin_pipe() noexcept { return in_; }
  // The read end of the child's stdout pipe (see stdin_pipe()).
  PipeStream& stdout_pipe() noexcept { return out_; }
  // The read end of the child's stderr pipe (see stdin_pipe()).
  PipeStream& stderr_pipe() noexcept { return err_; }

  // The status if the child has ended (reaping it), else nullopt. Never parks.
  std::optional<ExitStatus> poll();
  // Parks until the child ends and reaps it; at once if it already was. Errors:
  // timed_out (the child goes on), ECANCELED if the Process is destroyed meanwhile,
  // ECHILD for an empty Process. GreenletExit / TimeoutError unwind as from any
  // parking call. Not from the hub; UsageError from another OS thread.
  ExitStatus wait(std::optional<Duration> timeout, std::error_code& ec);
  // Throwing form of wait(): std::system_error naming the program and pid.
  ExitStatus wait(std::optional<Duration> timeout = std::nullopt);

  // Sends `sig` (pidfd_send_signal where there is a pidfd, so never to a recycled pid).
  // Does nothing once the child was reaped. Errors: errno (EPERM, EINVAL).
  void kill(int sig, std::error_code& ec);
  // Throwing form of kill(sig).
  void kill(int sig);
  // kill(SIGKILL).
  void kill();
  // kill(SIGTERM).
  void terminate();

  // Writes `input` to stdin (then closes it) while reading stdout and stderr until end
  // of file, all at once in the calling green thread (so a child filling both pipes
  // never deadlocks), then waits for the child. `input` needs Stdio::pipe() for stdin
  // (else UsageError); streams that are not pipes are skipped. A child that closes its
  // stdin early is fine (the rest of `input` is dropped, as in Python).
  // After `timeout` (one budget for the whole call), the child is killed (SIGKILL) and
  // reaped, and ec is timed_out: the output read until then is in the result, and
  // status says SIGKILL. ECANCELED if the Process is destroyed meanwhile.
  ProcessOutput communicate(std::string_view input, std::optional<Duration> timeout, std::error_code& ec);
  // Throwing form of communicate(): ProcessTimeout (process_error.hpp), carrying the
  // partial output, on a timeout; std::system_error otherwise. Does not check the exit
  // status (run() does).
  ProcessOutput communicate(std::string_view input = {}, std::optional<Duration> timeout = std::nullopt);

 private:
  std::unique_ptr<detail::ProcessState> s_;
  PipeStream in_;
  PipeStream out_;
  PipeStream err_;
};

}  // namespace grove::net
