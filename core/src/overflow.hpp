// overflow.hpp: reporting a green thread's stack overflow instead of corrupting memory.
#pragma once

#include <grove/detail/green_thread_state.hpp>
#include <grove/export.hpp>

namespace grove::detail {

// Installs, once per process, a SIGSEGV/SIGBUS handler that runs on the alternate
// signal stack. A fault inside the guard region of the running green thread's stack
// is reported as that green thread's overflow (name, id, stack size, its call stack
// as raw addresses with module+offset) and the process
// dies of the signal. Any other fault goes to the handler that was there before
// (AddressSanitizer's, or the default).
void install_overflow_handler();

// Gives this OS thread an alternate signal stack if it has none (a handler for a
// stack overflow cannot run on the overflowed stack). Returns what it mapped (to pass
// to release_signal_stack at thread exit), or nullptr if one was already there.
void* ensure_signal_stack();
void release_signal_stack(void* mapped) noexcept;

// A canary-guarded stack whose canary was overwritten: report and abort.
// Exported for the switch path libgrove_monkey inlines (hub_switch.hpp).
[[noreturn]] GROVE_API void report_canary_overflow(const GreenThreadState* gt) noexcept;

// Writes format_run_info() to stderr (used by the dump signal watcher).
void grove_dump_to_stderr();

}  // namespace grove::detail
