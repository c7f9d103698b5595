// dns_hooks.cpp: getaddrinfo, getnameinfo and the gethostby* family -> grove's
// thread pool.
//
// From a green thread in a process with dns patched, the real function runs on a
// worker of grove::default_thread_pool() while only the calling green thread parks
// (ThreadPool::run_nothrow: it returns only after the worker did, so the caller's
// buffers stay valid, and a kill / grove::Timeout that lands meanwhile stays pending
// for the next grove call that may throw). errno and h_errno are copied back to the
// calling thread. A call with a kill or Timeout already pending that C code was not
// told of yet fails at once (coop.hpp: told once, then calls run as usual):
// EAI_SYSTEM with errno ECANCELED / ETIMEDOUT (getaddrinfo, getnameinfo), or
// TRY_AGAIN with errno set (gethostby*).
//
// Calls that cannot block (a numeric host or address, which needs no lookup) run
// inline, as does every call that is not from a green thread (coop_hub()).
//
// gethostbyname / gethostbyname2 / gethostbyaddr return storage that is per OS
// thread here (glibc's is per process): the worker fills a buffer of the call's own
// through the _r form, which the calling thread then makes its answer, so green
// threads on other hubs cannot overwrite it (HostStorage below).
#include <arpa/inet.h>
#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <grove/thread_pool.hpp>

#include "coop.hpp"
#include "real.hpp"

using namespace grove::monkey::detail;
using grove::detail::Hub;

#define GROVE_HOOK extern "C" __attribute__((visibility("default")))

namespace {

bool is_ip_literal(const char* node) {
  if (!node) return true;  // no host: the local/any address, no lookup
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, node, buf) == 1 || ::inet_pton(AF_INET6, node, buf) == 1;
}

// Runs fn on a worker as a kDns job (at most half the pool: hung lookups leave workers
// to other work, grove/thread_pool.hpp), carrying errno and h_errno back.
template <class F>
void on_worker(F&& fn) noexcept {
  int err = 0, herr = 0;
  grove::default_thread_pool().run_nothrow(grove::JobKind::kDns, [&] {
    fn();
    err = errno;
    herr = h_errno;
  });
  errno = err;
  h_errno = herr;
}

// The calling OS thread's storage for the non-reentrant forms, shared by its green
// threads as glibc's static result is shared by its threads. Each call fills a buffer
// of its own (`spare` if there is one, so a thread's steady state allocates nothing)
// and, back on the calling thread, swaps it into `buf`: `he` points into `buf`, and
// no call ever frees a buffer another call's worker is still filling.
struct HostStorage {
  hostent he{};
  std::vector<char> buf;
  std::vector<char> spare;
};
thread_local HostStorage t_host;

// Calls `r(he, buf, len, &result, &herr)` (a gethostby*_r) on a worker, growing the
// buffer on ERANGE, and on success publishes the answer in this thread's storage.
// Everything the worker touches is the caller's (its stack, its buffer): the worker
// reads no thread_local of the calling thread's.
template <class R>
hostent* nonreentrant(R&& r) {
  HostStorage& s = t_host;
  std::vector<char> buf = std::move(s.spare);
  if (buf.size() < 4096) buf.resize(4096);
  hostent he{};
  for (;;) {
    hostent* result = nullptr;
    int herr = 0;
    int rc = 0;
    char* const data = buf.data();
    const size_t size = buf.size();
    on_worker([&] { rc = r(&he, data, size, &result, &herr); });
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc == 0 && result) {
      s.he = he;  // its pointers are into buf, whose storage moves to s.buf
      s.buf.swap(buf);
      result = &s.he;
    }
    s.spare = std::move(buf);
    h_errno = herr;
    return rc == 0 ? result : nullptr;
  }
}

// True (with errno and h_errno set) if a kill / Timeout C code was not told of yet is
// pending: fail at once.
bool interrupted_host(Hub& hub, const char* what) {
  if (const int e = take_interrupt(hub, what)) {
    errno = e;
    h_errno = TRY_AGAIN;
    return true;
  }
  return false;
}

}  // namespace

GROVE_HOOK int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  Hub* hub = coop_hub(kDns);
  const bool numeric = is_ip_literal(node) || (hints && (hints->ai_flags & AI_NUMERICHOST));
  if (!hub || numeric) return real().getaddrinfo(node, service, hints, res);
  if (const int e = take_interrupt(*hub, "monkey: getaddrinfo")) {
    errno = e;
    return EAI_SYSTEM;
  }
  int rc = 0;
  on_worker([&] { rc = real().getaddrinfo(node, service, hints, res); });
  return rc;
}

GROVE_HOOK int getnameinfo(const sockaddr* addr, socklen_t addrlen, char* host, socklen_t hostlen, char* serv,
                           socklen_t servlen, int flags) {
  Hub* hub = coop_hub(kDns);
  const bool numeric = (!host || (flags & NI_NUMERICHOST)) && (!serv || (flags & NI_NUMERICSERV));
  if (!hub || numeric) return real().getnameinfo(addr, addrlen, host, hostlen, serv, servlen, flags);
  if (const int e = take_interrupt(*hub, "monkey: getnameinfo")) {
    errno = e;
    return EAI_SYSTEM;
  }
  int rc = 0;
  on_worker([&] { rc = real().getnameinfo(addr, addrlen, host, hostlen, serv, servlen, flags); });
  return rc;
}

GROVE_HOOK int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t buflen, hostent** result,
                               int* h_errnop) {
  Hub* hub = coop_hub(kDns);
  if (!hub) return real().gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
  if (interrupted_host(*hub, "monkey: gethostbyname_r")) {
    *result = nullptr;
    *h_errnop = TRY_AGAIN;
    return errno;
  }
  int rc = 0;
  on_worker([&] { rc = real().gethostbyname_r(name, ret, buf, buflen, result, h_errnop); });
  return rc;
}

GROVE_HOOK int gethostbyname2_r(const char* name, int af, hostent* ret, char* buf, size_t buflen, hostent** result,
                                int* h_errnop) {
  Hub* hub = coop_hub(kDns);
  if (!hub) return real().gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
  if (interrupted_host(*hub, "monkey: gethostbyname2_r")) {
    *result = nullptr;
    *h_errnop = TRY_AGAIN;
    return errno;
  }
  int rc = 0;
  on_worker([&] { rc = real().gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop); });
  return rc;
}

GROVE_HOOK int gethostbyaddr_r(const void* addr, socklen_t len, int type, hostent* ret, char* buf, size_t buflen,
                               hostent** result, int* h_errnop) {
  Hub* hub = coop_hub(kDns);
  if (!hub) return real().gethostbyaddr_r(addr, len, type, ret, buf, buflen, result, h_errnop);
  if (interrupted_host(*hub, "monkey: gethostbyaddr_r")) {
    *result = nullptr;
    *h_errnop = TRY_AGAIN;
    return errno;
  }
  int rc = 0;
  on_worker([&] { rc = real().gethostbyaddr_r(addr, len, type, ret, buf, buflen, result, h_errnop); });
  return rc;
}

GROVE_HOOK hostent* gethostbyname(const char* name) {
  Hub* hub = coop_hub(kDns);
  if (!hub) return real().gethostbyname(name);
  if (interrupted_host(*hub, "monkey: gethostbyname")) return nullptr;
  return nonreentrant([&](hostent* he, char* b, size_t n, hostent** r, int* herr) {
    return real().gethostbyname_r(name, he, b, n, r, herr);
  });
}

GROVE_HOOK hostent* gethostbyname2(const char* name, int af) {
  Hub* hub = coop_hub(kDns);
  if (!hub) return real().gethostbyname2(name, af);
  if (interrupted_host(*hub, "monkey: gethostbyname2")) return nullptr;
  return nonreentrant([&](hostent* he, char* b, size_t n, hostent** r, int* herr) {
    return real().gethostbyname2_r(name, af, he, b, n, r, herr);
  });
}

GROVE_HOOK hostent* gethostbyaddr(const void* addr, socklen_t len, int type) {
  Hub* hub = coop_hub(kDns);
  if (!hub) return real().gethostbyaddr(addr, len, type);
  if (interrupted_host(*hub, "monkey: gethostbyaddr")) return nullptr;
  return nonreentrant([&](hostent* he, char* b, size_t n, hostent** r, int* herr) {
    return real().gethostbyaddr_r(addr, len, type, he, b, n, r, herr);
  });
}
