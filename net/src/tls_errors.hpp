// tls_errors.hpp: taking errors off OpenSSL's per-thread queue (tls_error.cpp).
//
// The queue belongs to the OS thread, so every green thread of a hub shares it: a
// caller clears it (ERR_clear_error) right before the SSL_* call whose result it
// inspects and takes the error out before it could park, so that no other green
// thread's leftovers are read as its own.
#pragma once

#include <string>
#include <system_error>

namespace grove::net::detail {

// The error_code for one packed OpenSSL error: a system error (ERR_SYSTEM_ERROR) as
// its errno, anything else in tls_category(); 0 (nothing queued) as EPROTO.
std::error_code openssl_error_code(unsigned long e) noexcept;
// The most recent error on this thread's queue (as openssl_error_code), and clears it.
std::error_code take_openssl_error() noexcept;
// Every queued error's reason text, oldest first, with OpenSSL's extra data
// ("no start line (Expecting: CERTIFICATE)"), and clears the queue. For messages.
std::string take_openssl_error_text();

}  // namespace grove::net::detail
