// process_error.cpp: ProcessError and ProcessTimeout (grove/net/process_error.hpp).
#include <grove/net/process_error.hpp>

#include <grove/net/process.hpp>

namespace grove::net {

namespace {

// "'ls' '-l'": the command, each argument quoted, for messages.
std::string quote_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += '\'' + a + '\'';
  }
  return out;
}

std::string ended(const ExitStatus& s) {
  if (s.exited()) return "exited with status " + std::to_string(s.code);
  if (s.killed()) return "was " + s.to_string();
  return "ended with an unknown status (reaped elsewhere)";
}

}  // namespace

struct ProcessError::Data {
  ProcessOutput output;
};

ProcessError::ProcessError(std::vector<std::string> argv, const ProcessOutput& output)
    : std::runtime_error("grove::net::run: " + quote_argv(argv) + " " + ended(output.status)),
      argv_(std::move(argv)),
      data_(std::make_shared<const Data>(Data{output})) {}
ProcessError::~ProcessError() = default;
ProcessError::ProcessError(const ProcessError&) = default;
ProcessError& ProcessError::operator=(const ProcessError&) = default;
const ExitStatus& ProcessError::status() const noexcept { return data_->output.status; }
const std::string& ProcessError::out() const noexcept { return data_->output.out; }
const std::string& ProcessError::err() const noexcept { return data_->output.err; }

ProcessTimeout::ProcessTimeout(const std::string& what, const ProcessOutput& partial)
    : std::system_error(std::make_error_code(std::errc::timed_out), what),
      partial_(std::make_shared<const ProcessOutput>(partial)) {}
ProcessTimeout::~ProcessTimeout() = default;
ProcessTimeout::ProcessTimeout(const ProcessTimeout&) = default;
ProcessTimeout& ProcessTimeout::operator=(const ProcessTimeout&) = default;
const ProcessOutput& ProcessTimeout::output() const noexcept { return *partial_; }

}  // namespace grove::net
