#include "overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "hub.hpp"
#include "unwind.hpp"

namespace grove::detail {

namespace {

constexpr std::size_t kAltStackSize = 64 * 1024;

struct sigaction previous_segv;
struct sigaction previous_bus;

// Async-signal-safe formatting into a fixed buffer.
struct Line {
  char buf[512];
  std::size_t n = 0;
  void put(const char* s) {
    while (*s && n < sizeof(buf) - 1) buf[n++] = *s++;
  }
  void put_num(unsigned long long v, int base = 10) {
    char tmp[32];
    int i = 0;
    do {
      unsigned d = static_cast<unsigned>(v % static_cast<unsigned>(base));
      tmp[i++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
      v /= static_cast<unsigned>(base);
    } while (v && i < 31);
    while (i > 0 && n < sizeof(buf) - 1) buf[n++] = tmp[--i];
  }
  void write_out() {
    buf[n++] = '\n';
    ssize_t r = ::write(STDERR_FILENO, buf, n);
    (void)r;
  }
};

void describe_overflow(Line& l, const GreenThreadState* gt) {
  l.put("grove: stack overflow in green thread '");
  if (gt->name.empty()) {
    l.put("GreenThread-");
    l.put_num(gt->id);
  } else {
    l.put(gt->name.c_str());
  }
  l.put("' (id ");
  l.put_num(gt->id);
  l.put(", stack ");
  l.put_num(gt->stack.size);
  l.put(" bytes, guard: ");
  l.put(guard_kind_name(gt->stack.guard_kind));
  l.put(")");
}

bool in_guard(const GreenThreadState* gt, const char* addr) {
  const char* lo = gt->stack.lo;
  if (!lo) return false;
  return addr >= lo - gt->stack.guard && addr < lo;
}

void chain(const struct sigaction& prev, int sig, siginfo_t* info, void* uctx) {
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // Default action: restore it and return, so the faulting instruction faults again
  // and the process dies of the signal (with a core dump, if enabled).
  ::signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  Hub* hub = Hub::current();
  if (hub) {
    const GreenThreadState* gt = hub->running();
    if (gt && in_guard(gt, static_cast<const char*>(info->si_addr))) {
      Line l;
      describe_overflow(l, gt);
      l.put("; fault at 0x");
      l.put_num(reinterpret_cast<unsigned long long>(info->si_addr), 16);
      l.put("; its stack (module+offset, for addr2line -Cfe):");
      l.write_out();
      // Raw addresses only: unwind::write_raw says why.
      unwind::Frames frames;
      unwind::from_signal_context(uctx, frames);
      unwind::write_raw(STDERR_FILENO, frames, "    ");
      ::signal(sig, SIG_DFL);
      return;
    }
  }
  chain(sig == SIGBUS ? previous_bus : previous_segv, sig, info, uctx);
}

}  // namespace

void install_overflow_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = &on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &previous_segv);
    ::sigaction(SIGBUS, &sa, &previous_bus);
  });
}

void* ensure_signal_stack() {
  stack_t current;
  if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return nullptr;
  void* mem = ::mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = kAltStackSize;
  ss.ss_flags = 0;
  if (::sigaltstack(&ss, nullptr) != 0) {
    ::munmap(mem, kAltStackSize);
    return nullptr;
  }
  return mem;
}

void release_signal_stack(void* mapped) noexcept {
  if (!mapped) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  ::sigaltstack(&ss, nullptr);
  ::munmap(mapped, kAltStackSize);
}

void report_canary_overflow(const GreenThreadState* gt) noexcept {
  Line l;
  describe_overflow(l, gt);
  l.put("; detected by its overwritten stack canary");
  l.write_out();
  std::abort();
}

}  // namespace grove::detail
