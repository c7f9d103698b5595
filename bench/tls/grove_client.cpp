// grove_client.cpp: grove as an HTTPS client, the work wrk does (bench/tls/run.py puts
// the two side by side against the same nginx): `conns` green threads, each with one
// verified keep-alive TLS connection (connect_tls, a BufferedStream over it), sending
// "GET / HTTP/1.1" and reading the response (Content-Length) in a closed loop.
//
//   tls_grove_client --port P --ca FILE [--conns 100] [--seconds 3] [--warmup 1]
//
// The host is 127.0.0.1 (the certificate must name it). Prints requests,
// requests_per_sec and this process's own CPU time per request over the measured
// window (CLOCK_PROCESS_CPUTIME_ID): client_cpu_ns_per_req. Exit 1 on any error.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <grove/grove.hpp>
#include <grove/net/buffered_stream.hpp>
#include <grove/net/tls_stream.hpp>

namespace {

unsigned long long cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<unsigned long long>(ts.tv_sec) * 1000000000ULL + static_cast<unsigned long long>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  long port = -1, conns = 100;
  double seconds = 3, warmup = 1;
  std::string ca;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--port") port = std::strtol(v, nullptr, 10);
    else if (a == "--ca") ca = v;
    else if (a == "--conns") conns = std::strtol(v, nullptr, 10);
    else if (a == "--seconds") seconds = std::atof(v);
    else if (a == "--warmup") warmup = std::atof(v);
    else port = -1;
  }
  if (argc % 2 == 0 || port <= 0 || port > 65535 || ca.empty() || conns <= 0 || seconds <= 0 || warmup < 0) {
    std::fprintf(stderr, "usage: tls_grove_client --port P --ca FILE [--conns N] [--seconds S] [--warmup S]\n");
    return 2;
  }
  try {
    grove::net::TlsClientOptions o;
    o.ca_file = ca;
    const auto ctx = grove::net::TlsContext::client(o);
    const std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    unsigned long long total = 0, errors = 0;
    bool stop = false;
    std::vector<grove::GreenThread<void>> workers;
    for (long i = 0; i < conns; ++i) {
      workers.push_back(grove::spawn([&] {
        try {
          auto tls = grove::net::connect_tls("127.0.0.1", static_cast<std::uint16_t>(port), ctx,
                                             std::chrono::seconds(10));
          grove::net::BufferedStream bs(tls);
          while (!stop) {
            bs.write(req);
            bs.flush();
            const std::string head = bs.read_until("\r\n\r\n", 8192);
            const char* cl = ::strcasestr(head.c_str(), "\r\ncontent-length:");
            if (head.rfind("HTTP/1.1 200", 0) != 0 || !cl) throw std::runtime_error("unexpected response: " + head);
            const std::size_t len = std::strtoul(cl + 17, nullptr, 10);
            if (bs.read_exactly(len).size() != len) throw std::runtime_error("short body");
            ++total;
          }
        } catch (const std::exception& e) {
          if (errors++ == 0) std::fprintf(stderr, "tls_grove_client: %s\n", e.what());
        }
      }));
    }
    grove::sleep(grove::seconds(warmup));
    const unsigned long long n0 = total, c0 = cpu_ns();
    const auto t0 = std::chrono::steady_clock::now();
    grove::sleep(grove::seconds(seconds));
    const unsigned long long n1 = total, c1 = cpu_ns();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stop = true;
    grove::joinall({workers.begin(), workers.end()});
    std::printf("requests: %llu\nrequests_per_sec: %.0f\nclient_cpu_ns_per_req: %.1f\n", n1 - n0, (n1 - n0) / secs,
                n1 > n0 ? static_cast<double>(c1 - c0) / static_cast<double>(n1 - n0) : 0.0);
    if (errors) {
      std::fprintf(stderr, "tls_grove_client: %llu errors\n", errors);
      return 1;
    }
    return n1 > n0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tls_grove_client: %s\n", e.what());
    return 1;
  }
}
