// grove/diagnostics.hpp: seeing what the green threads of this OS thread are doing.
#pragma once

#include <cstdio>
#include <string>

#include <grove/export.hpp>

namespace grove {

// One line per live green thread of this OS thread's hub (the root included): id,
// name, state, what it waits on and for how long; under it, its call stack, innermost
// frame first (function, and file:line where the code has debug info). A parked green
// thread's stack is read from its saved registers without resuming it. Stacks need
// libunwind (libunwind.so.8, loaded on first use) and libdw for file:line; without
// them each green thread says so. Does not park. 10,000 parked green threads take
// 0.15 to 0.2 s (bench/core/dump_bench). docs/debugging.md shows the output.
GROVE_API std::string format_run_info();

// Writes format_run_info() to `out` (stderr by default).
GROVE_API void dump(std::FILE* out = stderr);

// From now on, the signal `signo` (SIGUSR1 by default) makes this OS thread's hub
// print dump() to stderr. The handler runs on the hub, between green threads, so it
// is safe. GROVE_DUMP_ON_SIGUSR1=1 enables it when the main thread's hub starts.
// A signal serves one hub at a time: UsageError if another OS thread's hub dumps on
// `signo` already (it is free again once that OS thread exits), or if `signo` is not
// a signal number.
GROVE_API void dump_on_signal(int signo = 10 /* SIGUSR1 */);

}  // namespace grove
