// tls_stream_impl.hpp: what a grove::net::TlsStream owns, on the heap so that its
// address (which the BIO and parked green threads point to) survives a move.
//
// Lifetime while parked, as for a Socket (socket_state.hpp): a call reads the Impl
// pointer on entry and, after a wait that reports the socket closed (ECANCELED,
// closed_while_parked), returns without touching it: the stream may have been
// destroyed meanwhile. Green threads park only between SSL_* calls, never inside one.
#pragma once

#include <openssl/ssl.h>

#include <optional>
#include <string>
#include <system_error>

#include <grove/net/socket.hpp>
#include <grove/net/tls_context.hpp>
#include <grove/net/tls_stream.hpp>

namespace grove::net {

// What grove's BIO (tls_bio.cpp) reads and writes through.
struct TlsBioState {
  int fd = -1;
  bool drained = false;  // the last read(2) came back short: the kernel's buffer is empty
  int error = 0;         // errno of the last failed read or write (not EAGAIN)
};

struct TlsStream::Impl {
  Socket sock;
  TlsContext ctx;                      // keeps the SSL_CTX and its callbacks' state alive
  std::optional<TlsContext> selected;  // the context select_context chose (SNI)
  SSL* ssl = nullptr;
  TlsBioState bio;
  bool server = false;
  bool allow_truncation = false;
  std::string name;                    // client: the name verified and sent as SNI
  std::string session_key;             // client: "name|address" in the session cache
  std::error_code fatal;               // a fatal TLS error: every later call reports it
  std::error_code write_error;         // a write left half done: later writes report it

  Impl(Socket s, TlsContext c) : sock(std::move(s)), ctx(std::move(c)) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (ssl) SSL_free(ssl);
  }
};

namespace detail {
// A BIO over `st->fd` (grove's, see tls_stream.hpp for why); never closes the fd.
BIO* new_tls_bio(TlsBioState* st);
}  // namespace detail

}  // namespace grove::net
