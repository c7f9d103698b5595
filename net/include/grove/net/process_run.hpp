// grove/net/process_run.hpp: run a child to its end in one call (Python's
// subprocess.run(check=True) and check_output).
//
//   grove::net::ProcessOptions o;
//   o.out = grove::net::Stdio::pipe();
//   grove::net::ProcessOutput r = grove::net::run({"ls", "-l"}, o, 10s);
//   std::string head = grove::net::check_output({"git", "rev-parse", "HEAD"});
//
// Both park only the calling green thread (Process::communicate). A non-zero exit or
// a signal throws ProcessError (its message has the exit status or the signal's name;
// it keeps the output); a timeout kills and reaps the child and throws ProcessTimeout
// (with the output read until then); a start that fails throws SpawnError.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/net/process.hpp>

namespace grove::net {

// Starts `argv` with `options`, writes `input` to its stdin (stdin becomes a pipe when
// `input` is not empty and options.in is inherit), reads its piped stdout / stderr and
// waits for it, all within `timeout`. Returns the output and status of a child that
// exited with status 0; otherwise throws (see the top of this header).
GROVE_API ProcessOutput run(const std::vector<std::string>& argv, const ProcessOptions& options = {},
                            std::optional<Duration> timeout = std::nullopt, std::string_view input = {});

// run() with stdout as a pipe; returns what the child wrote there. options.out must be
// left inherit (UsageError otherwise); stderr is as options.err says (inherited by
// default, as in Python).
GROVE_API std::string check_output(const std::vector<std::string>& argv, const ProcessOptions& options = {},
                                   std::optional<Duration> timeout = std::nullopt);

}  // namespace grove::net
