// monkey_curl_test.cpp: libcurl's easy (blocking) API, unchanged, made concurrent by
// patch_all(): 100 green threads each fetch once from a server that answers after
// 50 ms; the server sees all 100 requests in flight at once (it holds its answers
// until they are, for at most 5 s).
#include <curl/curl.h>

#include <string>
#include <vector>

#include <grove/monkey.hpp>

#include "delay_http_server.hpp"
#include "monkey_util.hpp"

using namespace std::chrono_literals;
using grove::test::DelayHttpServer;
using grove::test::now_s;

namespace {

const bool g_started = [] {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  grove::current();
  return true;
}();

std::size_t append(char* p, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// One blocking fetch with the easy API; returns the body ("" on failure).
std::string fetch(const std::string& url) {
  CURL* c = curl_easy_init();
  std::string body;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  return rc == CURLE_OK ? body : std::string();
}

struct Run {
  int ok = 0;
  double seconds = 0;
};

Run fetch_all(int n, int port) {
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  Run run;
  std::vector<grove::GreenThread<void>> gs;
  const double t0 = now_s();
  for (int i = 0; i < n; ++i) {
    gs.push_back(grove::spawn(grove::SpawnOptions{256 * 1024, ""}, [&] {
      if (fetch(url) == "hello") ++run.ok;
    }));
  }
  for (auto& g : gs) g.join();
  run.seconds = now_s() - t0;
  return run;
}

}  // namespace

GROVE_TEST("100 green threads fetching with curl_easy_perform are in flight at once") {
  grove::monkey::patch_all();
  DelayHttpServer server(50ms, /*gate=*/100);
  const Run run = fetch_all(100, server.port());
  MESSAGE("100 fetches of a 50 ms response took " << run.seconds << " s; server saw "
          << server.max_in_flight() << " in flight");
  CHECK(run.ok == 100);
  CHECK(server.max_in_flight() == 100);
  CHECK(run.seconds >= 0.045);
  CHECK(run.seconds < 4.5);  // one after another: 5 s of gate, then 99 x 50 ms
}

GROVE_TEST("without patch_all() the same fetches run one after another") {
  grove::monkey::unpatch_all();
  DelayHttpServer server(50ms);
  const Run run = fetch_all(5, server.port());
  MESSAGE("5 unpatched fetches took " << run.seconds << " s");
  CHECK(run.ok == 5);
  CHECK(server.max_in_flight() == 1);
  CHECK(run.seconds >= 0.24);
  grove::monkey::patch_all();
}
