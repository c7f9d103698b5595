// real.hpp: the libc functions that monkey's hooks stand in front of.
//
// real() returns the table of the next definitions of every hooked symbol (libc's,
// or a sanitizer's interceptor that itself calls libc). real.cpp is the only file in
// grove that calls dlsym(RTLD_NEXT); it fills the table once, from a constructor
// that runs when libgrove_monkey is loaded, or from the first hook called before that
// constructor (another library's constructor may already do I/O).
#pragma once

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace grove::monkey::detail {

struct RealFns {
  int (*socket)(int, int, int);
  int (*socketpair)(int, int, int, int*);
  int (*pipe)(int*);
  int (*pipe2)(int*, int);
  int (*connect)(int, const sockaddr*, socklen_t);
  int (*accept)(int, sockaddr*, socklen_t*);
  int (*accept4)(int, sockaddr*, socklen_t*, int);
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*readv)(int, const iovec*, int);
  ssize_t (*recv)(int, void*, size_t, int);
  ssize_t (*recvfrom)(int, void*, size_t, int, sockaddr*, socklen_t*);
  ssize_t (*recvmsg)(int, msghdr*, int);
  int (*recvmmsg)(int, mmsghdr*, unsigned int, int, timespec*);
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*writev)(int, const iovec*, int);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*sendto)(int, const void*, size_t, int, const sockaddr*, socklen_t);
  ssize_t (*sendmsg)(int, const msghdr*, int);
  int (*sendmmsg)(int, mmsghdr*, unsigned int, int);
  ssize_t (*sendfile)(int, int, off_t*, size_t);
  int (*close)(int);
  int (*close_range)(unsigned int, unsigned int, int);
  void (*closefrom)(int);
  int (*shutdown)(int, int);
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  int (*fcntl)(int, int, ...);
  int (*fcntl64)(int, int, ...);
  int (*ioctl)(int, unsigned long, ...);
  int (*setsockopt)(int, int, int, const void*, socklen_t);
  int (*getsockopt)(int, int, int, void*, socklen_t*);
  int (*poll)(pollfd*, nfds_t, int);
  int (*ppoll)(pollfd*, nfds_t, const timespec*, const sigset_t*);
  int (*select)(int, fd_set*, fd_set*, fd_set*, timeval*);
  int (*pselect)(int, fd_set*, fd_set*, fd_set*, const timespec*, const sigset_t*);
  int (*epoll_wait)(int, epoll_event*, int, int);
  int (*epoll_pwait)(int, epoll_event*, int, int, const sigset_t*);
  unsigned int (*sleep)(unsigned int);
  int (*usleep)(useconds_t);
  int (*nanosleep)(const timespec*, timespec*);
  int (*clock_nanosleep)(clockid_t, int, const timespec*, timespec*);
  int (*getaddrinfo)(const char*, const char*, const addrinfo*, addrinfo**);
  int (*getnameinfo)(const sockaddr*, socklen_t, char*, socklen_t, char*, socklen_t, int);
  hostent* (*gethostbyname)(const char*);
  int (*gethostbyname_r)(const char*, hostent*, char*, size_t, hostent**, int*);
  hostent* (*gethostbyname2)(const char*, int);
  int (*gethostbyname2_r)(const char*, int, hostent*, char*, size_t, hostent**, int*);
  hostent* (*gethostbyaddr)(const void*, socklen_t, int);
  int (*gethostbyaddr_r)(const void*, socklen_t, int, hostent*, char*, size_t, hostent**, int*);
  int (*execve)(const char*, char* const*, char* const*);
  int (*execv)(const char*, char* const*);
  int (*execvp)(const char*, char* const*);
  int (*execvpe)(const char*, char* const*, char* const*);
  int (*fexecve)(int, char* const*, char* const*);
  int (*execveat)(int, const char*, char* const*, char* const*, int);
};

extern RealFns g_real;
// dlsym(RTLD_NEXT, name) for hooks outside RealFns (the threads area's own tables);
// aborts with the name if it is missing, as every lookup here does.
void* real_symbol(const char* name) noexcept;
extern std::atomic<bool> g_real_ready;
void resolve_real() noexcept;

// The next definitions of the hooked symbols. Lock-free after the first call.
inline const RealFns& real() noexcept {
  if (!g_real_ready.load(std::memory_order_acquire)) [[unlikely]] resolve_real();
  return g_real;
}

}  // namespace grove::monkey::detail
