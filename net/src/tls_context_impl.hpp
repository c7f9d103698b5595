// tls_context_impl.hpp: what a grove::net::TlsContext shares among its copies.
#pragma once

#include <openssl/ssl.h>

#include <mutex>
#include <string>
#include <unordered_map>

#include <grove/net/tls_context.hpp>

namespace grove::net {

struct TlsContext::Impl {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  bool verify = true;        // client: check the server's certificate and name
  bool resume = false;       // client: keep and offer sessions (session_cache)
  std::string alpn_wire;     // ALPN list in wire format (length-prefixed)
  std::function<std::optional<TlsContext>(std::string_view)> select_context;  // server SNI

  // Client sessions by "name|address", for resumption. Contexts may be shared by
  // hubs on several OS threads, so it has a mutex; it is touched once per connect
  // and once per ticket received, never per record.
  static constexpr std::size_t kMaxSessions = 1024;
  std::mutex sessions_mu;
  std::unordered_map<std::string, SSL_SESSION*> sessions;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl();

  // Keeps `s` (taking the reference) as the session for `key`.
  void store_session(const std::string& key, SSL_SESSION* s);
  // A new reference to the session kept for `key`, or nullptr.
  SSL_SESSION* find_session(const std::string& key);
};

}  // namespace grove::net
