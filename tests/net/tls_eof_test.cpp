// tls_eof_test.cpp: how a TlsStream's reads end when everything, the peer's end
// included, is already queued in the kernel before the first read (a socketpair, no
// network timing): the cases tests/fuzz/tls_stream_fuzz.cpp found.
#include <sys/socket.h>

#include <string>
#include <system_error>

#include <grove/green_thread.hpp>
#include <grove/net/tls_error.hpp>
#include <grove/net/tls_stream.hpp>

#include "net_test.hpp"
#include "tls_certs.hpp"

using namespace net_test;
using grove::net::TlsContext;
using grove::net::TlsErrc;
using grove::net::TlsStream;

namespace {

tls_test::TestPki& eof_pki() {
  static tls_test::TestPki p("eof");
  return p;
}

TlsContext eof_server_ctx() {
  static const tls_test::CertFiles c = eof_pki().issue("localhost");
  grove::net::TlsServerOptions o;
  o.cert_file = c.cert;
  o.key_file = c.key;
  return TlsContext::server(o);
}

TlsContext eof_client_ctx() {
  grove::net::TlsClientOptions o;
  o.ca_file = eof_pki().ca_file();
  return TlsContext::client(o);
}

// A handshaken pair over a socketpair.
std::pair<TlsStream, TlsStream> tls_pair() {
  auto [a, b] = Socket::pair();
  TlsStream server = TlsStream::server(std::move(a), eof_server_ctx());
  TlsStream client = TlsStream::client(std::move(b), eof_client_ctx(), "localhost");
  auto peer = grove::spawn([&client] { client.handshake(5s); });
  server.handshake(5s);
  peer.get();
  return {std::move(server), std::move(client)};
}

}  // namespace

GROVE_TEST("a TLS read after the peer's data and FIN, both already queued, ends with kTruncated at once") {
  auto [server, client] = tls_pair();
  client.sendall("hello");
  client.socket().shutdown(grove::net::ShutdownHow::kWrite);  // no close_notify
  server.settimeout(5s);
  char buf[64];
  CHECK(server.recv_exactly(buf, 5) == 5);  // a short read(2): the kernel's buffer drained
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  CHECK(server.recv_into(buf, sizeof buf, ec) == 0);
  CHECK(ec == TlsErrc::kTruncated);  // not a timeout: the FIN was there all along
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

GROVE_TEST("a TLS read after the peer's data and close_notify, both already queued, is end of file") {
  auto [server, client] = tls_pair();
  client.sendall("hello");
  client.shutdown();
  client.socket().shutdown(grove::net::ShutdownHow::kWrite);
  server.settimeout(5s);
  char buf[64];
  CHECK(server.recv_exactly(buf, 5) == 5);
  std::error_code ec;
  CHECK(server.recv_into(buf, sizeof buf, ec) == 0);
  CHECK_FALSE(ec);
}
