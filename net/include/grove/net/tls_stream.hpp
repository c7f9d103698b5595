// grove/net/tls_stream.hpp: a TLS connection over a cooperative Socket.
//
//   auto ctx = grove::net::TlsContext::client();
//   grove::net::TlsStream t = grove::net::connect_tls("example.org", 443, ctx, 10s);
//   t.sendall("GET / HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n");
//   char buf[4096];
//   while (std::size_t n = t.recv_into(buf, sizeof buf)) fwrite(buf, 1, n, stdout);
//
//   // a server side, on an accepted socket (or see grove/net/tls_server.hpp)
//   grove::net::TlsStream t = grove::net::TlsStream::server(std::move(sock), server_ctx);
//   t.handshake(10s);
//
// The calls mirror grove::net::Socket's: the same error_code / throwing pairs, the
// same timeouts (the socket's settimeout() for each call, once for a multi-step
// call; handshake() takes its own), and the same rules for who may wait (one
// reader and one writer at a time, on the socket's OS thread; UsageError
// otherwise). A call parks only the calling green thread: when OpenSSL needs the
// socket readable or writable (SSL_ERROR_WANT_READ / WANT_WRITE) the call parks on
// the socket's own read or write watcher, exactly as Socket::recv does on EAGAIN,
// and retries when woken. End of file is a 0-byte read after the peer's
// close_notify; a peer that closes without one is the error TlsErrc::kTruncated,
// unless allow_truncation(true) (for protocols that frame their own end, as HTTP
// with Content-Length). Errors: grove/net/tls_error.hpp. After a fatal TLS error
// (not a timeout) every later call reports the same error.
//
// How OpenSSL reaches the fd. A BIO of grove's own over the socket's fd (no copy, no
// buffer of grove's: OpenSSL reads the kernel's bytes straight into its record
// buffer, as with OpenSSL's fd BIO), chosen over the plain fd BIO (SSL_set_fd) for
// two reasons: it writes with send(MSG_NOSIGNAL), so a vanished peer is EPIPE and
// never SIGPIPE (the fd BIO uses write(2)); and it sees whether a read came back
// short, i.e. drained the kernel's buffer, so the next recv parks at once instead of
// making a read(2) that would fail with EAGAIN (Socket's "skipped read"). A memory
// BIO pair would copy every byte once more and hold buffers of its own. Read-ahead
// is on: one read(2) takes a whole record (and whatever follows it) instead of the
// 5-byte header and then the body. So one 64-byte echo costs one read, one write
// and, when the peer is slower, one epoll_wait, as with a plain Socket; grove adds
// no allocation per record (OpenSSL's own buffers: see release_idle_buffers).
// Measured (strace -c -f on samples/tls_echo_server, 2,000 64-byte ping-pongs from
// python3's ssl): per message 1.0 recvfrom, 1.0 sendto, 1.0 epoll_wait, and no
// read that failed with EAGAIN.
//
// Where OpenSSL's frames go. The SSL_* calls of a handshake, a read or a write run
// on one stack per hub, not on the calling green thread's (core/src/shared_stack.hpp):
// OpenSSL runs deeper than grove's own frames, and a green thread's stack keeps every
// page it has touched, so each connection would otherwise hold a page or more of
// OpenSSL's frames while idle. A callback of yours that OpenSSL makes from inside a
// handshake (TlsServerOptions::select_context) runs there too; it may park (the
// stack is then its own until it returns, and other connections' calls run on
// their own stacks meanwhile).
//
// Lines and buffered writes: grove::net::BufferedStream takes a TlsStream& as well
// as a Socket& (grove/net/buffered_stream.hpp); it reads through recv_into and
// flushes through sendall, so the rules above apply to it.
//
// Writes after a timeout. OpenSSL keeps a record it could not finish sending and
// needs the same bytes offered again; so after a send / sendall / shutdown that
// timed out, failed or was interrupted (kill, grove::Timeout) with data half sent,
// the stream refuses further writes (the timeout's error again, as Go's tls.Conn
// does). Reads may be retried after a timeout.
//
// The OpenSSL error queue is per OS thread, shared by every green thread there:
// each call clears it before the SSL_* call it inspects and takes its error out
// before it could park, so green threads never see each other's errors.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/net/socket.hpp>
#include <grove/net/tls_context.hpp>

struct ssl_st;  // OpenSSL's SSL

namespace grove::net {

// One TLS connection; owns its Socket. Move-only. See the file comment.
class GROVE_API TlsStream {
 public:
  // A closed stream (every call is EBADF).
  TlsStream() noexcept;
  // The client side over a connected `socket`. `server_name` is sent as SNI (unless
  // it is an IP address) and the server's certificate must name it (DNS name or IP
  // address); it may be empty only with insecure_skip_verify (else UsageError). A
  // server context is a UsageError. Does not park; handshake() (or the first recv /
  // send) does the handshake.
  static TlsStream client(Socket socket, const TlsContext& ctx, std::string_view server_name);
  // The server side over an accepted `socket`; a client context is a UsageError.
  static TlsStream server(Socket socket, const TlsContext& ctx);

  // Closes (see close()).
  ~TlsStream();
  // Takes over `other`'s connection; `other` is left closed. A green thread parked in
  // `other` goes on in this stream.
  TlsStream(TlsStream&& other) noexcept;
  // Closes this stream (see close()), then takes over `other`'s connection.
  TlsStream& operator=(TlsStream&& other) noexcept;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // True until close().
  bool is_open() const noexcept;
  // The socket under the stream (for its options and addresses; reading or writing it
  // directly would break the TLS stream).
  Socket& socket() noexcept;
  // The socket's timeout: it applies to every call below but handshake(), as on a Socket.
  void settimeout(std::optional<Duration> timeout) noexcept;
  // The socket's timeout.
  std::optional<Duration> gettimeout() const noexcept;
  // Closes the socket without sending close_notify (call shutdown() first for a clean
  // end). Green threads parked in the stream wake with ECANCELED. Does not park.
  void close() noexcept;

  // Performs the handshake, parking until it is done, `timeout` passes
  // (std::errc::timed_out; nullopt: the socket's timeout) or it fails. Doing nothing
  // once done. A refused certificate is a tls_verify_category() error.
  void handshake(std::optional<Duration> timeout, std::error_code& ec);
  // Throwing form of handshake(): std::system_error naming the peer (and, for a
  // name mismatch, the name expected).
  void handshake(std::optional<Duration> timeout = std::nullopt);

  // --- reading (0 bytes: the peer sent close_notify) ---
  // Up to `len` decrypted bytes (at most one record's worth). Handshakes first if not
  // done. Errors as the file comment; after one nothing was read.
  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec);
  // Throwing form of recv_into().
  std::size_t recv_into(void* buf, std::size_t len);
  // Up to `max` bytes as a string ("" at end of file).
  std::string recv(std::size_t max, std::error_code& ec);
  // Throwing form of recv().
  std::string recv(std::size_t max);
  // Exactly `len` bytes unless end of file comes first (then fewer); on an error the
  // return value says how many were stored. The socket's timeout covers the whole call.
  std::size_t recv_exactly(void* buf, std::size_t len, std::error_code& ec);
  // Throwing form of recv_exactly().
  std::size_t recv_exactly(void* buf, std::size_t len);

  // --- writing ---
  // Some of `data` (at least one byte unless len is 0; up to one record, 16 KiB).
  std::size_t send(const void* data, std::size_t len, std::error_code& ec);
  // Throwing form of send().
  std::size_t send(const void* data, std::size_t len);
  // Throwing send() of a string.
  std::size_t send(std::string_view data) { return send(data.data(), data.size()); }
  // All of `data`; returns the bytes sent (fewer only with ec set). The socket's
  // timeout covers the whole call.
  std::size_t sendall(const void* data, std::size_t len, std::error_code& ec);
  // Throwing form of sendall(): SendallError carrying the count.
  void sendall(const void* data, std::size_t len);
  // Throwing sendall() of a string.
  void sendall(std::string_view data) { sendall(data.data(), data.size()); }
  // Sends close_notify (parking while the socket is full), so that the peer reads a
  // clean end of file. Does not wait for the peer's close_notify and does not close
  // the socket. After it, sends fail.
  void shutdown(std::error_code& ec);
  // Throwing form of shutdown().
  void shutdown();

  // Accept a peer closing without close_notify as end of file (default: the error
  // TlsErrc::kTruncated). For a protocol that delimits its own messages.
  void allow_truncation(bool on) noexcept;

  // --- after the handshake ---
  // The ALPN protocol agreed on ("" if none).
  std::string alpn_protocol() const;
  // The protocol version ("TLSv1.3").
  std::string version() const;
  // The cipher suite ("TLS_AES_128_GCM_SHA256").
  std::string cipher() const;
  // Whether the handshake resumed an earlier session (tickets).
  bool session_reused() const noexcept;
  // Server side: the name the client sent (SNI), "" if none. Client side: the name given.
  std::string server_name() const;
  // The subject of the peer's verified certificate ("CN=client"; "" if none).
  std::string peer_subject() const;
  // The SSL object, for what grove does not cover (nullptr when closed).
  ssl_st* native_handle() const noexcept;

  struct Impl;

 private:
  explicit TlsStream(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// create_connection(host, port, timeout) and then the client handshake with `ctx`,
// sending `host` as SNI and checking the certificate names it; `timeout` covers the
// lookup, the connect and the handshake together. Errors of both; the throwing form's
// message names host and port.
GROVE_API TlsStream connect_tls(std::string_view host, std::uint16_t port, const TlsContext& ctx,
                                std::optional<Duration> timeout, std::error_code& ec);
// Throwing form of connect_tls(): std::system_error naming host and port.
GROVE_API TlsStream connect_tls(std::string_view host, std::uint16_t port, const TlsContext& ctx,
                                std::optional<Duration> timeout = std::nullopt);

}  // namespace grove::net
