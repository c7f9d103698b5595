// raw_io.hpp: recv and send on grove's own sockets as bare system calls.
//
// Every echoed message makes one recv and one send. glibc's wrappers (recvfrom and
// sendto underneath) are cancellation points: each tests whether the process is
// multi-threaded and takes the cancellable path if so, about ten instructions plus
// the PLT hop, per call (callgrind, bench/callgrind). grove's sockets are
// non-blocking, so a call never waits inside the kernel and a cancellation point
// there has nothing to cancel; the bare syscall instruction does the same work in
// four. Go's runtime makes its socket calls the same way.
//
// Under AddressSanitizer and ThreadSanitizer the libc calls stay: their interceptors
// check the buffer (ASan) and record the happens-before a socket carries between OS
// threads (TSan), which a bare syscall would hide from them. On other targets too.
//
// sock_recv / sock_send: the same contract as recv(2) / send(2), the count or -1 with
// errno set. sock_send_result: the kernel's, the count or -errno, so that a caller's
// fast path does not keep errno's thread-local address live across the call.
#pragma once

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GROVE_RAW_IO 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GROVE_RAW_IO 0
#endif
#endif
#if !defined(GROVE_RAW_IO)
#if defined(__x86_64__) && defined(__linux__)
#define GROVE_RAW_IO 1
#else
#define GROVE_RAW_IO 0
#endif
#endif

namespace grove::detail {

#if GROVE_RAW_IO
// recvfrom / sendto with their address arguments null: what recv / send are. The
// kernel's own result: the count, or -errno (-4095..-1); errno untouched.
inline long raw_socket_call(long nr, int fd, const void* buf, std::size_t len, int flags) noexcept {
  long ret;
  register long r10 __asm__("r10") = flags;
  register long r8 __asm__("r8") = 0;
  register long r9 __asm__("r9") = 0;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(static_cast<long>(fd)), "S"(buf), "d"(len), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

inline long sock_send_result(int fd, const void* buf, std::size_t len, int flags) noexcept {
  return raw_socket_call(SYS_sendto, fd, buf, len, flags);
}
#else
inline long sock_send_result(int fd, const void* buf, std::size_t len, int flags) noexcept {
  const ssize_t n = ::send(fd, buf, len, flags);
  return n < 0 ? -errno : n;
}
#endif

// A result of sock_send_result as send(2) returns it: the count, or -1 with errno set.
inline ssize_t errno_result(long ret) noexcept {
  if (ret < 0) [[unlikely]] {
    errno = static_cast<int>(-ret);
    return -1;
  }
  return ret;
}

#if GROVE_RAW_IO
inline ssize_t sock_recv(int fd, void* buf, std::size_t len, int flags) noexcept {
  return errno_result(raw_socket_call(SYS_recvfrom, fd, buf, len, flags));
}
inline ssize_t sock_send(int fd, const void* buf, std::size_t len, int flags) noexcept {
  return errno_result(raw_socket_call(SYS_sendto, fd, buf, len, flags));
}
#else
inline ssize_t sock_recv(int fd, void* buf, std::size_t len, int flags) noexcept { return ::recv(fd, buf, len, flags); }
inline ssize_t sock_send(int fd, const void* buf, std::size_t len, int flags) noexcept {
  return ::send(fd, buf, len, flags);
}
#endif

}  // namespace grove::detail
