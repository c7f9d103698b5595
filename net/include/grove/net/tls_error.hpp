// grove/net/tls_error.hpp: how TLS failures are reported.
//
//   std::error_code ec;
//   grove::net::TlsStream t = grove::net::connect_tls("example.org", 443, ctx, 5s, ec);
//   if (ec.category() == grove::net::tls_verify_category()) ...  // the certificate was refused
//   if (ec == grove::net::TlsErrc::kTruncated) ...               // closed without close_notify
//
// Three kinds of error come out of grove's TLS calls:
//   - tls_category(): an error from OpenSSL's queue. value() is OpenSSL's packed
//     error code (ERR_get_error(): library and reason) and message() OpenSSL's own
//     reason text ("wrong version number", "unexpected eof while reading", ...).
//   - tls_verify_category(): the peer's certificate was refused. value() is the
//     X509_V_ERR_* code (X509_V_ERR_HOSTNAME_MISMATCH = 62, X509_V_ERR_CERT_HAS_EXPIRED
//     = 10, ...) and message() "certificate verify failed: " and X509's text.
//   - std::system_category() errno values from the socket (ECONNRESET, EPIPE, ...),
//     std::errc::timed_out and ECANCELED exactly as grove::net::Socket reports them.
#pragma once

#include <system_error>
#include <type_traits>

#include <grove/export.hpp>

namespace grove::net {

// OpenSSL's error queue: value() is the packed code, message() OpenSSL's reason text.
GROVE_API const std::error_category& tls_category() noexcept;
// A refused peer certificate: value() is X509_V_ERR_*, message() X509's text.
GROVE_API const std::error_category& tls_verify_category() noexcept;

// Named tls_category() values grove's callers test for.
enum class TlsErrc : int {
  // The peer closed the connection without sending close_notify (SSL_R_UNEXPECTED_EOF_
  // WHILE_READING in OpenSSL 3: ERR_LIB_SSL << 23 | 294). A truncation attack looks
  // like this, so it is an error unless TlsStream::allow_truncation(true) was called.
  kTruncated = (20 << 23) | 294,
};

// std::error_code{e, tls_category()}.
GROVE_API std::error_code make_error_code(TlsErrc e) noexcept;

}  // namespace grove::net

namespace std {
// TlsErrc compares with std::error_code (ec == grove::net::TlsErrc::kTruncated).
template <>
struct is_error_code_enum<grove::net::TlsErrc> : true_type {};
}  // namespace std
