// resolve.cpp: getaddrinfo off the hub's OS thread, and create_connection.
//
// The lookup runs on a thread of its own, started per lookup; the result comes back
// through an eventfd that the calling green thread waits on (wait_readable), so only
// that green thread parks. The state both sides share is reference counted: a
// caller that times out or is killed just lets go of it, and the thread frees it
// (and closes the eventfd) when getaddrinfo returns.
#include <grove/net/resolve.hpp>

#include <netdb.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

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
  std::atomic<int> efd{-1};  // closed by whoever is done with it first (see close_efd)
  int rc = 0;
  int sys_errno = 0;
  std::vector<Address> out;
  // The caller closes it as soon as the answer is in, so no fd outlives resolve();
  // after a timeout or kill, the thread's last reference closes it.
  void close_efd() noexcept {
    const int fd = efd.exchange(-1);
    if (fd >= 0) ::close(fd);
  }
  ~Lookup() { close_efd(); }
};

void run_lookup(const std::shared_ptr<Lookup>& l) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  l->rc = ::getaddrinfo(l->host.c_str(), l->port.c_str(), &hints, &res);
  if (l->rc == EAI_SYSTEM) l->sys_errno = errno;
  for (addrinfo* p = res; p; p = p->ai_next) l->out.push_back(Address::from_sockaddr(p->ai_addr, p->ai_addrlen));
  if (res) ::freeaddrinfo(res);
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(l->efd, &one, sizeof one);
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
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  try {
    return {Address::ip(h, port)};  // an IP literal: no lookup
  } catch (const std::invalid_argument&) {
  }
  auto l = std::make_shared<Lookup>();
  l->host = h;
  l->port = std::to_string(port);
  l->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l->efd.load() < 0) {
    ec = detail::errno_code(errno);
    return {};
  }
  grove::detail::Hub& hub = grove::detail::Hub::get();
  hub.check_may_block("grove::net::resolve");
  std::thread(run_lookup, l).detach();
  wait_readable(l->efd, timeout, ec);
  if (ec) return {};
  l->close_efd();  // the thread wrote its answer and no longer touches the fd
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

Socket create_connection(std::string_view host, std::uint16_t port, std::optional<Duration> timeout,
                         std::error_code& ec) {
  const auto end = std::chrono::steady_clock::now() + (timeout ? *timeout : std::chrono::hours(24 * 365));
  std::vector<Address> addrs = resolve(host, port, timeout, ec);
  if (ec) return {};
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

Socket create_connection(std::string_view host, std::uint16_t port, std::optional<Duration> timeout) {
  std::error_code ec;
  Socket s = create_connection(host, port, timeout, ec);
  if (ec) {
    throw std::system_error(ec, "grove::net::create_connection (" + std::string(host) + ":" + std::to_string(port) + ")");
  }
  return s;
}

}  // namespace grove::net
