// tls_context.cpp: building an SSL_CTX from TlsServerOptions / TlsClientOptions
// (grove/net/tls_context.hpp), with errors that name the file or setting.
#include <grove/net/tls_context.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <grove/errors.hpp>
#include <grove/log.hpp>

#include "tls_context_impl.hpp"
#include "tls_errors.hpp"
#include "tls_stream_impl.hpp"

namespace grove::net {

namespace {

constexpr const char* kWhat = "grove::net::TlsContext: ";

// std::system_error for a failed OpenSSL call about `subject` ("certificate file
// 'x.pem'"), with OpenSSL's reasons in the message.
[[noreturn]] void fail(const std::string& subject) {
  const unsigned long e = ERR_peek_last_error();
  const std::string why = detail::take_openssl_error_text();
  throw std::system_error(detail::openssl_error_code(e), kWhat + subject + (why.empty() ? "" : ": " + why));
}

// A clear errno error when a file cannot be opened at all (missing, unreadable):
// OpenSSL would say "system library" and bury the reason.
void check_readable(const std::string& path, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    const int e = errno;
    throw std::system_error(e, std::system_category(), kWhat + std::string(what) + " '" + path + "'");
  }
  std::fclose(f);
}

std::string alpn_wire(const std::vector<std::string>& protos) {
  std::string w;
  for (const std::string& p : protos) {
    if (p.empty() || p.size() > 255) {
      throw std::invalid_argument(kWhat + std::string("ALPN protocol names must be 1 to 255 bytes long"));
    }
    w.push_back(static_cast<char>(p.size()));
    w += p;
  }
  return w;
}

void apply_common(SSL_CTX* ctx, const TlsCommonOptions& o) {
  const int min = o.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (!SSL_CTX_set_min_proto_version(ctx, min)) fail("min_version");
  if (!o.ciphers.empty() && !SSL_CTX_set_cipher_list(ctx, o.ciphers.c_str())) fail("ciphers '" + o.ciphers + "'");
  if (!o.ciphersuites.empty() && !SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str())) {
    fail("ciphersuites '" + o.ciphersuites + "'");
  }
  if (!o.groups.empty() && !SSL_CTX_set1_groups_list(ctx, o.groups.c_str())) fail("groups '" + o.groups + "'");
  // Partial writes give send() Socket's meaning; a moving buffer lets sendall retry
  // from its own pointer; read-ahead takes a record in one read(2) (tls_stream.hpp).
  long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
  if (o.release_idle_buffers) mode |= SSL_MODE_RELEASE_BUFFERS;
  SSL_CTX_set_mode(ctx, mode);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
}

void use_cert_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  check_readable(cert, "certificate file");
  check_readable(key, "key file");
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) fail("certificate file '" + cert + "'");
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    const unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
      fail("key file '" + key + "' does not match certificate file '" + cert + "'");
    }
    fail("key file '" + key + "'");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    fail("key file '" + key + "' does not match certificate file '" + cert + "'");
  }
  // The chain sent is the file's: the certificate and the intermediates after it. By
  // default OpenSSL, when the file holds no intermediates (a self-signed or directly
  // CA-signed certificate), builds a chain from the context's CA store on every
  // handshake (X509_verify_cert, and for a context with the system's CA directory a
  // hashed-file lookup); nginx turns that off too.
  SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
}

// ALPN on a server: the first of its own protocols the client offered.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void* arg) {
  const auto* im = static_cast<const TlsContext::Impl*>(arg);
  const std::string& mine = im->alpn_wire;
  for (std::size_t i = 0; i < mine.size(); i += 1 + static_cast<unsigned char>(mine[i])) {
    const std::string_view want(mine.data() + i + 1, static_cast<unsigned char>(mine[i]));
    for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
      if (j + 1u + in[j] > inlen) break;  // malformed: stop looking
      if (std::string_view(reinterpret_cast<const char*>(in + j + 1), in[j]) == want) {
        *out = in + j + 1;
        *outlen = in[j];
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN
}

// SNI on a server: switches the connection to the context select_context chose.
int select_by_name(SSL* ssl, int* alert, void* arg) {
  const auto* im = static_cast<const TlsContext::Impl*>(arg);
  if (!im->select_context) return SSL_TLSEXT_ERR_OK;
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  try {
    std::optional<TlsContext> chosen = im->select_context(name ? name : "");
    if (!chosen) return SSL_TLSEXT_ERR_OK;
    if (!chosen->is_server()) {
      grove::logger().error("grove::net::TlsContext: select_context returned a client context; refusing");
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (!SSL_set_SSL_CTX(ssl, chosen->native_handle())) return SSL_TLSEXT_ERR_ALERT_FATAL;
    // The stream keeps the chosen context (and its callbacks' state) alive.
    if (auto* st = static_cast<TlsStream::Impl*>(SSL_get_app_data(ssl))) st->selected = std::move(chosen);
    return SSL_TLSEXT_ERR_OK;
  } catch (const std::exception& e) {
    grove::logger().warn("grove::net::TlsContext: select_context for '{}' failed: {}", name ? name : "", e.what());
  } catch (...) {
    grove::logger().warn("grove::net::TlsContext: select_context for '{}' failed", name ? name : "");
  }
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// A client's new session (a TLS 1.3 ticket arrives after the handshake, during a
// read): kept per host for the next connection.
int keep_session(SSL* ssl, SSL_SESSION* sess) {
  auto* im = static_cast<TlsContext::Impl*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* st = static_cast<TlsStream::Impl*>(SSL_get_app_data(ssl));
  if (!im || !st || st->session_key.empty()) return 0;
  try {
    im->store_session(st->session_key, sess);
  } catch (...) {  // no memory for the entry: not kept (OpenSSL frees it); nothing may unwind through OpenSSL
    return 0;
  }
  return 1;  // we took the reference
}

// Decodes the extensions of every certificate the context holds now (its CA store,
// its own certificate and chain). OpenSSL 3.0 does that lazily at a certificate's
// first use in a verification, checking whether it is done without a lock, so two
// OS threads verifying against a fresh context would race there (ThreadSanitizer
// reports it). Done here, the context is read-only once made. CA certificates that
// OpenSSL loads later from a hashed directory (ca_path, the system's) are still
// decoded at their first use.
void decode_certificates(SSL_CTX* ctx) {
  STACK_OF(X509_OBJECT)* objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
  for (int i = 0; i < sk_X509_OBJECT_num(objs); ++i) {
    if (X509* x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i))) X509_check_purpose(x, -1, 0);
  }
  if (X509* own = SSL_CTX_get0_certificate(ctx)) X509_check_purpose(own, -1, 0);
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx, &chain) && chain) {
    for (int i = 0; i < sk_X509_num(chain); ++i) X509_check_purpose(sk_X509_value(chain, i), -1, 0);
  }
  ERR_clear_error();
}

SSL_CTX* new_ctx(const SSL_METHOD* m) {
  SSL_CTX* ctx = SSL_CTX_new(m);
  if (!ctx) fail("SSL_CTX_new");
  return ctx;
}

}  // namespace

TlsContext::Impl::~Impl() {
  for (auto& [k, s] : sessions) SSL_SESSION_free(s);
  SSL_CTX_free(ctx);
}

void TlsContext::Impl::store_session(const std::string& key, SSL_SESSION* s) {
  std::lock_guard<std::mutex> lock(sessions_mu);
  auto it = sessions.find(key);
  if (it != sessions.end()) {
    SSL_SESSION_free(it->second);
    it->second = s;
    return;
  }
  if (sessions.size() >= kMaxSessions) {  // forget one (any) host
    SSL_SESSION_free(sessions.begin()->second);
    sessions.erase(sessions.begin());
  }
  sessions.emplace(key, s);
}

SSL_SESSION* TlsContext::Impl::find_session(const std::string& key) {
  std::lock_guard<std::mutex> lock(sessions_mu);
  auto it = sessions.find(key);
  if (it == sessions.end()) return nullptr;
  if (!SSL_SESSION_is_resumable(it->second)) {
    SSL_SESSION_free(it->second);
    sessions.erase(it);
    return nullptr;
  }
  SSL_SESSION_up_ref(it->second);
  return it->second;
}

TlsContext TlsContext::server(const TlsServerOptions& o) {
  if (o.cert_file.empty() || o.key_file.empty()) {
    throw std::invalid_argument(kWhat + std::string("a server needs cert_file and key_file"));
  }
  if (o.client_auth != TlsClientAuth::kNone && o.client_ca_file.empty()) {
    throw std::invalid_argument(kWhat + std::string("client_auth needs client_ca_file"));
  }
  ERR_clear_error();
  auto im = std::make_shared<Impl>();
  im->ctx = new_ctx(TLS_server_method());
  im->server = true;
  im->verify = o.client_auth != TlsClientAuth::kNone;
  SSL_CTX_set_app_data(im->ctx, im.get());
  apply_common(im->ctx, o);
  use_cert_and_key(im->ctx, o.cert_file, o.key_file);
  // Resumption rides on tickets (stateless): no per-session memory in the server.
  // The id context is what OpenSSL requires once client certificates are verified.
  SSL_CTX_set_session_cache_mode(im->ctx, SSL_SESS_CACHE_OFF);
  static const unsigned char kIdContext[] = "grove";
  SSL_CTX_set_session_id_context(im->ctx, kIdContext, sizeof kIdContext - 1);
  if (!o.session_tickets) {
    SSL_CTX_set_options(im->ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(im->ctx, 0);
  }
  if (o.client_auth != TlsClientAuth::kNone) {
    check_readable(o.client_ca_file, "client CA file");
    if (SSL_CTX_load_verify_locations(im->ctx, o.client_ca_file.c_str(), nullptr) != 1) {
      fail("client CA file '" + o.client_ca_file + "'");
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
    if (!names) fail("client CA file '" + o.client_ca_file + "'");
    SSL_CTX_set_client_CA_list(im->ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (o.client_auth == TlsClientAuth::kRequired) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(im->ctx, mode, nullptr);
  }
  im->alpn_wire = alpn_wire(o.alpn);
  if (!im->alpn_wire.empty()) SSL_CTX_set_alpn_select_cb(im->ctx, select_alpn, im.get());
  if (o.select_context) {
    im->select_context = o.select_context;
    SSL_CTX_set_tlsext_servername_callback(im->ctx, select_by_name);
    SSL_CTX_set_tlsext_servername_arg(im->ctx, im.get());
  }
  decode_certificates(im->ctx);
  return TlsContext(std::move(im));
}

TlsContext TlsContext::client(const TlsClientOptions& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    throw std::invalid_argument(kWhat + std::string("a client certificate needs both cert_file and key_file"));
  }
  ERR_clear_error();
  auto im = std::make_shared<Impl>();
  im->ctx = new_ctx(TLS_client_method());
  im->server = false;
  im->verify = !o.insecure_skip_verify;
  SSL_CTX_set_app_data(im->ctx, im.get());
  apply_common(im->ctx, o);
  if (!o.cert_file.empty()) use_cert_and_key(im->ctx, o.cert_file, o.key_file);
  if (!o.ca_file.empty()) check_readable(o.ca_file, "CA file");
  if (!o.ca_file.empty() || !o.ca_path.empty()) {
    if (SSL_CTX_load_verify_locations(im->ctx, o.ca_file.empty() ? nullptr : o.ca_file.c_str(),
                                      o.ca_path.empty() ? nullptr : o.ca_path.c_str()) != 1) {
      fail(o.ca_file.empty() ? "CA path '" + o.ca_path + "'" : "CA file '" + o.ca_file + "'");
    }
  } else if (SSL_CTX_set_default_verify_paths(im->ctx) != 1) {
    fail("the system's CA certificates");
  }
  SSL_CTX_set_verify(im->ctx, im->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  im->alpn_wire = alpn_wire(o.alpn);
  if (!im->alpn_wire.empty() &&
      SSL_CTX_set_alpn_protos(im->ctx, reinterpret_cast<const unsigned char*>(im->alpn_wire.data()),
                              static_cast<unsigned>(im->alpn_wire.size())) != 0) {
    fail("alpn");
  }
  im->resume = o.session_resumption;
  if (im->resume) {
    SSL_CTX_set_session_cache_mode(im->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(im->ctx, keep_session);
  } else {
    SSL_CTX_set_session_cache_mode(im->ctx, SSL_SESS_CACHE_OFF);
  }
  decode_certificates(im->ctx);
  return TlsContext(std::move(im));
}

bool TlsContext::is_server() const noexcept { return impl_ && impl_->server; }
bool TlsContext::verifies_peer() const noexcept { return impl_ && impl_->verify; }
ssl_ctx_st* TlsContext::native_handle() const noexcept { return impl_ ? impl_->ctx : nullptr; }

}  // namespace grove::net
