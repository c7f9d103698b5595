// tls_stream_fuzz.cpp: TlsStream's handling of the records it reads, with arbitrary
// bytes where records should be. The transport is a Unix socketpair(2) on the main
// thread's hub (the stream's own BIO reads a Socket's fd; the kernel's buffer is the
// memory in between): the fuzzer's bytes are written raw into the peer's end.
//
// Input: a mode byte, then:
//   mode 0 (even): the bytes are a client's first flight, then end of file. The
//     server's handshake must fail with an error (no handshake completes without the
//     keys), not hang and not time out; every later call reports the same error.
//   mode 1 (odd): a real client and server complete a handshake (TLS 1.3, resuming
//     a session taken at start-up: see Contexts for what it costs); then a script of
//     steps, each [kind][length][bytes]: the client sends the bytes through TLS
//     (records the server must accept), or the bytes are injected raw into the
//     stream (garbage the server must refuse), or the client sends close_notify;
//     at the end the client's write side closes. The server reads until end of file
//     or an error: it reads exactly what the client sent before anything injected,
//     never a byte of the garbage; it ends with a clean end of file only after
//     close_notify with nothing injected before it, and otherwise with an error;
//     every later read reports the same.
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <grove/green_thread.hpp>
#include <grove/net/socket.hpp>
#include <grove/net/tls_context.hpp>
#include <grove/net/tls_error.hpp>
#include <grove/net/tls_stream.hpp>

#include "fuzz_support.hpp"
#include "tls_certs.hpp"

using grove::net::Socket;
using grove::net::TlsContext;
using grove::net::TlsStream;

namespace {

// Mode 0's server: the defaults a server gets (TLS 1.2 and 1.3, OpenSSL's suites and
// groups), so an arbitrary first flight meets every path a real server has.
TlsContext make_server(const tls_test::CertFiles& cert) {
  grove::net::TlsServerOptions o;
  o.cert_file = cert.cert;
  o.key_file = cert.key;
  return TlsContext::server(o);
}

// Mode 1's pair: each input pays for one handshake, so the pair speaks no more than
// the records need: TLS 1.3 only, one suite, one group (one key share on each side),
// no tickets after the one taken at start-up (set in Contexts). The client keeps its
// record buffers between writes; the server keeps the default of releasing them, as
// servers run. The client still looks its session up in its context's cache, as
// every client does (its edges count in the coverage), though the input then sets
// the start-up session by hand. None of this touches how the server reads records
// once the handshake is done.
void lean(grove::net::TlsCommonOptions& o) {
  o.min_version = grove::net::TlsVersion::kTls13;
  o.ciphersuites = "TLS_AES_128_GCM_SHA256";
  o.groups = "X25519";
}

TlsContext make_lean_server(const tls_test::CertFiles& cert) {
  grove::net::TlsServerOptions o;
  o.cert_file = cert.cert;
  o.key_file = cert.key;
  lean(o);
  return TlsContext::server(o);
}

TlsContext make_lean_client(tls_test::TestPki& pki) {
  grove::net::TlsClientOptions o;
  o.ca_file = pki.ca_file();
  lean(o);
  o.release_idle_buffers = false;
  return TlsContext::client(o);
}

// A CA and a localhost certificate for the whole run (tls_certs.hpp), and a session
// to resume. A full handshake (a key exchange and a signature) costs milliseconds,
// which would hold the fuzzer to a few hundred inputs a second; so each input's
// handshake resumes one session (a TLS 1.3 ticket) taken at start-up: no certificate
// to sign or verify. The records after it are handled as after a full handshake.
// OpenSSL 3.0's client always offers psk_dhe_ke, so the resumption still does one
// X25519 exchange; under ASan most of an input's time is OpenSSL's allocations in
// the handshake (bench/README.md, "Fuzzing").
struct Contexts {
  tls_test::TestPki pki{"fuzz"};
  tls_test::CertFiles cert = pki.issue("localhost");
  TlsContext server = make_server(cert);            // mode 0
  TlsContext lean_server = make_lean_server(cert);  // mode 1
  TlsContext client = make_lean_client(pki);
  SSL_SESSION* session = nullptr;

  Contexts() {
    // The session taken below must stay resumable for the whole run: with OpenSSL's
    // default session timeout (7,200 s) the server refuses, and the client stops
    // offering, a ticket older than two hours, so every mode-1 input of a fuzzer
    // running longer failed its resumption check (finding 5, bench/README.md). Six
    // days: under TLS 1.3's one-week cap on a ticket's lifetime.
    SSL_CTX_set_timeout(lean_server.native_handle(), 6L * 24 * 3600);
    SSL_CTX_set_timeout(client.native_handle(), 6L * 24 * 3600);
    auto [a, b] = Socket::pair();
    TlsStream s = TlsStream::server(std::move(a), lean_server);
    TlsStream c = TlsStream::client(std::move(b), client, "localhost");
    auto peer = grove::spawn([&c] {
      c.handshake();
      char byte;
      c.recv_into(&byte, 1);  // the server's tickets arrive before this byte
    });
    s.handshake();
    s.sendall("x");
    peer.get();
    session = SSL_get1_session(c.native_handle());
    FUZZ_CHECK(session && SSL_SESSION_is_resumable(session), "a session to resume");
    FUZZ_CHECK(SSL_SESSION_get_ticket_lifetime_hint(session) >= 24UL * 3600 &&
                   SSL_SESSION_get_timeout(session) >= 24L * 3600,
               "a session that outlives a long fuzzing run");
    c.shutdown();
    // From here on the server issues no tickets: nobody would read them, and each
    // costs a key derivation, an encryption and a session copy per input. (A change
    // after the context's first use, which TlsContext leaves to the caller: one
    // thread here, and OpenSSL copies the count into each SSL at SSL_new.)
    SSL_CTX_set_num_tickets(lean_server.native_handle(), 0);
  }
};

Contexts& contexts() {
  static Contexts c;
  return c;
}

constexpr auto kTimeout = std::chrono::seconds(5);

// Writes raw bytes into the socket (the kernel's buffer holds far more than an input).
void inject(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    FUZZ_CHECK(n > 0, "the socketpair takes the injected bytes");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void first_flight(std::string_view bytes) {
  auto [a, b] = Socket::pair();
  TlsStream server = TlsStream::server(std::move(a), contexts().server);
  inject(b.fd(), bytes);
  ::shutdown(b.fd(), SHUT_WR);
  std::error_code ec;
  server.handshake(grove::Duration(kTimeout), ec);
  FUZZ_CHECK(ec, "a handshake from arbitrary bytes fails");
  FUZZ_CHECK(ec != std::errc::timed_out, "and fails at once: it does not wait past end of file");
  char buf[64];
  std::error_code again;
  const std::size_t n = server.recv_into(buf, sizeof buf, again);
  FUZZ_CHECK(n == 0 && again == ec, "every later call reports the same error");
}

void after_handshake(std::string_view script) {
  auto [a, b] = Socket::pair();
  const int client_fd = b.fd();
  TlsStream server = TlsStream::server(std::move(a), contexts().lean_server);
  TlsStream client = TlsStream::client(std::move(b), contexts().client, "localhost");
  server.settimeout(grove::Duration(kTimeout));
  // A copy: OpenSSL marks a client's session unresumable when the client is freed
  // without a clean shutdown, as most inputs here end.
  SSL_SESSION* copy = SSL_SESSION_dup(contexts().session);
  FUZZ_CHECK(copy && SSL_set_session(client.native_handle(), copy) == 1, "the session is set");
  SSL_SESSION_free(copy);
  auto peer = grove::spawn([&client] { client.handshake(grove::Duration(kTimeout)); });
  server.handshake(grove::Duration(kTimeout));
  peer.get();
  FUZZ_CHECK(server.session_reused(), "the handshake resumed the session");

  std::string sent;         // what the client sent through TLS before anything injected
  bool garbage = false;     // bytes were injected
  bool notified = false;    // close_notify went out before any garbage
  // Nobody reads while the script runs, and the kernel charges each send (a record,
  // an injection) about a kilobyte of the socketpair's ~200 KiB buffer, whatever its
  // size: past some 200 steps the client's sendall would wait for a reader forever.
  constexpr int kMaxSteps = 64;
  int steps = 0;
  while (script.size() >= 2 && !notified && steps++ < kMaxSteps) {
    const std::uint8_t kind = static_cast<std::uint8_t>(script[0]) % 3;
    const std::size_t len = std::min<std::size_t>(static_cast<std::uint8_t>(script[1]), script.size() - 2);
    const std::string_view bytes = script.substr(2, len);
    script.remove_prefix(2 + len);
    if (kind == 0 && !bytes.empty()) {
      std::error_code ec;
      client.sendall(bytes.data(), bytes.size(), ec);
      FUZZ_CHECK(!ec, "the client's sendall succeeds");
      if (!garbage) sent.append(bytes);
    } else if (kind == 1 && !bytes.empty()) {
      inject(client_fd, bytes);
      garbage = true;
    } else if (kind == 2) {
      std::error_code ec;
      client.shutdown(ec);
      FUZZ_CHECK(!ec, "the client's close_notify goes out");
      notified = !garbage;
      break;
    }
  }
  client.socket().shutdown(grove::net::ShutdownHow::kWrite);

  std::string got;
  char buf[512];
  std::error_code ec;
  for (;;) {
    const std::size_t n = server.recv_into(buf, sizeof buf, ec);
    if (ec || n == 0) break;
    got.append(buf, n);
    FUZZ_CHECK(got.size() <= sent.size(), "the server never reads more than was sent");
  }
  FUZZ_CHECK(ec != std::errc::timed_out, "the read ends at end of file, never waits");
  FUZZ_CHECK(got == sent, "the server reads exactly what the client sent before the garbage");
  if (notified) {
    FUZZ_CHECK(!ec, "close_notify with nothing injected is a clean end of file");
  } else {
    FUZZ_CHECK(ec, "garbage or a missing close_notify is an error");
    if (!garbage) FUZZ_CHECK(ec == grove::net::TlsErrc::kTruncated, "no close_notify: truncated");
  }
  std::error_code again;
  const std::size_t n = server.recv_into(buf, sizeof buf, again);
  FUZZ_CHECK(n == 0 && again == ec, "every later read reports the same");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  contexts();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    first_flight(rest);
  } else {
    after_handshake(rest);
  }
  return 0;
}
