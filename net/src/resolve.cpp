// resolve.cpp: getaddrinfo in grove's thread pool, and create_connection.
//
// A worker of the default thread pool runs getaddrinfo while only the calling green
// thread waits. run_in_thread() returns only after its function did (the pool's
// cancellation contract), but resolve() takes a timeout that must be honoured even
// when the resolver hangs: so the call runs in a small green thread of its own that
// owns the lookup's state (shared), and the caller only joins it, with the timeout.
// A caller that times out or is killed lets go at once; the lookup finishes in the
// background and its result is dropped.
#include <grove/net/resolve.hpp>

#include <netdb.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>

#include <grove/green_thread.hpp>
#include <grove/thread_pool.hpp>

#include "endpoint.hpp"
#include "socket_state.hpp"

namespace grove::net {

namespace {

class ResolverCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "grove.resolver"; }
  std::string message(int code) const override { return ::gai_strerror(code); }
};

struct Lookup {
  std::string host;
  std::string port;
  int rc = 0;
  int sys_errno = 0;
  std::vector<Address> out;
};

// Runs on a worker thread.
void run_lookup(Lookup& l) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  l.rc = ::getaddrinfo(l.host.c_str(), l.port.c_str(), &hints, &res);
  if (l.rc == EAI_SYSTEM) l.sys_errno = errno;
  for (addrinfo* p = res; p; p = p->ai_next) l.out.push_back(Address::from_sockaddr(p->ai_addr, p->ai_addrlen));
  if (res) ::freeaddrinfo(res);
}

double seconds_left(std::chrono::steady_clock::time_point end) {
  return std::chrono::duration<double>(end - std::chrono::steady_clock::now()).count();
}

}  // namespace

const std::error_category& resolver_category() noexcept {
  static const ResolverCategory cat;
  return cat;
}

std::vector<Address> resolve(std::string_view host, std::uint16_t port, std::optional<Duration> timeout,
                             std::error_code& ec) {
  ec.clear();
  if (host.find('\0') != std::string_view::npos)  // getaddrinfo would look up the name cut at the NUL
    throw std::invalid_argument("grove::net::resolve: NUL byte in host name");
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  try {
    return {Address::ip(h, port)};  // an IP literal: no lookup
  } catch (const std::invalid_argument&) {
  }
  grove::detail::Hub::get().check_may_block("grove::net::resolve");
  auto l = std::make_shared<Lookup>();
  l->host = h;
  l->port = std::to_string(port);
  SpawnOptions opts;
  opts.name = "grove::net::resolve";
  // A kDns job: the pool runs at most limit(kDns) lookups at once, so lookups that
  // hang past their callers' timeouts cannot take every worker (grove/thread_pool.hpp).
  auto lookup = grove::spawn(std::move(opts), [l] {
    grove::default_thread_pool().run(grove::JobKind::kDns, [&] { run_lookup(*l); });
  });
  const bool done = timeout ? lookup.join(*timeout) : (lookup.join(), true);
  if (!done) {
    ec = std::make_error_code(std::errc::timed_out);
    return {};
  }
  lookup.get();  // rethrows what run_in_thread threw (std::bad_alloc)
  if (l->rc == EAI_SYSTEM) {
    ec = detail::errno_code(l->sys_errno);
    return {};
  }
  if (l->rc != 0) {
    ec = std::error_code(l->rc, resolver_category());
    return {};
  }
  return std::move(l->out);
}

std::vector<Address> resolve(std::string_view host, std::uint16_t port, std::optional<Duration> timeout) {
  std::error_code ec;
  auto out = resolve(host, port, timeout, ec);
  if (ec) throw std::system_error(ec, "grove::net::resolve (" + std::string(host) + ")");
  return out;
}

namespace {

std::chrono::steady_clock::time_point deadline(std::optional<Duration> timeout) {
  return grove::detail::deadline_after(std::chrono::steady_clock::now(),
                                       timeout ? *timeout : Duration(std::chrono::hours(24 * 365)));
}

// Connects to each of `addrs` in turn until one accepts, by `end` if `timeout`.
Socket connect_first(const std::vector<Address>& addrs, std::chrono::steady_clock::time_point end,
                     std::optional<Duration> timeout, std::error_code& ec) {
  for (const Address& a : addrs) {
    const double left = seconds_left(end);
    if (timeout && left <= 0) {
      ec = std::make_error_code(std::errc::timed_out);
      break;
    }
    Socket s(a.family(), SocketType::kStream);
    s.connect(a, timeout ? std::optional<Duration>(grove::seconds(left)) : std::nullopt, ec);
    if (!ec) return s;
  }
  if (!ec && addrs.empty()) ec = std::error_code(EAI_NONAME, resolver_category());
  return {};
}

}  // namespace

Socket create_connection(std::string_view host, std::uint16_t port, std::optional<Duration> timeout,
                         std::error_code& ec) {
  const auto end = deadline(timeout);
  std::vector<Address> addrs = resolve(host, port, timeout, ec);
  if (ec) return {};
  return connect_first(addrs, end, timeout, ec);
}

Socket create_connection(std::string_view host, std::uint16_t port, std::optional<Duration> timeout) {
  std::error_code ec;
  Socket s = create_connection(host, port, timeout, ec);
  if (ec) {
    throw std::system_error(ec, "grove::net::create_connection (" + std::string(host) + ":" + std::to_string(port) + ")");
  }
  return s;
}

Socket create_connection(std::string_view endpoint, std::optional<Duration> timeout, std::error_code& ec) {
  ec.clear();
  const auto end = deadline(timeout);
  const detail::Endpoint ep = detail::Endpoint::parse(endpoint, detail::Endpoint::Use::kConnect);
  std::vector<Address> addrs{ep.address};
  if (ep.needs_lookup()) {
    addrs = resolve(ep.host, ep.port, timeout, ec);
    if (ec) return {};
  }
  return connect_first(addrs, end, timeout, ec);
}

Socket create_connection(std::string_view endpoint, std::optional<Duration> timeout) {
  std::error_code ec;
  Socket s = create_connection(endpoint, timeout, ec);
  if (ec) throw std::system_error(ec, "grove::net::create_connection (" + std::string(endpoint) + ")");
  return s;
}

}  // namespace grove::net
