// process_run.cpp: run() and check_output() (grove/net/process_run.hpp).
#include <grove/net/process_run.hpp>

#include <grove/errors.hpp>
#include <grove/net/process_error.hpp>

namespace grove::net {

ProcessOutput run(const std::vector<std::string>& argv, const ProcessOptions& options,
                  std::optional<Duration> timeout, std::string_view input) {
  const ProcessOptions* o = &options;
  ProcessOptions with_stdin;
  if (!input.empty() && options.in.kind() == Stdio::Kind::kInherit) {
    with_stdin = options;
    with_stdin.in = Stdio::pipe();
    o = &with_stdin;
  }
  Process p(argv, *o);
  ProcessOutput r;
  try {
    r = p.communicate(input, timeout);
  } catch (const ProcessTimeout& e) {
    throw ProcessTimeout("grove::net::run: '" + argv[0] + "' timed out; the child was killed", e.output());
  }
  if (!r.status.success()) throw ProcessError(argv, r);
  return r;
}

std::string check_output(const std::vector<std::string>& argv, const ProcessOptions& options,
                         std::optional<Duration> timeout) {
  if (options.out.kind() != Stdio::Kind::kInherit) {
    throw UsageError("grove::net::check_output: options.out must be left inherit (check_output makes it a pipe)");
  }
  ProcessOptions o = options;
  o.out = Stdio::pipe();
  return run(argv, o, timeout).out;
}

}  // namespace grove::net
