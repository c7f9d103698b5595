// exec_hooks.cpp: the exec family (execve, execv, execvp, execvpe, execl, execlp,
// execle, fexecve, execveat).
//
// O_NONBLOCK belongs to the file description, which a new program inherits with every
// fd that is not close-on-exec. Where grove set it and the user did not (kGroveNb
// without kUserNb: a listener a green thread accepted on, a pipe on a kernel without
// RWF_NOWAIT for pipes; sockets and pipes otherwise never get it), it is cleared
// before the real exec, so the program starts with the blocking fds its parent's
// user made, and set again if the exec fails. No lock and no allocation: a child of
// vfork() may call these.
//
// A child of fork() shares these descriptions with its parent, which still relies on
// the flag (a listener its green threads accept on): clearing it there would block the
// parent's OS thread in accept, so an exec in a fork() child leaves the flag as it
// is, and the new program inherits such an fd non-blocking (docs/monkey.md).
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <alloca.h>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstddef>
#include <cstdint>

#include "fd_table.hpp"
#include "real.hpp"

using namespace grove::monkey::detail;

#define GROVE_HOOK extern "C" __attribute__((visibility("default")))

namespace {

// Set in the child of every fork() (not vfork: no atfork handler runs there).
volatile sig_atomic_t g_forked_child = 0;
const int g_fork_noted = ::pthread_atfork(nullptr, nullptr, [] { g_forked_child = 1; });

// Calls fn(fd) for every tracked fd that grove made non-blocking behind the user and
// that the new program inherits (not close-on-exec).
template <class F>
void for_each_inherited_grove_nonblock(F&& fn) {
  for (std::size_t c = 0; c < kChunkCount; ++c) {
    if (!slot_at(c, 0)) continue;
    for (std::size_t i = 0; i < kSlotsPerChunk; ++i) {
      const std::uint8_t f = slot_at(c, i)->flags.load(std::memory_order_relaxed);
      if (!(f & FdState::kTracked) || !(f & FdState::kGroveNb) || (f & FdState::kUserNb)) continue;
      const int fd = static_cast<int>(c * kSlotsPerChunk + i);
      const int fd_flags = real().fcntl(fd, F_GETFD);
      if (fd_flags < 0 || (fd_flags & FD_CLOEXEC)) continue;
      fn(fd);
    }
  }
}

void set_nonblocking(int fd, bool on) {
  const int fl = real().fcntl(fd, F_GETFL);
  if (fl < 0) return;
  const int want = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (want != fl) real().fcntl(fd, F_SETFL, want);
}

// Clears grove's O_NONBLOCK on the inherited fds; sets it again if the exec returned
// (it failed). errno is the exec's.
class ExecGuard {
 public:
  ExecGuard() : active_(!g_forked_child) {
    if (!active_) return;
    const int saved = errno;
    for_each_inherited_grove_nonblock([](int fd) { set_nonblocking(fd, false); });
    errno = saved;
  }
  ~ExecGuard() {
    if (!active_) return;
    const int saved = errno;
    for_each_inherited_grove_nonblock([](int fd) { set_nonblocking(fd, true); });
    errno = saved;
  }
  ExecGuard(const ExecGuard&) = delete;
  ExecGuard& operator=(const ExecGuard&) = delete;

 private:
  const bool active_;
};

// How many arguments execl / execlp / execle got: `arg` and those after it, up to the
// terminating null pointer.
std::size_t count_args(const char* arg, va_list ap) {
  std::size_t n = 1;
  if (!arg) return 0;
  while (va_arg(ap, const char*)) ++n;
  return n;
}

}  // namespace

GROVE_HOOK int execve(const char* path, char* const argv[], char* const envp[]) {
  const ExecGuard guard;
  return real().execve(path, argv, envp);
}

GROVE_HOOK int execv(const char* path, char* const argv[]) {
  const ExecGuard guard;
  return real().execv(path, argv);
}

GROVE_HOOK int execvp(const char* file, char* const argv[]) {
  const ExecGuard guard;
  return real().execvp(file, argv);
}

GROVE_HOOK int execvpe(const char* file, char* const argv[], char* const envp[]) {
  const ExecGuard guard;
  return real().execvpe(file, argv, envp);
}

GROVE_HOOK int fexecve(int fd, char* const argv[], char* const envp[]) {
  const ExecGuard guard;
  return real().fexecve(fd, argv, envp);
}

GROVE_HOOK int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  const ExecGuard guard;
  return real().execveat(dirfd, path, argv, envp, flags);
}

// The list forms build argv on the stack (as glibc does) and call the vector forms.
#define GROVE_MONKEY_LIST_ARGS(argv, arg, last)                      \
  va_list ap;                                                        \
  va_start(ap, last);                                                \
  va_list count_ap;                                                  \
  va_copy(count_ap, ap);                                             \
  const std::size_t argc = count_args(arg, count_ap);                \
  va_end(count_ap);                                                  \
  auto** argv = static_cast<char**>(alloca((argc + 1) * sizeof(char*))); \
  argv[0] = const_cast<char*>(arg);                                  \
  for (std::size_t k = 1; k < argc; ++k) argv[k] = va_arg(ap, char*); \
  if (argc > 0) (void)va_arg(ap, char*); /* the terminating null */  \
  argv[argc] = nullptr

GROVE_HOOK int execl(const char* path, const char* arg, ...) {
  GROVE_MONKEY_LIST_ARGS(argv, arg, arg);
  va_end(ap);
  return execv(path, argv);
}

GROVE_HOOK int execlp(const char* file, const char* arg, ...) {
  GROVE_MONKEY_LIST_ARGS(argv, arg, arg);
  va_end(ap);
  return execvp(file, argv);
}

GROVE_HOOK int execle(const char* path, const char* arg, ...) {
  GROVE_MONKEY_LIST_ARGS(argv, arg, arg);
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(path, argv, envp);
}
