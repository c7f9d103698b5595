// monkey_curl_https_test.cpp: libcurl's easy (blocking) API fetching https:// under
// patch_all(): 100 green threads each fetch once, with the server's certificate
// verified against a test CA, from a grove TLS server (tls_handler, on a HubThread of
// its own) that answers each request after 200 ms. The fetches are cooperative when
// the server sees all 100 requests in flight at once (it holds its answers until they
// are, for at most 5 s) and the whole run takes about one delay, not 100.
#include <curl/curl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <grove/event.hpp>
#include <grove/hub_thread.hpp>
#include <grove/monkey.hpp>
#include <grove/mt/async_result.hpp>
#include <grove/mt/event.hpp>
#include <grove/net/buffered_stream.hpp>
#include <grove/net/tls_server.hpp>
#include <grove/spawn_on.hpp>

#include "../net/tls_certs.hpp"
#include "monkey_util.hpp"

using namespace std::chrono_literals;
using grove::test::now_s;

namespace {

// (The main hub and its inbox, which the HubThread's replies use, are made before any
// case by hub_first.cpp, so the case's fd check does not count them.)
const bool g_started = [] {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return true;
}();

constexpr auto kDelay = 200ms;
constexpr int kFetches = 100;

// What the server saw, returned when it stops.
struct ServerReport {
  int max_in_flight = 0;
  int served = 0;
};

// A grove HTTPS server on its own hub: every request (read with a BufferedStream
// over the TlsStream) is answered "hello" after kDelay, once `gate` requests are in
// flight at once or 5 s after the first, so the count shows concurrency rather than
// how fast a sanitizer build starts clients.
class DelayHttpsServer {
 public:
  DelayHttpsServer(const tls_test::CertFiles& cert, int gate) {
    grove::net::TlsServerOptions o;
    o.cert_file = cert.cert;
    o.key_file = cert.key;
    o.alpn = {"http/1.1"};
    grove::net::TlsContext ctx = grove::net::TlsContext::server(o);
    run_ = grove::spawn_on(hub_.hub(), [this, ctx, gate] { return serve(ctx, gate); });
    port_ = port_result_.get(10s);
  }
  // Stops the server and returns what it saw.
  ServerReport stop() {
    stop_.set();
    return run_.get(30s);
  }
  int port() const { return port_; }

 private:
  ServerReport serve(const grove::net::TlsContext& ctx, int gate) {
    ServerReport report;
    int in_flight = 0;
    grove::Event all_in;
    std::optional<double> first_at;
    grove::net::StreamServer server(
        grove::net::Address::parse("127.0.0.1:0"),
        grove::net::tls_handler(ctx, [&](grove::net::TlsStream& t, const grove::net::Address&) {
          t.settimeout(10s);
          grove::net::BufferedStream io(t);
          for (int i = 0; i < 100; ++i) {  // the request head, up to its empty line
            const std::optional<std::string> line = io.read_line_stripped(8192);
            if (!line) return;
            if (line->empty()) break;
          }
          if (!first_at) first_at = now_s();
          report.max_in_flight = std::max(report.max_in_flight, ++in_flight);
          if (in_flight >= gate) all_in.set();
          all_in.wait(std::chrono::duration_cast<grove::Duration>(std::max(0.0, *first_at + 5 - now_s()) * 1s));
          grove::sleep(kDelay);
          io.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
          io.flush();
          --in_flight;
          ++report.served;
        }));
    server.start();
    port_result_.set(server.address().port());
    stop_.wait(60s);
    server.stop();
    return report;
  }

  grove::HubThread hub_;
  grove::mt::AsyncResult<int> port_result_;
  grove::mt::Event stop_;
  grove::RemoteGreenThread<ServerReport> run_;
  int port_ = 0;
};

std::size_t append(char* p, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// One blocking https fetch with the easy API, verifying the server against `ca_file`;
// returns the body, or curl's error text.
std::string fetch(const std::string& url, const std::string& ca_file) {
  CURL* c = curl_easy_init();
  std::string body;
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  return rc == CURLE_OK ? body : std::string("curl error: ") + error;
}

}  // namespace

namespace {
struct Run {
  int ok = 0;
  std::string failure;  // curl's error text of a failed fetch
  double seconds = 0;
};

// `n` green threads each fetch `url` once; waits for them all.
Run fetch_all(int n, const std::string& url, const std::string& ca_file) {
  Run run;
  std::vector<grove::GreenThread<void>> gs;
  const double t0 = now_s();
  for (int i = 0; i < n; ++i) {
    gs.push_back(grove::spawn(grove::SpawnOptions{256 * 1024, ""}, [&] {
      const std::string body = fetch(url, ca_file);
      if (body == "hello") {
        ++run.ok;
      } else {
        run.failure = body;
      }
    }));
  }
  for (auto& g : gs) g.join();
  run.seconds = now_s() - t0;
  return run;
}

std::string url_of(const DelayHttpsServer& server) {
  return "https://127.0.0.1:" + std::to_string(server.port()) + "/";
}
}  // namespace

GROVE_TEST("100 green threads fetching https:// with curl_easy_perform are in flight at once") {
  grove::monkey::patch_all();
  tls_test::TestPki pki;
  const tls_test::CertFiles cert = pki.issue("localhost");  // names localhost and 127.0.0.1
  DelayHttpsServer server(cert, /*gate=*/kFetches);
  const Run run = fetch_all(kFetches, url_of(server), pki.ca_file());
  const ServerReport report = server.stop();
  MESSAGE(kFetches << " https fetches of a 200 ms response took " << run.seconds << " s; server saw "
                   << report.max_in_flight << " in flight");
  CHECK_MESSAGE(run.ok == kFetches, run.failure);
  CHECK(report.served == kFetches);
  CHECK(report.max_in_flight == kFetches);  // all in flight at once: none blocked the hub
  CHECK(run.seconds >= 0.19);
  // One after another they would take 100 x 200 ms = 20 s (after the gate's 5 s). Together
  // they take one delay plus 100 handshakes; a sanitizer build makes those much slower.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  CHECK(run.seconds < 20 * 0.2);
#else
  CHECK(run.seconds < 5 * 0.2);
#endif
}

GROVE_TEST("without patch_all() the same https fetches run one after another") {
  grove::monkey::unpatch_all();
  tls_test::TestPki pki;
  const tls_test::CertFiles cert = pki.issue("localhost");
  DelayHttpsServer server(cert, /*gate=*/0);
  const Run run = fetch_all(5, url_of(server), pki.ca_file());
  const ServerReport report = server.stop();
  MESSAGE("5 unpatched https fetches took " << run.seconds << " s");
  CHECK_MESSAGE(run.ok == 5, run.failure);
  CHECK(report.max_in_flight == 1);
  CHECK(run.seconds >= 5 * 0.2 - 0.01);
  grove::monkey::patch_all();
}
