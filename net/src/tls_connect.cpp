// tls_connect.cpp: connect_tls, create_connection's TLS form (grove/net/tls_stream.hpp).
#include <chrono>

#include <grove/net/resolve.hpp>
#include <grove/net/tls_stream.hpp>

namespace grove::net {

TlsStream connect_tls(std::string_view host, std::uint16_t port, const TlsContext& ctx,
                      std::optional<Duration> timeout, std::error_code& ec) {
  ec.clear();
  const auto start = std::chrono::steady_clock::now();
  Socket sock = create_connection(host, port, timeout, ec);
  if (ec) return {};
  // "[::1]" names the address ::1 (the certificate's IP entry).
  std::string_view name = host;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  TlsStream t = TlsStream::client(std::move(sock), ctx, name);
  std::optional<Duration> left;
  if (timeout) left = *timeout - std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - start);
  t.handshake(left, ec);  // a budget already spent is already expired (timed_out)
  if (ec) return {};
  return t;
}

TlsStream connect_tls(std::string_view host, std::uint16_t port, const TlsContext& ctx,
                      std::optional<Duration> timeout) {
  std::error_code ec;
  TlsStream t = connect_tls(host, port, ctx, timeout, ec);
  if (ec) {
    std::string what = "grove::net::connect_tls (to ";
    what.append(host).append(":").append(std::to_string(port)).append(")");
    throw std::system_error(ec, what);
  }
  return t;
}

}  // namespace grove::net
