// unwind.hpp / unwind.cpp: call stacks of green threads, for diagnostics only.
//
// Three ways in: a parked (or ready) green thread's stack from its saved fcontext,
// without resuming it; the calling code's own stack; and a signal handler's
// interrupted context. Each records bare program counters into a fixed array
// (no allocation: the signal paths use it too). Symbolize turns them into text
// afterwards ("function (file:line)", or "function+0x1f in libfoo.so").
//
// Nothing here is on a hot path: it runs only when someone asks for a dump, when the
// blocked-hub monitor reports, or when a green thread overflowed its stack.
// Without libunwind (meson: optional dependency, its headers only; libunwind.so.8 is
// loaded at run time, unwind.cpp says why) the first two give empty stacks and
// Symbolize says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace grove::detail::unwind {

inline constexpr int kMaxFrames = 48;

struct Frames {
  std::uintptr_t pc[kMaxFrames];
  int n = 0;
};

// True when grove was built with libunwind and libunwind.so.8 could be loaded.
bool available() noexcept;

// The stack of a context suspended by jump_fcontext (GreenThreadState::fctx), read
// from the registers jump_fcontext saved at the top of that stack.
void from_saved_context(const void* fctx, Frames& out) noexcept;

// The caller's own stack, from its caller's frame on (this function's frame is left
// out). Async-signal-safe with libunwind's local-only API.
void from_here(Frames& out) noexcept;

// The stack a signal interrupted, from inside the handler (`ucontext` is its third
// argument): innermost, the interrupted pc. Async-signal-safe (libgcc's unwinder;
// unwind.cpp says why not libunwind). Works without libunwind too.
void from_signal_context(void* ucontext, Frames& out) noexcept;

// Writes one line per frame to `fd`: "#i 0xpc (module+0xoffset)", the offset as
// `addr2line -Cfe MODULE OFFSET` wants it. Async-signal-safe: for a SIGSEGV handler,
// which must not look names up (that allocates and reads files, and the fault may
// have happened inside malloc with its lock held: the handler would hang the process
// instead of letting it die).
void write_raw(int fd, const Frames& frames, const char* indent) noexcept;

// Names program counters. Keeps a cache, so a dump of thousands of green threads
// parked at the same few places resolves each address once. Not async-signal-safe.
class Symbolize {
 public:
  Symbolize();
  ~Symbolize();
  Symbolize(const Symbolize&) = delete;
  Symbolize& operator=(const Symbolize&) = delete;

  // "function (file:line)" or "function+0xoff (module)" or "0xaddr (module)".
  // `return_address`: pc is where a call returns to (every frame but the innermost
  // of a stack), so the call itself is at pc - 1.
  const std::string& name(std::uintptr_t pc, bool return_address);

  // Appends one line per frame, each starting with `indent`: "#0 name".
  void append(std::string& out, const Frames& frames, const char* indent);

 private:
  std::string resolve(std::uintptr_t pc);
  void* dwfl_ = nullptr;  // elfutils' Dwfl session (libdw), when built with it
  std::unordered_map<std::uintptr_t, std::string> cache_;
};

}  // namespace grove::detail::unwind
