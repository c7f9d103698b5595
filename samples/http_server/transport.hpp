// transport.hpp: the byte stream a Connection reads and writes: the accepted Socket
// itself, or a TlsStream over it (http_server --tls-cert / --tls-key).
//
// A branch per call rather than an interface: the plain case stays a direct call to
// Socket, and sendfile(2) stays possible on it (socket().fd()). Under TLS the bytes
// must be encrypted in this process, so a file is read into memory and sent through
// the stream instead (Connection::respond).
#pragma once

#include <cstddef>
#include <optional>
#include <system_error>

#include <grove/duration.hpp>
#include <grove/net/socket.hpp>
#include <grove/net/tls_stream.hpp>

namespace http {

class Transport {
 public:
  explicit Transport(grove::net::Socket& sock) noexcept : sock_(sock) {}
  explicit Transport(grove::net::TlsStream& tls) noexcept : sock_(tls.socket()), tls_(&tls) {}

  // The TCP socket (under the TLS stream, if any): for options, timeouts and fd.
  grove::net::Socket& socket() noexcept { return sock_; }
  bool is_tls() const noexcept { return tls_ != nullptr; }
  // The timeout of every call below (a TlsStream uses its socket's).
  void settimeout(std::optional<grove::Duration> t) noexcept { sock_.settimeout(t); }

  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec) {
    return tls_ ? tls_->recv_into(buf, len, ec) : sock_.recv_into(buf, len, ec);
  }
  std::size_t sendall(const void* data, std::size_t len, std::error_code& ec) {
    return tls_ ? tls_->sendall(data, len, ec) : sock_.sendall(data, len, ec);
  }
  // Ends our direction: close_notify first under TLS, then the TCP FIN.
  void shutdown_write(std::error_code& ec) {
    if (tls_) {
      tls_->shutdown(ec);
      if (ec) return;
    }
    sock_.shutdown(grove::net::ShutdownHow::kWrite, ec);
  }

 private:
  grove::net::Socket& sock_;
  grove::net::TlsStream* tls_ = nullptr;
};

}  // namespace http
