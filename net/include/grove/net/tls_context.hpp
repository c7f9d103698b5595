// grove/net/tls_context.hpp: TLS settings shared by many connections (an SSL_CTX).
//
//   // a client: the system's CA bundle, the host name checked, TLS 1.2 at least
//   auto client = grove::net::TlsContext::client();
//   // a server
//   grove::net::TlsServerOptions o;
//   o.cert_file = "server.pem";   // the certificate, then the chain
//   o.key_file = "server.key";
//   o.alpn = {"http/1.1"};
//   auto server = grove::net::TlsContext::server(o);
//
// Secure by default, as Python's ssl.create_default_context() and Go's crypto/tls:
// a client verifies the server's certificate against the CA bundle (the system's,
// /etc/ssl/certs, unless ca_file / ca_path is given) and checks that it names the
// host it connects to; TLS 1.2 is the oldest version spoken; renegotiation is
// refused; a server issues session tickets and a client resumes sessions it was
// given (per host and port, in the context). Turning verification off takes
// `insecure_skip_verify = true` (Go's name), for tests and nothing else.
//
// Errors in the options come out of server() / client() as std::system_error in
// tls_category() whose what() names the file or setting and gives OpenSSL's reason
// ("grove::net::TlsContext: certificate file 'x.pem': No such file or directory",
// "... key file 'k.pem' does not match certificate file 'c.pem': key values mismatch").
//
// Threads. A TlsContext is a cheap, copyable handle to one SSL_CTX (reference
// counted). Once made it is read-only and may be shared by any number of
// connections on any number of hubs and OS threads at once (OpenSSL 3's SSL_CTX is
// thread-safe for that use, and the client session cache has a mutex of its own).
// Everything is configured before first use: server() / client() take all options
// (and decode the certificates they load, which OpenSSL 3.0 would otherwise do at
// their first use, racing between threads), and native_handle() is for adjusting
// the SSL_CTX before any connection uses it. CA certificates OpenSSL loads later
// from a hashed directory (ca_path) are decoded at their first use, as OpenSSL does.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grove/export.hpp>
#include <grove/net/tls_error.hpp>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace grove::net {

// The oldest protocol version a context speaks.
enum class TlsVersion : std::uint8_t { kTls12, kTls13 };

// Whether a server asks clients for a certificate.
enum class TlsClientAuth : std::uint8_t {
  kNone,      // no certificate asked for (the default)
  kOptional,  // asked for; a client without one is let in, one with a bad one is not
  kRequired,  // a client without a valid certificate fails the handshake
};

class TlsContext;

// Settings both sides share.
struct TlsCommonOptions {
  // Oldest version spoken (TLS 1.2 by default; kTls13 for TLS 1.3 only).
  TlsVersion min_version = TlsVersion::kTls12;
  // TLS 1.2 cipher list in OpenSSL's syntax (SSL_CTX_set_cipher_list); empty: OpenSSL's default.
  std::string ciphers;
  // TLS 1.3 cipher suites (SSL_CTX_set_ciphersuites, "TLS_AES_128_GCM_SHA256:..."); empty: default.
  std::string ciphersuites;
  // Key exchange groups in preference order ("X25519:P-256"); empty: OpenSSL's default.
  std::string groups;
  // ALPN protocols ("h2", "http/1.1"). A client offers them in this order; a server
  // picks the first of its list the client offered, and goes on without ALPN when
  // none matches (as nginx and Go do).
  std::vector<std::string> alpn;
  // SSL_MODE_RELEASE_BUFFERS (as nginx): OpenSSL frees a connection's ~34 KiB of
  // record buffers while they are empty, so an idle connection holds only its
  // session state; costs a malloc/free of them per burst of records. Off: they stay.
  bool release_idle_buffers = true;
};

// A client context: how the server is verified and what the client presents.
struct TlsClientOptions : TlsCommonOptions {
  // CA certificates (PEM bundle) that may sign the server's chain. Empty, and
  // ca_path empty too: the system's (SSL_CTX_set_default_verify_paths).
  std::string ca_file;
  // A directory of hashed CA certificates (c_rehash), used with or instead of ca_file.
  std::string ca_path;
  // A client certificate (chain PEM: the certificate, then its intermediates, sent as
  // they are), for servers that ask; with key_file or not at all.
  std::string cert_file;
  // The client certificate's private key (PEM).
  std::string key_file;
  // Accept any certificate and any name. Only for tests against throwaway servers: the
  // connection is then open to anyone in the middle.
  bool insecure_skip_verify = false;
  // Resume sessions (tickets) the server gave, per host and port, kept in the context
  // (at most 1,024 hosts).
  bool session_resumption = true;
};

// A server context: its certificate and what it asks of clients.
struct TlsServerOptions : TlsCommonOptions {
  // The certificate, followed by its intermediate CAs (PEM). Required. Sent as it is:
  // grove does not complete a chain from CA stores at each handshake (nginx neither).
  std::string cert_file;
  // The certificate's private key (PEM). Required.
  std::string key_file;
  // Issue session tickets (RFC 5077 / TLS 1.3), so clients may resume without a full
  // handshake. The ticket keys are made per context at start and kept in memory.
  bool session_tickets = true;
  // Whether clients must present a certificate, verified against client_ca_file.
  TlsClientAuth client_auth = TlsClientAuth::kNone;
  // CA certificates (PEM) that may sign client certificates; required unless kNone.
  std::string client_ca_file;
  // SNI: called during a handshake with the name the client asked for ("" if none);
  // returns the server context whose certificate (and settings) that connection
  // uses, or nullopt for this one. Runs inside the handshake: it must not park. It
  // may throw (the handshake then fails with an alert). A context shared by hubs on
  // several OS threads calls it on each of them, at the same time too.
  std::function<std::optional<TlsContext>(std::string_view server_name)> select_context;
};

// A shared, read-only set of TLS settings (an SSL_CTX). Copyable; copies share it.
class GROVE_API TlsContext {
 public:
  // A context for servers. std::system_error (tls_category()) naming the file or
  // setting on a bad option; std::invalid_argument if cert_file or key_file is empty.
  static TlsContext server(const TlsServerOptions& options);
  // A context for clients; `{}` gives the secure defaults. Errors as server().
  static TlsContext client(const TlsClientOptions& options = {});

  // True for a context made by server().
  bool is_server() const noexcept;
  // For a client: whether it verifies the server (false only with insecure_skip_verify).
  bool verifies_peer() const noexcept;
  // The SSL_CTX, for settings grove does not cover. Change it only before the first
  // connection uses the context.
  ssl_ctx_st* native_handle() const noexcept;

  struct Impl;
  // grove's own use (net/src/tls_*).
  const std::shared_ptr<Impl>& impl() const noexcept { return impl_; }

 private:
  explicit TlsContext(std::shared_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace grove::net
