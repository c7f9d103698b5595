// tls_error.cpp: the error categories of grove/net/tls_error.hpp, and how a failed
// SSL_* call's error is taken off OpenSSL's per-thread queue.
#include <grove/net/tls_error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

#include "tls_errors.hpp"

namespace grove::net {

static_assert(static_cast<int>(TlsErrc::kTruncated) ==
                  static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING)),
              "TlsErrc::kTruncated must be OpenSSL's packed SSL_R_UNEXPECTED_EOF_WHILE_READING");

namespace {

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "grove.tls"; }
  std::string message(int code) const override {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(static_cast<unsigned>(code)), buf, sizeof buf);
    return buf;
  }
};

class TlsVerifyCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "grove.tls.verify"; }
  std::string message(int code) const override {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(code);
  }
};

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory c;
  return c;
}

const std::error_category& tls_verify_category() noexcept {
  static const TlsVerifyCategory c;
  return c;
}

std::error_code make_error_code(TlsErrc e) noexcept { return {static_cast<int>(e), tls_category()}; }

namespace detail {

std::error_code openssl_error_code(unsigned long e) noexcept {
  if (e == 0) return std::error_code(EPROTO, std::system_category());  // a failure that queued nothing
  if (ERR_SYSTEM_ERROR(e)) return std::error_code(ERR_GET_REASON(e), std::system_category());
  return std::error_code(static_cast<int>(e & 0x7fffffffUL), tls_category());
}

std::error_code take_openssl_error() noexcept {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  return openssl_error_code(e);
}

std::string take_openssl_error_text() {
  std::string out;
  unsigned long e;
  const char* data = nullptr;
  int flags = 0;
  // Oldest first; the last one is usually the most specific.
  while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    // "error:0A00018F:SSL routines::ee key too small" -> the reason part
    std::string s(buf);
    const std::size_t colon = s.rfind(':');
    out += colon != std::string::npos ? s.substr(colon + 1) : s;
    if (data && (flags & ERR_TXT_STRING) && *data) out.append(" (").append(data).append(")");
  }
  return out;
}

}  // namespace detail
}  // namespace grove::net
