// echo_client: N concurrent green threads, each sending messages to an echo server
// and checking what comes back; reports messages per second.
//
//   echo_client --port N [--host 127.0.0.1] [--conns 100] [--seconds 2] [--size 64]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <grove/grove.hpp>
#include <grove/net/socket.hpp>

#include "../common/args.hpp"

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = -1, conns = 100, size = 64;
  double seconds = 2;
  samples::Args args(argc, argv, "usage: echo_client --port N [--host H] [--conns N] [--seconds S] [--size B]");
  while (args.next()) {
    if (args.is("--port")) port = args.number(1, 65535);
    else if (args.is("--host")) host = args.text();
    else if (args.is("--conns")) conns = args.number(1, 1000000);
    else if (args.is("--seconds")) seconds = args.real(0, 86400);
    else if (args.is("--size")) size = args.number(1, 65536);
    else args.usage();
  }
  if (port < 0) args.usage_missing();
  const auto addr = grove::net::Address::ip(host, static_cast<std::uint16_t>(port));
  std::uint64_t total = 0, errors = 0;
  bool stop = false;
  std::vector<grove::GreenThread<void>> workers;
  for (long i = 0; i < conns; ++i) {
    workers.push_back(grove::spawn([&, i] {
      try {
        grove::net::Socket s = grove::net::Socket::tcp(addr.family());
        s.connect(addr, std::chrono::seconds(10));
        s.set_nodelay(true);
        s.settimeout(std::chrono::seconds(10));
        std::string msg(static_cast<std::size_t>(size), static_cast<char>('a' + i % 26));
        std::string back(msg.size(), '\0');
        while (!stop) {
          s.sendall(msg);
          if (s.recv_exactly(back.data(), back.size()) != back.size() || back != msg) {
            ++errors;
            return;
          }
          ++total;
        }
      } catch (const std::exception& e) {
        if (errors++ == 0) std::fprintf(stderr, "echo_client: %s\n", e.what());
      }
    }));
  }
  const auto t0 = std::chrono::steady_clock::now();
  grove::sleep(grove::seconds(seconds));
  stop = true;
  grove::joinall({workers.begin(), workers.end()});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("echo_client: %ld connections, %llu messages of %ld bytes in %.2f s: %.0f msgs/s, %llu errors\n", conns,
              static_cast<unsigned long long>(total), size, secs, total / secs,
              static_cast<unsigned long long>(errors));
  return errors ? 1 : 0;
}
