// tls_stream.cpp: TlsStream, OpenSSL driven by a green thread that parks on the
// socket's own watchers whenever OpenSSL wants the socket readable or writable. The
// design notes are in grove/net/tls_stream.hpp; the lifetime rules in tls_stream_impl.hpp.
#include <grove/net/tls_stream.hpp>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <grove/errors.hpp>

#include "shared_stack_call.hpp"
#include "socket_access.hpp"
#include "socket_state.hpp"
#include "stream_calls.hpp"
#include "tls_context_impl.hpp"
#include "tls_errors.hpp"
#include "tls_stream_impl.hpp"

namespace grove::net {

using detail::SocketState;
using Impl = TlsStream::Impl;

namespace {

std::error_code ebadf() { return std::error_code(EBADF, std::system_category()); }

// One call's time budget (as in socket_io.cpp): < 0 none, 0 non-blocking.
struct Deadline {
  using Clock = std::chrono::steady_clock;
  double timeout;
  Clock::time_point end;
  explicit Deadline(double t)
      : timeout(t), end(t > 0 ? grove::detail::deadline_after(Clock::now(), t) : Clock::time_point()) {}
  double left() const {
    if (timeout <= 0) return timeout;
    return std::max(1e-6, std::chrono::duration<double>(end - Clock::now()).count());
  }
  bool expired() const { return timeout > 0 && Clock::now() >= end; }
};

// The socket state of an open stream for the call `op`: nullptr (ec set) when closed
// or after a fatal error; UsageError on another OS thread.
SocketState* enter(Impl* im, const char* op, std::error_code& ec) {
  ec.clear();
  SocketState* s = im && im->ssl ? detail::SocketAccess::state(im->sock) : nullptr;
  if (!s || s->fd < 0) [[unlikely]] {
    ec = ebadf();
    return nullptr;
  }
  detail::check_thread(s, op);
  if (im->fatal) [[unlikely]] {
    ec = im->fatal;
    return nullptr;
  }
  return s;
}

// Parks until the socket is readable (`write` false) or writable. When the other
// direction's green thread already waits on that watcher (a read that must write
// during a key update, a write that must read), naps on its own side instead, at
// most 2 ms at a time, so that both keep going and a close still wakes it.
std::error_code park(SocketState* s, bool write, const Deadline& dl, const char* op, const char* desc) {
  detail::IoChannel& ch = write ? s->wr : s->rd;
  if (ch.waiter) [[unlikely]] {
    if (dl.timeout == 0) return std::make_error_code(std::errc::resource_unavailable_try_again);
    if (dl.expired()) return std::make_error_code(std::errc::timed_out);
    const double left = dl.left();
    detail::IoChannel& mine = write ? s->rd : s->wr;
    return mine.sleep(*s->hub, left > 0 ? std::min(0.002, left) : 0.002, op, desc);
  }
  return ch.wait(*s->hub, dl.left(), op, desc);
}

// Whether a read may park before trying: the last read(2) drained the kernel's
// buffer and OpenSSL holds nothing (Socket's "skipped read", socket_io.cpp; not with
// a grove::Timeout or an interruption pending, which must not win over queued data).
bool may_park_first(const Impl* im, const SocketState* s, const Deadline& dl) noexcept {
  if (!im->bio.drained || dl.timeout == 0 || SSL_has_pending(im->ssl)) return false;
  const grove::detail::GreenThreadState* me = s->hub->running();
  return !me->timeouts && !me->pending;
}

// The error of a failed SSL_* call whose SSL_get_error was SSL_ERROR_SSL: a refused
// certificate in tls_verify_category(), anything else from the queue.
std::error_code ssl_error(const Impl* im) noexcept {
  const unsigned long e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    const long v = SSL_get_verify_result(im->ssl);
    if (v != X509_V_OK) {
      ERR_clear_error();
      return std::error_code(static_cast<int>(v), tls_verify_category());
    }
  }
  return detail::take_openssl_error();
}

enum class Dir : std::uint8_t { kHandshake, kRead, kWrite };

// Runs `call` (an SSL_* call: > 0 on success) until it succeeds, parking whenever
// OpenSSL wants the socket. Returns its result; 0 after the peer's close_notify (or
// an allowed truncation); -1 with ec set on an error. After ECANCELED (closed while
// parked) `im` may be gone: the caller returns at once.
template <class Call>
int drive(Impl* im, SocketState* s, const Deadline& dl, Dir dir, const char* op, const char* desc, std::error_code& ec,
          Call&& call) {
  for (;;) {
    if (dir == Dir::kRead && may_park_first(im, s, dl)) {
      im->bio.drained = false;
      if ((ec = park(s, false, dl, op, desc))) return -1;
    }
    ERR_clear_error();  // the queue is the OS thread's: drop other green threads' leftovers
    im->bio.error = 0;
    // OpenSSL's frames go on the hub's shared stack, not this green thread's
    // (shared_stack.hpp): `call` returns before anything parks.
    int r = 0;
    auto run = [&r, &call] { r = call(); };
    grove::detail::on_shared_stack(run);
    if (r > 0) return r;
    switch (SSL_get_error(im->ssl, r)) {
      case SSL_ERROR_WANT_READ:
        if ((ec = park(s, false, dl, op, desc))) return -1;
        continue;
      case SSL_ERROR_WANT_WRITE:
        // OpenSSL now holds a record half sent: until it is out, a failure leaves
        // the write side unusable (tls_stream.hpp, "Writes after a timeout").
        if (dir == Dir::kWrite) im->write_error = std::make_error_code(std::errc::operation_canceled);
        if ((ec = park(s, true, dl, op, desc))) {
          if (dir == Dir::kWrite && !detail::closed_while_parked(ec)) im->write_error = ec;
          return -1;
        }
        if (dir == Dir::kWrite) im->write_error.clear();
        continue;
      case SSL_ERROR_ZERO_RETURN:  // close_notify
        ERR_clear_error();
        if (dir == Dir::kHandshake) {
          ec = std::make_error_code(std::errc::connection_aborted);
          break;
        }
        return 0;
      case SSL_ERROR_SYSCALL: {
        const int e = im->bio.error;
        ERR_clear_error();
        ec = e ? detail::errno_code(e) : make_error_code(TlsErrc::kTruncated);
        break;
      }
      case SSL_ERROR_SSL:
        ec = ssl_error(im);
        break;
      default:
        ec = detail::take_openssl_error();
        break;
    }
    im->fatal = ec;
    if (dir == Dir::kRead && im->allow_truncation && ec == TlsErrc::kTruncated) {
      ec.clear();
      return 0;
    }
    return -1;
  }
}

// "grove::net::TlsStream::recv (peer 127.0.0.1:7000)"; without touching the stream
// after a close while parked.
std::string describe(const Impl* im, const char* op, const std::error_code& ec) {
  std::string out = std::string("grove::net::TlsStream::") + op;
  if (detail::closed_while_parked(ec)) return out + " (closed while waiting)";
  const SocketState* s = im ? detail::SocketAccess::state(im->sock) : nullptr;
  if (s && !s->peer.empty()) out.append(" (peer ").append(s->peer.to_string()).append(")");
  if (im && !im->name.empty() && ec.category() == tls_verify_category() &&
      (ec.value() == X509_V_ERR_HOSTNAME_MISMATCH || ec.value() == X509_V_ERR_IP_ADDRESS_MISMATCH)) {
    out.append(" (the certificate is not valid for '").append(im->name).append("')");
  }
  return out;
}

[[noreturn]] void throw_op(const Impl* im, const char* op, std::error_code ec) {
  throw std::system_error(ec, describe(im, op, ec));
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::unique_ptr<Impl> make_impl(Socket sock, const TlsContext& ctx, const char* who) {
  if (!ctx.impl()) throw UsageError(std::string(who) + ": an empty (moved-from) TlsContext");
  auto im = std::make_unique<Impl>(std::move(sock), ctx);
  ERR_clear_error();
  im->ssl = SSL_new(ctx.native_handle());
  if (!im->ssl) throw std::system_error(detail::take_openssl_error(), std::string(who) + ": SSL_new");
  SSL_set_app_data(im->ssl, im.get());
  im->bio.fd = im->sock.fd();
  BIO* b = detail::new_tls_bio(&im->bio);
  SSL_set_bio(im->ssl, b, b);  // the SSL owns the BIO now
  return im;
}

}  // namespace

TlsStream::TlsStream() noexcept = default;
TlsStream::TlsStream(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
TlsStream::~TlsStream() = default;
TlsStream::TlsStream(TlsStream&& other) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&& other) noexcept = default;

TlsStream TlsStream::client(Socket socket, const TlsContext& ctx, std::string_view server_name) {
  constexpr const char* who = "grove::net::TlsStream::client";
  if (ctx.is_server()) throw UsageError(std::string(who) + ": a server context (TlsContext::server) was given");
  if (server_name.empty() && ctx.verifies_peer()) {
    throw UsageError(std::string(who) +
                     ": no server name to verify the certificate against (give one, or set "
                     "TlsClientOptions::insecure_skip_verify)");
  }
  if (server_name.find('\0') != std::string_view::npos) {
    throw std::invalid_argument(std::string(who) + ": a server name with a NUL byte");
  }
  std::unique_ptr<Impl> im = make_impl(std::move(socket), ctx, who);
  im->name = std::string(server_name);
  SSL_set_connect_state(im->ssl);
  if (!im->name.empty()) {
    const bool ip = is_ip_literal(im->name);
    if (!ip && !SSL_set_tlsext_host_name(im->ssl, im->name.c_str())) {
      throw std::system_error(detail::take_openssl_error(), std::string(who) + ": server name '" + im->name + "'");
    }
    if (ctx.verifies_peer()) {
      X509_VERIFY_PARAM* p = SSL_get0_param(im->ssl);
      X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(p, im->name.c_str())
                        : X509_VERIFY_PARAM_set1_host(p, im->name.c_str(), 0);
      if (!ok) throw std::system_error(detail::take_openssl_error(), std::string(who) + ": name '" + im->name + "'");
    }
  }
  if (ctx.impl()->resume) {
    std::error_code ec;
    const Address peer = im->sock.peer_address(ec);
    im->session_key = im->name + "|" + (ec ? std::string() : peer.to_string());
    if (SSL_SESSION* sess = ctx.impl()->find_session(im->session_key)) {
      SSL_set_session(im->ssl, sess);
      SSL_SESSION_free(sess);
    }
  }
  return TlsStream(std::move(im));
}

TlsStream TlsStream::server(Socket socket, const TlsContext& ctx) {
  constexpr const char* who = "grove::net::TlsStream::server";
  if (ctx.impl() && !ctx.is_server()) {
    throw UsageError(std::string(who) + ": a client context (TlsContext::client) was given");
  }
  std::unique_ptr<Impl> im = make_impl(std::move(socket), ctx, who);
  im->server = true;
  SSL_set_accept_state(im->ssl);
  return TlsStream(std::move(im));
}

bool TlsStream::is_open() const noexcept { return impl_ && impl_->sock.is_open(); }

Socket& TlsStream::socket() noexcept {
  static thread_local Socket closed;  // for a default-constructed stream
  return impl_ ? impl_->sock : closed;
}

void TlsStream::settimeout(std::optional<Duration> timeout) noexcept {
  if (impl_) impl_->sock.settimeout(timeout);
}

std::optional<Duration> TlsStream::gettimeout() const noexcept {
  return impl_ ? impl_->sock.gettimeout() : std::nullopt;
}

void TlsStream::close() noexcept {
  if (impl_) impl_->sock.close();
}

void TlsStream::allow_truncation(bool on) noexcept {
  if (impl_) impl_->allow_truncation = on;
}

// ---------------------------------------------------------------- handshake

void TlsStream::handshake(std::optional<Duration> timeout, std::error_code& ec) {
  Impl* im = impl_.get();
  SocketState* s = enter(im, "grove::net::TlsStream::handshake", ec);
  if (!s || SSL_is_init_finished(im->ssl)) return;
  const Deadline dl(timeout ? detail::timeout_seconds(*timeout) : s->timeout);
  drive(im, s, dl, Dir::kHandshake, "grove::net::TlsStream::handshake", "tls handshake", ec,
        [im] { return SSL_do_handshake(im->ssl); });
}

void TlsStream::handshake(std::optional<Duration> timeout) {
  const Impl* im = impl_.get();  // `this` may be gone when handshake(ec) returns
  std::error_code ec;
  handshake(timeout, ec);
  if (ec) throw_op(im, "handshake", ec);
}

// ---------------------------------------------------------------- reading

namespace {

std::size_t read_some(Impl* im, SocketState* s, void* buf, std::size_t len, const Deadline& dl, const char* op,
                      std::error_code& ec) {
  std::size_t n = 0;
  const int r = drive(im, s, dl, Dir::kRead, op, "tls recv", ec,
                      [im, buf, len, &n] { return SSL_read_ex(im->ssl, buf, len, &n); });
  return r > 0 ? n : 0;
}

// After an allowed truncation the stream stays at end of file.
bool at_allowed_eof(const Impl* im) noexcept {
  return im && im->allow_truncation && im->fatal == TlsErrc::kTruncated;
}

}  // namespace

std::size_t TlsStream::recv_into(void* buf, std::size_t len, std::error_code& ec) {
  Impl* im = impl_.get();
  if (at_allowed_eof(im)) return ec.clear(), 0;
  SocketState* s = enter(im, "grove::net::TlsStream::recv", ec);
  if (!s || len == 0) return 0;
  return read_some(im, s, buf, len, Deadline(s->timeout), "grove::net::TlsStream::recv", ec);
}

std::size_t TlsStream::recv_into(void* buf, std::size_t len) {
  const Impl* im = impl_.get();
  std::error_code ec;
  const std::size_t n = recv_into(buf, len, ec);
  if (ec) throw_op(im, "recv", ec);
  return n;
}

std::string TlsStream::recv(std::size_t max, std::error_code& ec) { return detail::recv_string(*this, max, ec); }

std::string TlsStream::recv(std::size_t max) { return detail::recv_string(*this, max); }

std::size_t TlsStream::recv_exactly(void* buf, std::size_t len, std::error_code& ec) {
  Impl* im = impl_.get();
  if (at_allowed_eof(im)) return ec.clear(), 0;
  SocketState* s = enter(im, "grove::net::TlsStream::recv_exactly", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);  // one budget for the whole call
  return detail::read_exactly(buf, len, ec, [&](char* p, std::size_t n) {
    return read_some(im, s, p, n, dl, "grove::net::TlsStream::recv_exactly", ec);
  });
}

std::size_t TlsStream::recv_exactly(void* buf, std::size_t len) {
  const Impl* im = impl_.get();
  std::error_code ec;
  const std::size_t n = recv_exactly(buf, len, ec);
  if (ec) throw_op(im, "recv_exactly", ec);
  return n;
}

// ---------------------------------------------------------------- writing

namespace {

SocketState* enter_write(Impl* im, const char* op, std::error_code& ec) {
  SocketState* s = enter(im, op, ec);
  if (s && im->write_error) [[unlikely]] {
    ec = im->write_error;
    return nullptr;
  }
  return s;
}

std::size_t write_some(Impl* im, SocketState* s, const void* data, std::size_t len, const Deadline& dl,
                       const char* op, std::error_code& ec) {
  std::size_t n = 0;
  const int r = drive(im, s, dl, Dir::kWrite, op, "tls send", ec,
                      [im, data, len, &n] { return SSL_write_ex(im->ssl, data, len, &n); });
  if (r == 0 && !ec) ec = std::make_error_code(std::errc::broken_pipe);  // close_notify came first
  return r > 0 ? n : 0;
}

}  // namespace

std::size_t TlsStream::send(const void* data, std::size_t len, std::error_code& ec) {
  Impl* im = impl_.get();
  SocketState* s = enter_write(im, "grove::net::TlsStream::send", ec);
  if (!s || len == 0) return 0;
  return write_some(im, s, data, len, Deadline(s->timeout), "grove::net::TlsStream::send", ec);
}

std::size_t TlsStream::send(const void* data, std::size_t len) {
  const Impl* im = impl_.get();
  std::error_code ec;
  const std::size_t n = send(data, len, ec);
  if (ec) throw_op(im, "send", ec);
  return n;
}

std::size_t TlsStream::sendall(const void* data, std::size_t len, std::error_code& ec) {
  Impl* im = impl_.get();
  SocketState* s = enter_write(im, "grove::net::TlsStream::sendall", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);
  const char* p = static_cast<const char*>(data);
  std::size_t sent = 0;
  while (sent < len) {
    const std::size_t n = write_some(im, s, p + sent, len - sent, dl, "grove::net::TlsStream::sendall", ec);
    if (ec) break;
    sent += n;
  }
  return sent;
}

void TlsStream::sendall(const void* data, std::size_t len) {
  const Impl* im = impl_.get();
  std::error_code ec;
  const std::size_t n = sendall(data, len, ec);
  if (ec) {
    throw SendallError(ec, describe(im, "sendall", ec) + " after " + std::to_string(n) + " of " + std::to_string(len) +
                               " bytes",
                       n);
  }
}

void TlsStream::shutdown(std::error_code& ec) {
  Impl* im = impl_.get();
  SocketState* s = enter_write(im, "grove::net::TlsStream::shutdown", ec);
  if (!s || (SSL_get_shutdown(im->ssl) & SSL_SENT_SHUTDOWN)) return;  // sent already
  if (!SSL_is_init_finished(im->ssl)) return void(ec = std::make_error_code(std::errc::not_connected));
  const Deadline dl(s->timeout);
  // SSL_shutdown returns 0 once close_notify is sent (the peer's not read yet): done.
  drive(im, s, dl, Dir::kWrite, "grove::net::TlsStream::shutdown", "tls shutdown", ec, [im] {
    const int r = SSL_shutdown(im->ssl);
    return r >= 0 ? 1 : r;
  });
}

void TlsStream::shutdown() {
  const Impl* im = impl_.get();
  std::error_code ec;
  shutdown(ec);
  if (ec) throw_op(im, "shutdown", ec);
}

// ---------------------------------------------------------------- after the handshake

std::string TlsStream::alpn_protocol() const {
  if (!impl_ || !impl_->ssl) return {};
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(impl_->ssl, &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

std::string TlsStream::version() const { return impl_ && impl_->ssl ? SSL_get_version(impl_->ssl) : ""; }

std::string TlsStream::cipher() const {
  if (!impl_ || !impl_->ssl) return {};
  const char* c = SSL_get_cipher_name(impl_->ssl);
  return c ? c : "";
}

bool TlsStream::session_reused() const noexcept { return impl_ && impl_->ssl && SSL_session_reused(impl_->ssl); }

std::string TlsStream::server_name() const {
  if (!impl_ || !impl_->ssl) return {};
  if (!impl_->server) return impl_->name;
  const char* n = SSL_get_servername(impl_->ssl, TLSEXT_NAMETYPE_host_name);
  return n ? n : "";
}

std::string TlsStream::peer_subject() const {
  if (!impl_ || !impl_->ssl) return {};
  X509* cert = SSL_get0_peer_certificate(impl_->ssl);
  if (!cert || SSL_get_verify_result(impl_->ssl) != X509_V_OK) return {};
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) return {};
  X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data ? data : "", n > 0 ? static_cast<std::size_t>(n) : 0);
  BIO_free(b);
  return out;
}

ssl_st* TlsStream::native_handle() const noexcept { return impl_ ? impl_->ssl : nullptr; }

}  // namespace grove::net
