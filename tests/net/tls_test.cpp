// tls_test.cpp: TlsContext, TlsStream, connect_tls and tls_handler, grove against
// grove over loopback with certificates made at test time (tls_certs.hpp). The
// clients no one here wrote (openssl s_client / s_server, curl, python3's ssl) are
// in tests/samples/drive_tls.py.
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <vector>
#include <string>

#include <grove/event.hpp>
#include <grove/hub_thread.hpp>
#include <grove/net/buffered_stream.hpp>
#include <grove/net/stream_server.hpp>
#include <grove/spawn_on.hpp>
#include <grove/net/tls_server.hpp>
#include <grove/net/tls_stream.hpp>

#include "net_test.hpp"
#include "tls_certs.hpp"

using namespace net_test;
using grove::net::BufferedStream;
using grove::net::StreamServer;
using grove::net::TlsClientOptions;
using grove::net::TlsContext;
using grove::net::TlsErrc;
using grove::net::TlsServerOptions;
using grove::net::TlsStream;

namespace {

// One CA and a localhost certificate for the whole run.
tls_test::TestPki& pki() {
  static tls_test::TestPki p;
  return p;
}
const tls_test::CertFiles& localhost_cert() {
  static const tls_test::CertFiles c = pki().issue("localhost");
  return c;
}

TlsContext server_ctx(const tls_test::CertFiles& c = localhost_cert(), std::vector<std::string> alpn = {}) {
  TlsServerOptions o;
  o.cert_file = c.cert;
  o.key_file = c.key;
  o.alpn = std::move(alpn);
  return TlsContext::server(o);
}

TlsContext client_ctx(std::vector<std::string> alpn = {}) {
  TlsClientOptions o;
  o.ca_file = pki().ca_file();
  o.alpn = std::move(alpn);
  return TlsContext::client(o);
}

void echo_tls(TlsStream& t, const Address&) {
  char buf[4096];
  std::error_code ec;
  for (int i = 0; i < 100000; ++i) {
    const std::size_t n = t.recv_into(buf, sizeof buf, ec);
    if (ec || n == 0) return;
    t.sendall(buf, n, ec);
    if (ec) return;
  }
}

// A grove TLS echo server on 127.0.0.1, stopped by the destructor.
struct EchoServer {
  StreamServer server;
  explicit EchoServer(const TlsContext& ctx, grove::Duration handshake_timeout = 5s)
      : server(Address::parse("127.0.0.1:0"), grove::net::tls_handler(ctx, echo_tls, handshake_timeout)) {
    server.start();
  }
  ~EchoServer() { server.stop(); }
  std::uint16_t port() const { return server.address().port(); }
};

// The server still answers a verified client.
// `msg` there and back over a stream after its handshake, then close_notify.
void check_echo(TlsStream& t, const std::string& msg) {
  t.settimeout(5s);
  t.sendall(msg);
  std::string buf(msg.size(), '\0');
  CHECK(t.recv_exactly(buf.data(), buf.size()) == buf.size());
  CHECK(buf == msg);
  t.shutdown();
}

void check_serves(std::uint16_t port) {
  TlsStream t = grove::net::connect_tls("localhost", port, client_ctx(), 5s);
  check_echo(t, "still here");
}

// The handshake's error when `ctx` connects to `port` as `host`.
std::error_code handshake_error(std::uint16_t port, const TlsContext& ctx, const std::string& host = "localhost") {
  std::error_code ec;
  TlsStream t = grove::net::connect_tls(host, port, ctx, 5s, ec);
  return ec;
}

}  // namespace

// ------------------------------------------------------------------ contexts

TEST_CASE("TlsContext errors name the file and OpenSSL's reason") {
  TlsServerOptions o;
  o.cert_file = pki().dir() + "/missing.pem";
  o.key_file = localhost_cert().key;
  try {
    TlsContext::server(o);
    FAIL("no error for a missing certificate file");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("missing.pem") != std::string::npos);
    CHECK(e.code() == std::errc::no_such_file_or_directory);
  }
  o.cert_file = pki().write("garbage.pem", "not a certificate\n");
  try {
    TlsContext::server(o);
    FAIL("no error for a malformed certificate file");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("garbage.pem") != std::string::npos);
    CHECK(std::string(e.what()).find("no start line") != std::string::npos);
    CHECK(e.code().category() == grove::net::tls_category());
  }
  const tls_test::CertFiles other = pki().issue("other");
  o.cert_file = localhost_cert().cert;
  o.key_file = other.key;
  try {
    TlsContext::server(o);
    FAIL("no error for a key that does not match");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("does not match") != std::string::npos);
    CHECK(std::string(e.what()).find("key values mismatch") != std::string::npos);
  }
  CHECK_THROWS_AS(TlsContext::server(TlsServerOptions{}), std::invalid_argument);
  TlsClientOptions c;
  c.ca_file = pki().dir() + "/no-ca.pem";
  CHECK_THROWS_WITH_AS(TlsContext::client(c), doctest::Contains("no-ca.pem"), std::system_error);
  c = {};
  c.ciphersuites = "TLS_NO_SUCH_SUITE";
  CHECK_THROWS_WITH_AS(TlsContext::client(c), doctest::Contains("ciphersuites"), std::system_error);
}

TEST_CASE("a client context verifies by default and says so") {
  CHECK(TlsContext::client().verifies_peer());
  TlsClientOptions o;
  o.insecure_skip_verify = true;
  CHECK_FALSE(TlsContext::client(o).verifies_peer());
  CHECK(server_ctx().is_server());
}

// ------------------------------------------------------------------ grove <-> grove

GROVE_TEST("a grove client and a grove server echo over verified TLS 1.3 with ALPN") {
  EchoServer srv(server_ctx(localhost_cert(), {"h2", "http/1.1"}));
  TlsStream t = grove::net::connect_tls("localhost", srv.port(), client_ctx({"http/1.1", "h2"}), 5s);
  CHECK(t.version() == "TLSv1.3");
  CHECK(t.alpn_protocol() == "h2");  // the server's preference among those offered
  CHECK(t.server_name() == "localhost");
  t.settimeout(10s);
  // Bigger than the socket buffers, so both sides park on WANT_WRITE / WANT_READ.
  std::string big(4 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  auto writer = grove::spawn([&] { t.sendall(big); });
  std::string back(big.size(), '\0');
  CHECK(t.recv_exactly(back.data(), back.size()) == big.size());
  writer.join();
  CHECK(back == big);
  t.shutdown();  // close_notify: the server reads end of file and closes with its own
  char c;
  CHECK(t.recv_into(&c, 1) == 0);
}

GROVE_TEST("connect_tls verifies an IP address against the certificate's IP entry") {
  EchoServer srv(server_ctx());
  TlsStream t = grove::net::connect_tls("127.0.0.1", srv.port(), client_ctx(), 5s);
  t.sendall("ip");
  CHECK(t.recv(2) == "ip");
  Socket s = Socket::tcp();
  s.connect(srv.server.address(), 5s);
  TlsStream other = TlsStream::client(std::move(s), client_ctx(), "127.0.0.2");  // not in the certificate
  std::error_code ec;
  other.handshake(5s, ec);
  CHECK(ec == std::error_code(X509_V_ERR_IP_ADDRESS_MISMATCH, grove::net::tls_verify_category()));
}

GROVE_TEST("a TLS 1.2 connection works when the client speaks only TLS 1.2") {
  EchoServer srv(server_ctx());
  TlsContext c = client_ctx();
  SSL_CTX_set_max_proto_version(c.native_handle(), TLS1_2_VERSION);
  TlsStream t = grove::net::connect_tls("localhost", srv.port(), c, 5s);
  CHECK(t.version() == "TLSv1.2");
  t.sendall("twelve");
  CHECK(t.recv(6) == "twelve");
  TlsServerOptions o;
  o.cert_file = localhost_cert().cert;
  o.key_file = localhost_cert().key;
  o.min_version = grove::net::TlsVersion::kTls13;
  EchoServer only13(TlsContext::server(o));
  const std::error_code ec = handshake_error(only13.port(), c);
  CHECK(ec.category() == grove::net::tls_category());
  check_serves(only13.port());
}

GROVE_TEST("a second connection resumes the session from a ticket") {
  EchoServer srv(server_ctx());
  TlsContext c = client_ctx();
  for (int i = 0; i < 2; ++i) {
    TlsStream t = grove::net::connect_tls("localhost", srv.port(), c, 5s);
    CHECK(t.session_reused() == (i == 1));
    t.sendall("x");  // the TLS 1.3 ticket comes after the handshake: read past it
    CHECK(t.recv(1) == "x");
    t.shutdown();
  }
  TlsServerOptions o;
  o.cert_file = localhost_cert().cert;
  o.key_file = localhost_cert().key;
  o.session_tickets = false;
  EchoServer no_tickets(TlsContext::server(o));
  for (int i = 0; i < 2; ++i) {
    TlsStream t = grove::net::connect_tls("localhost", no_tickets.port(), c, 5s);
    CHECK_FALSE(t.session_reused());
    t.sendall("x");
    CHECK(t.recv(1) == "x");
  }
}

GROVE_TEST("a server picks its certificate by the name the client sends (SNI)") {
  tls_test::CertSpec b;
  b.common_name = "b.test";
  b.dns = {"b.test"};
  b.ips = {};
  std::map<std::string, TlsContext> by_name{{"b.test", server_ctx(pki().issue("b", b))}};
  TlsServerOptions o;
  o.cert_file = localhost_cert().cert;
  o.key_file = localhost_cert().key;
  std::vector<std::string> asked;
  o.select_context = [&](std::string_view name) -> std::optional<TlsContext> {
    asked.emplace_back(name);
    auto it = by_name.find(std::string(name));
    if (it == by_name.end()) return std::nullopt;
    return it->second;
  };
  StreamServer server(Address::parse("127.0.0.1:0"), grove::net::tls_handler(TlsContext::server(o),
                                                                               [](TlsStream& t, const Address&) {
                                                                                 t.sendall(t.server_name());
                                                                               }));
  server.start();
  // b.test: the certificate for b.test; localhost: the default one.
  for (const std::string name : {"b.test", "localhost"}) {
    Socket s = Socket::tcp();
    s.connect(server.address(), 5s);
    TlsStream t = TlsStream::client(std::move(s), client_ctx(), name);
    t.handshake(5s);
    CHECK(t.recv(64) == name);
  }
  CHECK(asked == std::vector<std::string>{"b.test", "localhost"});
  server.stop();
}

GROVE_TEST("a server that requires a client certificate refuses a client without one") {
  const tls_test::CertFiles client_cert = [] {
    tls_test::CertSpec s;
    s.common_name = "client one";
    s.dns = {};
    s.ips = {};
    s.client = true;
    return pki().issue("client", s);
  }();
  TlsServerOptions o;
  o.cert_file = localhost_cert().cert;
  o.key_file = localhost_cert().key;
  o.client_auth = grove::net::TlsClientAuth::kRequired;
  o.client_ca_file = pki().ca_file();
  StreamServer server(Address::parse("127.0.0.1:0"),
                      grove::net::tls_handler(TlsContext::server(o), [](TlsStream& t, const Address&) {
                        t.sendall(t.peer_subject() + "\n");
                      }));
  server.start();
  {  // without a certificate: the TLS 1.3 client learns it at its first read
    std::error_code ec;
    TlsStream t = grove::net::connect_tls("localhost", server.address().port(), client_ctx(), 5s, ec);
    if (!ec) t.recv(64, ec);
    CHECK(ec.category() == grove::net::tls_category());
  }
  TlsClientOptions c;
  c.ca_file = pki().ca_file();
  c.cert_file = client_cert.cert;
  c.key_file = client_cert.key;
  TlsStream t = grove::net::connect_tls("localhost", server.address().port(), TlsContext::client(c), 5s);
  t.settimeout(5s);
  CHECK(t.recv(64) == "CN=client one\n");
  server.stop();
}

// ------------------------------------------------------------------ refused certificates

GROVE_TEST("a certificate for another name is refused with hostname mismatch") {
  EchoServer srv(server_ctx());
  const std::error_code ec = handshake_error(srv.port(), client_ctx(), "127.0.0.1");
  CHECK_FALSE(ec);
  tls_test::CertSpec other;
  other.common_name = other.dns[0] = "other.test";
  other.ips = {};
  EchoServer wrong(server_ctx(pki().issue("other-name", other)));
  std::error_code e2;
  TlsStream t = grove::net::connect_tls("localhost", wrong.port(), client_ctx(), 5s, e2);
  CHECK(e2 == std::error_code(X509_V_ERR_HOSTNAME_MISMATCH, grove::net::tls_verify_category()));
  CHECK(e2.message().find("certificate verify failed") != std::string::npos);
  try {
    grove::net::connect_tls("localhost", wrong.port(), client_ctx(), 5s);
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("localhost") != std::string::npos);
  }
  check_serves(srv.port());
}

GROVE_TEST("expired and not yet valid certificates are refused") {
  tls_test::CertSpec expired;
  expired.not_before = -3 * 86400;
  expired.not_after = -86400;
  tls_test::CertSpec future;
  future.not_before = 86400;
  future.not_after = 3 * 86400;
  EchoServer old_srv(server_ctx(pki().issue("expired", expired)));
  EchoServer new_srv(server_ctx(pki().issue("future", future)));
  CHECK(handshake_error(old_srv.port(), client_ctx()) ==
        std::error_code(X509_V_ERR_CERT_HAS_EXPIRED, grove::net::tls_verify_category()));
  CHECK(handshake_error(new_srv.port(), client_ctx()) ==
        std::error_code(X509_V_ERR_CERT_NOT_YET_VALID, grove::net::tls_verify_category()));
}

GROVE_TEST("a certificate from an unknown CA and a self-signed one are refused by default") {
  tls_test::TestPki stranger("stranger");
  EchoServer unknown(server_ctx(stranger.issue("localhost")));
  CHECK(handshake_error(unknown.port(), client_ctx()) ==
        std::error_code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, grove::net::tls_verify_category()));
  EchoServer self(server_ctx(pki().self_signed("self")));
  // The system's CA bundle, as a client gets by default.
  CHECK(handshake_error(self.port(), TlsContext::client()) ==
        std::error_code(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, grove::net::tls_verify_category()));
  // ... unless verification is turned off by name.
  TlsClientOptions o;
  o.insecure_skip_verify = true;
  TlsStream t = grove::net::connect_tls("localhost", self.port(), TlsContext::client(o), 5s);
  t.sendall("ok");
  CHECK(t.recv(2) == "ok");
  CHECK_THROWS_AS(TlsStream::client(Socket::tcp(), client_ctx(), ""), grove::UsageError);
}

// ------------------------------------------------------------------ faults

GROVE_TEST("plaintext sent to a TLS port ends that connection only") {
  EchoServer srv(server_ctx());
  Socket s = Socket::tcp();
  s.connect(srv.server.address(), 5s);
  s.settimeout(5s);
  s.sendall("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  char buf[256];
  std::error_code ec;
  std::size_t total = 0;
  for (int i = 0; i < 10; ++i) {  // an alert at most, then end of file
    const std::size_t n = s.recv_into(buf, sizeof buf, ec);
    if (ec || n == 0) break;
    total += n;
  }
  CHECK(total < 64);
  check_serves(srv.port());
  for (int i = 0; i < 100 && srv.server.connection_count() > 0; ++i) grove::sleep(5ms);
  CHECK(srv.server.connection_count() == 0);
}

GROVE_TEST("a TLS client to a plaintext port fails its handshake") {
  StreamServer plain(Address::parse("127.0.0.1:0"), [](Socket& s, const Address&) {
    s.sendall("220 hello, this is not TLS\r\n");
    char buf[512];
    std::error_code ec;
    for (int i = 0; i < 100; ++i) {
      if (s.recv_into(buf, sizeof buf, ec) == 0 || ec) return;
    }
  });
  plain.start();
  std::error_code ec;
  const auto t0 = std::chrono::steady_clock::now();
  TlsStream t = grove::net::connect_tls("localhost", plain.address().port(), client_ctx(), 5s, ec);
  CHECK(ec.category() == grove::net::tls_category());
  CHECK(ec != std::errc::timed_out);
  CHECK(elapsed_s(t0) < 2.0);
  plain.stop();
}

GROVE_TEST("a client that stalls in the handshake is dropped when the handshake timeout fires") {
  EchoServer srv(server_ctx(), 200ms);
  Socket s = Socket::tcp();
  s.connect(srv.server.address(), 5s);
  grove::sleep(20ms);
  CHECK(srv.server.connection_count() == 1);
  s.settimeout(3s);
  const auto t0 = std::chrono::steady_clock::now();
  char c;
  CHECK(s.recv_into(&c, 1) == 0);  // the server gave up and closed
  CHECK(elapsed_s(t0) < 1.5);
  check_serves(srv.port());
  // The client side: a server that accepts and never answers.
  Socket l = listener();
  std::error_code ec;
  const auto t1 = std::chrono::steady_clock::now();
  TlsStream t = grove::net::connect_tls("127.0.0.1", l.local_address().port(), client_ctx(), 200ms, ec);
  CHECK(ec == std::errc::timed_out);
  CHECK(elapsed_s(t1) < 1.5);
}

GROVE_TEST("a peer that closes without close_notify is truncation, unless allowed") {
  StreamServer server(Address::parse("127.0.0.1:0"),
                      grove::net::tls_handler(server_ctx(), [](TlsStream& t, const Address&) {
                        t.sendall("partial");
                        t.close();  // no close_notify
                      }));
  server.start();
  for (const bool allow : {false, true}) {
    TlsStream t = grove::net::connect_tls("localhost", server.address().port(), client_ctx(), 5s);
    t.settimeout(5s);
    t.allow_truncation(allow);
    char buf[7];
    CHECK(t.recv_exactly(buf, sizeof buf) == 7);
    std::error_code ec;
    CHECK(t.recv_into(buf, sizeof buf, ec) == 0);
    if (allow) {
      CHECK_FALSE(ec);
      CHECK(t.recv_into(buf, sizeof buf, ec) == 0);  // and stays at end of file
      CHECK_FALSE(ec);
    } else {
      CHECK(ec == TlsErrc::kTruncated);
      CHECK(ec.message().find("unexpected eof") != std::string::npos);
      CHECK_THROWS_AS(t.recv_into(buf, sizeof buf), std::system_error);  // the same error again
    }
  }
  server.stop();
}

GROVE_TEST("garbage records after the handshake end that connection only") {
  std::error_code server_saw;
  StreamServer server(Address::parse("127.0.0.1:0"),
                      grove::net::tls_handler(server_ctx(), [&](TlsStream& t, const Address&) {
                        char buf[64];
                        t.recv_into(buf, sizeof buf, server_saw);
                      }));
  server.start();
  TlsStream t = grove::net::connect_tls("localhost", server.address().port(), client_ctx(), 5s);
  // An application-data record header with a body of noise, straight on the socket.
  std::string junk = "\x17\x03\x03\x00\x20";
  junk.append(32, '\x5a');
  t.socket().sendall(junk);
  t.settimeout(5s);
  char c;
  std::error_code ec;
  t.recv_into(&c, 1, ec);  // the server's alert, or end of file
  for (int i = 0; i < 100 && server.connection_count() > 0; ++i) grove::sleep(5ms);
  CHECK(server_saw.category() == grove::net::tls_category());
  CHECK(server.connection_count() == 0);
  server.stop();
}

GROVE_TEST("a TLS 1.2 renegotiation attempt is refused") {
  EchoServer srv(server_ctx());
  TlsContext c = client_ctx();
  SSL_CTX_set_max_proto_version(c.native_handle(), TLS1_2_VERSION);
  SSL_CTX_clear_options(c.native_handle(), SSL_OP_NO_RENEGOTIATION);
  TlsStream t = grove::net::connect_tls("localhost", srv.port(), c, 5s);
  t.settimeout(5s);
  REQUIRE(SSL_renegotiate(t.native_handle()) == 1);
  std::error_code ec;
  t.sendall("again?", 6, ec);  // sends the new ClientHello first
  char buf[8];
  if (!ec) t.recv_into(buf, sizeof buf, ec);
  CHECK(ec);
  check_serves(srv.port());
}

GROVE_TEST("a server that closes in the middle of the handshake is truncation") {
  Socket l = listener();
  auto server = grove::spawn([&] {
    grove::net::Accepted a = l.accept();
    // The whole ClientHello record (so that the close is a FIN, not a reset), then a close.
    unsigned char head[5];
    a.socket.settimeout(5s);
    a.socket.recv_exactly(head, sizeof head);
    std::string body(static_cast<std::size_t>(head[3] << 8 | head[4]), '\0');
    a.socket.recv_exactly(body.data(), body.size());
  });
  std::error_code ec;
  TlsStream t = grove::net::connect_tls("127.0.0.1", l.local_address().port(), client_ctx(), 5s, ec);
  CHECK(ec == TlsErrc::kTruncated);
  server.join();
}

// ------------------------------------------------------------------ parking

GROVE_TEST("a TLS recv times out as a socket's does and may be retried") {
  EchoServer srv(server_ctx());
  TlsStream t = grove::net::connect_tls("localhost", srv.port(), client_ctx(), 5s);
  t.settimeout(50ms);
  char buf[4];
  std::error_code ec;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(t.recv_into(buf, sizeof buf, ec) == 0);
  CHECK(ec == std::errc::timed_out);
  CHECK(elapsed_s(t0) >= 0.04);
  t.settimeout(5s);
  t.sendall("more");
  CHECK(t.recv_exactly(buf, 4) == 4);
  CHECK(std::string(buf, 4) == "more");
}

GROVE_TEST("a send that times out with a record half sent refuses later sends") {
  grove::Event done;
  StreamServer server(Address::parse("127.0.0.1:0"),
                      grove::net::tls_handler(server_ctx(), [&](TlsStream&, const Address&) { done.wait(); }));
  server.start();
  TlsStream t = grove::net::connect_tls("localhost", server.address().port(), client_ctx(), 5s);
  t.settimeout(100ms);
  const std::string big(8 << 20, 'z');  // more than both socket buffers hold
  std::error_code ec;
  const std::size_t sent = t.sendall(big.data(), big.size(), ec);
  CHECK(ec == std::errc::timed_out);
  CHECK(sent < big.size());
  const auto t0 = std::chrono::steady_clock::now();
  t.send("more", 4, ec);  // OpenSSL needs the same bytes again: the stream refuses
  CHECK(ec == std::errc::timed_out);
  CHECK(elapsed_s(t0) < 0.05);
  char c;
  t.recv_into(&c, 1, ec);  // reading is still allowed (and times out: nothing comes)
  CHECK(ec == std::errc::timed_out);
  done.set();
  server.stop();
}

GROVE_TEST("closing a TLS stream wakes a green thread parked in it with ECANCELED") {
  EchoServer srv(server_ctx());
  TlsStream t = grove::net::connect_tls("localhost", srv.port(), client_ctx(), 5s);
  std::error_code ec;
  auto reader = grove::spawn([&] {
    char buf[4];
    t.recv_into(buf, sizeof buf, ec);
  });
  grove::sleep(10ms);
  t.close();
  reader.join();
  CHECK(ec == std::error_code(ECANCELED, std::system_category()));
  std::error_code later;
  t.sendall("x", 1, later);
  CHECK(later == std::error_code(EBADF, std::system_category()));
}

// ------------------------------------------------------------------ the shared stack

#if defined(__x86_64__)  // elsewhere OpenSSL runs on the caller's stack (core/src/shared_stack.hpp)
// A callback OpenSSL makes from inside the handshake (select_context) sees where
// OpenSSL's frames are; the handler, on the connection's green thread, sees that
// green thread's stack (64 KiB: the default).
GROVE_TEST("OpenSSL's handshake runs off the stack of the connection's green thread") {
  std::vector<std::uintptr_t> in_openssl, in_handler;
  TlsServerOptions o;
  o.cert_file = localhost_cert().cert;
  o.key_file = localhost_cert().key;
  o.select_context = [&](std::string_view) -> std::optional<TlsContext> {
    in_openssl.push_back(reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)));
    return std::nullopt;
  };
  StreamServer server(Address::parse("127.0.0.1:0"),
                      grove::net::tls_handler(TlsContext::server(o), [&](TlsStream& t, const Address& a) {
                        in_handler.push_back(reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)));
                        echo_tls(t, a);
                      }));
  server.start();
  for (int i = 0; i < 3; ++i) check_serves(server.address().port());
  server.stop();
  REQUIRE(in_openssl.size() == 3);
  REQUIRE(in_handler.size() == 3);
  for (int i = 0; i < 3; ++i) {
    const std::uintptr_t a = in_openssl[i], b = in_handler[i];
    CHECK((a > b ? a - b : b - a) > grove::kDefaultStackSize);  // not on that stack
  }
}
#endif

GROVE_TEST("a select_context that waits inside a handshake holds up no other handshake") {
  TlsServerOptions o;
  o.cert_file = localhost_cert().cert;
  o.key_file = localhost_cert().key;
  grove::Event go_on;
  bool inside = false;
  // Runs inside OpenSSL's handshake (on the hub's shared stack, where that is free);
  // parking here keeps that stack, and other connections' OpenSSL calls run on their own.
  o.select_context = [&](std::string_view name) -> std::optional<TlsContext> {
    if (name == "slow.test") {
      inside = true;
      go_on.wait(5s);
    }
    return std::nullopt;
  };
  StreamServer server(Address::parse("127.0.0.1:0"), grove::net::tls_handler(TlsContext::server(o), echo_tls));
  server.start();
  TlsClientOptions any_name;
  any_name.insecure_skip_verify = true;  // the certificate is localhost's
  auto slow = grove::spawn([&] {
    Socket s = Socket::tcp();
    s.connect(server.address(), 5s);
    TlsStream t = TlsStream::client(std::move(s), TlsContext::client(any_name), "slow.test");
    t.handshake(5s);
    check_echo(t, "slow");
  });
  for (int i = 0; i < 5000 && !inside; ++i) grove::sleep(1ms);
  REQUIRE(inside);
  for (int i = 0; i < 3; ++i) check_serves(server.address().port());  // while "slow.test" waits in its callback
  CHECK_FALSE(slow.ready());
  go_on.set();
  slow.join();
  server.stop();
}

GROVE_TEST("one green thread reads while another writes on the same TLS stream") {
  EchoServer srv(server_ctx());
  TlsStream t = grove::net::connect_tls("localhost", srv.port(), client_ctx(), 5s);
  t.settimeout(10s);
  constexpr int kMessages = 2000;
  auto writer = grove::spawn([&] {
    for (int i = 0; i < kMessages; ++i) t.sendall("0123456789abcdef");
  });
  std::string got;
  char buf[4096];
  for (int i = 0; i < 100000 && got.size() < kMessages * 16u; ++i) got.append(buf, t.recv_into(buf, sizeof buf));
  writer.join();
  CHECK(got.size() == kMessages * 16u);
  CHECK(got.substr(got.size() - 16) == "0123456789abcdef");
}

// A line protocol over TLS on both sides: "SIZE n" is followed by n raw bytes that
// come back as "GOT n <their sum>"; any other line comes back reversed.
GROVE_TEST("BufferedStream reads lines and exact sizes and writes over TLS, client and server") {
  bool server_saw_eof = false;
  StreamServer server(Address::parse("127.0.0.1:0"),
                      grove::net::tls_handler(server_ctx(), [&](TlsStream& t, const Address&) {
                        t.settimeout(10s);
                        BufferedStream io(t, 256);
                        for (int i = 0; i < 1000; ++i) {
                          std::optional<std::string> line = io.read_line_stripped(100);
                          if (!line) {
                            server_saw_eof = true;
                            return;
                          }
                          if (line->rfind("SIZE ", 0) == 0) {
                            const std::string data = io.read_exactly(std::stoul(line->substr(5)));
                            unsigned sum = 0;
                            for (unsigned char c : data) sum += c;
                            io.write("GOT " + std::to_string(data.size()) + " " + std::to_string(sum) + "\n");
                          } else {
                            io.write(std::string(line->rbegin(), line->rend()) + "\r\n");
                          }
                          io.flush();
                        }
                      }));
  server.start();
  TlsStream t = grove::net::connect_tls("localhost", server.address().port(), client_ctx(), 5s);
  t.settimeout(10s);
  BufferedStream io(t, 256);
  // Several lines in one flush (one TLS record): the server's buffer splits them.
  io.write("abc\r\nhello\n");
  io.write("\n");
  io.flush();
  CHECK(io.read_line(100) == "cba\r\n");
  CHECK(io.read_line_stripped(100) == "olleh");
  CHECK(io.read_line_stripped(100) == "");
  // 200 KB of raw bytes: many records, more than the socket buffers, read with read_exactly.
  std::string block(200000, '\0');
  unsigned sum = 0;
  for (std::size_t i = 0; i < block.size(); ++i) {
    block[i] = static_cast<char>((i * 13 + i / 977) & 0xff);
    sum += static_cast<unsigned char>(block[i]);
  }
  io.write("SIZE " + std::to_string(block.size()) + "\n");
  io.write(block);  // more than `chunk`: write() sends it through TlsStream::sendall itself
  CHECK(io.pending_write() == 0);
  io.flush();
  CHECK(io.read_line_stripped(100) == "GOT 200000 " + std::to_string(sum));
  // A reply split by the server is read back in exact pieces.
  io.write("0123456789\n");
  io.flush();
  CHECK(io.read_exactly(4) == "9876");
  CHECK(io.read_exactly(8) == "543210\r\n");
  t.shutdown();  // close_notify: the server's read_line_stripped sees end of file
  CHECK(io.read_line(100) == "");  // and the server's close_notify is ours
  CHECK(server_saw_eof);
  server.stop();
}

GROVE_TEST("BufferedStream over TLS reports a peer that closes without close_notify as truncation") {
  StreamServer server(Address::parse("127.0.0.1:0"),
                      grove::net::tls_handler(server_ctx(), [](TlsStream& t, const Address&) {
                        t.sendall("complete line\npartial");
                        t.close();  // no close_notify
                      }));
  server.start();
  for (const bool allow : {false, true}) {
    TlsStream t = grove::net::connect_tls("localhost", server.address().port(), client_ctx(), 5s);
    t.settimeout(5s);
    t.allow_truncation(allow);
    BufferedStream io(t);
    CHECK(io.read_line(100) == "complete line\n");
    std::error_code ec;
    const std::string rest = io.read_line(100, ec);
    if (allow) {
      CHECK_FALSE(ec);
      CHECK(rest == "partial");  // end of file ends the last line
      CHECK(io.read_line(100) == "");
    } else {
      CHECK(ec == TlsErrc::kTruncated);  // not a clean end of file
      CHECK(rest == "");
      CHECK(io.buffered() == 7);  // "partial" stays buffered
      CHECK_THROWS_AS(io.read_line(100), std::system_error);
    }
  }
  server.stop();
}

GROVE_TEST("a TlsStream refuses a context of the wrong side") {
  CHECK_THROWS_AS(TlsStream::client(Socket::tcp(), server_ctx(), "localhost"), grove::UsageError);
  CHECK_THROWS_AS(TlsStream::server(Socket::tcp(), client_ctx()), grove::UsageError);
  CHECK_THROWS_AS(grove::net::tls_handler(client_ctx(), echo_tls), grove::UsageError);
  TlsStream closed;
  std::error_code ec;
  closed.handshake(1s, ec);
  CHECK(ec == std::error_code(EBADF, std::system_category()));
}

// ------------------------------------------------------------------ several hubs

GROVE_TEST("hubs on several OS threads share one server and one client context") {
  // Fresh contexts each round: their first verifications then happen on two OS
  // threads at once (OpenSSL decodes a certificate's extensions at its first use
  // unless the context did it when made: TlsContext's decode_certificates).
  constexpr int kRounds = 4;
  constexpr int kHubs = 2;
  constexpr int kConnections = 5;
  for (int round = 0; round < kRounds; ++round) {
    const TlsContext server = server_ctx();
    const TlsContext client = client_ctx();
    std::vector<std::unique_ptr<grove::HubThread>> hubs;
    std::vector<grove::RemoteGreenThread<int>> work;
    for (int i = 0; i < kHubs; ++i) {
      hubs.push_back(std::make_unique<grove::HubThread>());
      work.push_back(grove::spawn_on(hubs.back()->hub(), [server, client] {
        EchoServer srv(server);  // this hub's own server, with the shared context
        int resumed = 0;
        for (int c = 0; c < kConnections; ++c) {
          TlsStream t = grove::net::connect_tls("localhost", srv.port(), client, 5s);
          t.settimeout(5s);
          resumed += t.session_reused() ? 1 : 0;
          t.sendall("shared");
          char buf[6];
          if (t.recv_exactly(buf, sizeof buf) != sizeof buf) return -1;
          t.shutdown();
        }
        return resumed;
      }));
    }
    for (auto& w : work) CHECK(w.get() == kConnections - 1);  // all but the first resumed
  }
}
