// transport.hpp: the byte stream a Connection reads and writes: the accepted Socket
// itself, a TlsStream over it (http_server --tls-cert / --tls-key), or bytes in
// memory (a MemoryIo: what tests/fuzz/http_server_fuzz.cpp drives a Connection with,
// so that request handling is a function of the bytes, without a socket).
//
// A branch per call rather than an interface: the plain case stays a direct call to
// Socket, and sendfile(2) stays possible on it (sendfile_fd()). Under TLS the bytes
// must be encrypted in this process, so a file is read into memory and sent through
// the stream instead (Connection::serve_file); in memory too.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstddef>
#include <optional>
#include <system_error>

#include <grove/duration.hpp>
#include <grove/net/socket.hpp>
#include <grove/net/tls_stream.hpp>

namespace http {

// Bytes in and out of memory in place of a socket. Calls never park; timeouts do not
// apply (a read that would wait is end of file).
class MemoryIo {
 public:
  virtual std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec) = 0;
  virtual std::size_t sendall(const void* data, std::size_t len, std::error_code& ec) = 0;
  virtual void shutdown_write(std::error_code& ec) = 0;

 protected:
  ~MemoryIo() = default;
};

class Transport {
 public:
  explicit Transport(grove::net::Socket& sock) noexcept : sock_(&sock) {}
  explicit Transport(grove::net::TlsStream& tls) noexcept : sock_(&tls.socket()), tls_(&tls) {}
  explicit Transport(MemoryIo& mem) noexcept : mem_(&mem) {}

  bool is_tls() const noexcept { return tls_ != nullptr; }
  // The fd for sendfile(2): the plain socket's, or -1 (TLS or memory: send through
  // sendall instead).
  int sendfile_fd() const noexcept { return tls_ || !sock_ ? -1 : sock_->fd(); }
  // The timeout of every call below (a TlsStream uses its socket's).
  void settimeout(std::optional<grove::Duration> t) noexcept {
    if (sock_) sock_->settimeout(t);
  }
  // TCP_NODELAY on the socket (nothing in memory).
  void set_nodelay(std::error_code& ec) noexcept {
    if (sock_) sock_->set_option(IPPROTO_TCP, TCP_NODELAY, 1, ec);
  }

  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec) {
    if (mem_) return mem_->recv_into(buf, len, ec);
    return tls_ ? tls_->recv_into(buf, len, ec) : sock_->recv_into(buf, len, ec);
  }
  // Reads from under the TLS stream, if any (what linger_close drops undecrypted).
  std::size_t recv_raw(void* buf, std::size_t len, std::error_code& ec) {
    return mem_ ? mem_->recv_into(buf, len, ec) : sock_->recv_into(buf, len, ec);
  }
  std::size_t sendall(const void* data, std::size_t len, std::error_code& ec) {
    if (mem_) return mem_->sendall(data, len, ec);
    return tls_ ? tls_->sendall(data, len, ec) : sock_->sendall(data, len, ec);
  }
  // Ends our direction: close_notify first under TLS, then the TCP FIN.
  void shutdown_write(std::error_code& ec) {
    if (mem_) return mem_->shutdown_write(ec);
    if (tls_) {
      tls_->shutdown(ec);
      if (ec) return;
    }
    sock_->shutdown(grove::net::ShutdownHow::kWrite, ec);
  }

 private:
  grove::net::Socket* sock_ = nullptr;
  grove::net::TlsStream* tls_ = nullptr;
  MemoryIo* mem_ = nullptr;
};

}  // namespace http
