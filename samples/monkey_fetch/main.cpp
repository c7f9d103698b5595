// monkey_fetch: fetches many URLs at once with libcurl's easy (blocking) API,
// unchanged, on one OS thread: grove::monkey makes curl's blocking socket calls park
// only the green thread that made them.
//
//   monkey_fetch [--concurrency 100] [--timeout-ms 10000] [--no-patch] URL...
//
// Prints one line per URL (`<status> <bytes> <ms> <url>`, or `error <message> <url>`),
// then `fetched N of M in T ms`. Exit status 0 if every fetch got an HTTP response.
// --no-patch leaves libc alone: the same code then fetches one URL after another.
#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <grove/grove.hpp>
#include <grove/monkey.hpp>

#include "../common/args.hpp"

namespace {

struct Result {
  long status = 0;
  std::size_t bytes = 0;
  double ms = 0;
  std::string error;
};

std::size_t count_bytes(char*, std::size_t size, std::size_t n, void* user) {
  *static_cast<std::size_t*>(user) += size * n;
  return size * n;
}

// Plain blocking libcurl code, as any program would write it.
Result fetch(const std::string& url, long timeout_ms) {
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  CURL* curl = curl_easy_init();
  if (!curl) {
    r.error = "curl_easy_init failed";
    return r;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_bytes);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.bytes);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM-based DNS timeouts
  const CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.error = curl_easy_strerror(rc);
  }
  curl_easy_cleanup(curl);
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  long concurrency = 100, timeout_ms = 10000;
  bool patch = true;
  std::vector<std::string> urls;
  samples::Args args(argc, argv, "usage: monkey_fetch [--concurrency N] [--timeout-ms MS] [--no-patch] URL...");
  while (args.next()) {
    if (args.is("--concurrency")) concurrency = args.number(1, 100000);
    else if (args.is("--timeout-ms")) timeout_ms = args.number(1, 86400000);
    else if (args.is("--no-patch")) patch = false;
    else if (args.positional()) urls.push_back(args.current());
    else args.usage();
  }
  if (urls.empty()) args.usage_missing();
  if (patch) grove::monkey::patch_all();  // before any socket exists
  curl_global_init(CURL_GLOBAL_DEFAULT);

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Result> results(urls.size());
  grove::Pool pool(static_cast<std::size_t>(concurrency));
  for (std::size_t i = 0; i < urls.size(); ++i) {
    pool.spawn([&, i] { results[i] = fetch(urls[i], timeout_ms); });
  }
  pool.join();
  const double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  std::size_t ok = 0;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    const Result& r = results[i];
    if (r.error.empty()) {
      ++ok;
      std::printf("%ld %zu %.1f %s\n", r.status, r.bytes, r.ms, urls[i].c_str());
    } else {
      std::printf("error %s %s\n", r.error.c_str(), urls[i].c_str());
    }
  }
  std::printf("fetched %zu of %zu in %.1f ms\n", ok, urls.size(), total_ms);
  curl_global_cleanup();
  return ok == urls.size() ? 0 : 1;
}
