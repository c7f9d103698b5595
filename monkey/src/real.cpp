// real.cpp: the only file in grove that calls dlsym(RTLD_NEXT). See real.hpp.
//
// dlsym may allocate (its error buffer), so it must never run inside a hooked
// malloc; monkey hooks no allocator, and every symbol is looked up once, here, before
// the first hook needs it. A missing symbol aborts with its name: a hook without the
// real function behind it could only guess.
#include "real.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace grove::monkey::detail {

RealFns g_real{};
std::atomic<bool> g_real_ready{false};

namespace {

template <class T>
void load(T& slot, const char* name) noexcept {
  void* p = ::dlsym(RTLD_NEXT, name);
  if (!p) {
    std::fprintf(stderr, "grove monkey: cannot find the real %s (dlsym(RTLD_NEXT) failed)\n", name);
    std::abort();
  }
  slot = reinterpret_cast<T>(p);
}

void resolve_all() noexcept {
  RealFns& r = g_real;
#define GROVE_MONKEY_LOAD(name) load(r.name, #name)
  GROVE_MONKEY_LOAD(socket);
  GROVE_MONKEY_LOAD(socketpair);
  GROVE_MONKEY_LOAD(pipe);
  GROVE_MONKEY_LOAD(pipe2);
  GROVE_MONKEY_LOAD(connect);
  GROVE_MONKEY_LOAD(accept);
  GROVE_MONKEY_LOAD(accept4);
  GROVE_MONKEY_LOAD(read);
  GROVE_MONKEY_LOAD(readv);
  GROVE_MONKEY_LOAD(recv);
  GROVE_MONKEY_LOAD(recvfrom);
  GROVE_MONKEY_LOAD(recvmsg);
  GROVE_MONKEY_LOAD(recvmmsg);
  GROVE_MONKEY_LOAD(write);
  GROVE_MONKEY_LOAD(writev);
  GROVE_MONKEY_LOAD(send);
  GROVE_MONKEY_LOAD(sendto);
  GROVE_MONKEY_LOAD(sendmsg);
  GROVE_MONKEY_LOAD(sendmmsg);
  GROVE_MONKEY_LOAD(sendfile);
  GROVE_MONKEY_LOAD(close);
  GROVE_MONKEY_LOAD(close_range);
  GROVE_MONKEY_LOAD(closefrom);
  GROVE_MONKEY_LOAD(shutdown);
  GROVE_MONKEY_LOAD(dup);
  GROVE_MONKEY_LOAD(dup2);
  GROVE_MONKEY_LOAD(dup3);
  GROVE_MONKEY_LOAD(fcntl);
  GROVE_MONKEY_LOAD(fcntl64);
  GROVE_MONKEY_LOAD(ioctl);
  GROVE_MONKEY_LOAD(setsockopt);
  GROVE_MONKEY_LOAD(getsockopt);
  GROVE_MONKEY_LOAD(poll);
  GROVE_MONKEY_LOAD(ppoll);
  GROVE_MONKEY_LOAD(select);
  GROVE_MONKEY_LOAD(pselect);
  GROVE_MONKEY_LOAD(epoll_wait);
  GROVE_MONKEY_LOAD(epoll_pwait);
  GROVE_MONKEY_LOAD(sleep);
  GROVE_MONKEY_LOAD(usleep);
  GROVE_MONKEY_LOAD(nanosleep);
  GROVE_MONKEY_LOAD(clock_nanosleep);
  GROVE_MONKEY_LOAD(getaddrinfo);
  GROVE_MONKEY_LOAD(getnameinfo);
  GROVE_MONKEY_LOAD(gethostbyname);
  GROVE_MONKEY_LOAD(gethostbyname_r);
  GROVE_MONKEY_LOAD(gethostbyname2);
  GROVE_MONKEY_LOAD(gethostbyname2_r);
  GROVE_MONKEY_LOAD(gethostbyaddr);
  GROVE_MONKEY_LOAD(gethostbyaddr_r);
  GROVE_MONKEY_LOAD(execve);
  GROVE_MONKEY_LOAD(execv);
  GROVE_MONKEY_LOAD(execvp);
  GROVE_MONKEY_LOAD(execvpe);
  GROVE_MONKEY_LOAD(fexecve);
  GROVE_MONKEY_LOAD(execveat);
#undef GROVE_MONKEY_LOAD
}

std::once_flag g_once;

// Resolve at load time, before main() and before any thread the program starts.
__attribute__((constructor(101))) void resolve_at_load() { resolve_real(); }

}  // namespace

void* real_symbol(const char* name) noexcept {
  void* p = nullptr;
  load(p, name);
  return p;
}

void resolve_real() noexcept {
  std::call_once(g_once, [] {
    resolve_all();
    g_real_ready.store(true, std::memory_order_release);
  });
}

}  // namespace grove::monkey::detail
