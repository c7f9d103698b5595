// udp_echo: sends every UDP datagram back to its sender.
//
//   udp_echo --port N [--host 127.0.0.1]
#include <cstdio>
#include <cstdlib>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/datagram_server.hpp>

#include "../common/args.hpp"
#include "../common/stop_signal.hpp"

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = -1;
  samples::Args args(argc, argv, "usage: udp_echo --port N [--host H]");
  while (args.next()) {
    if (args.is("--port")) port = args.number(0, 65535);
    else if (args.is("--host")) host = args.text();
    else args.usage();
  }
  if (port < 0) args.usage_missing();
  try {
    samples::install_stop_signals();
    grove::net::DatagramServerOptions opts;
    opts.name = "udp_echo";
    grove::net::DatagramServer server(
        grove::net::Address::ip(host, static_cast<std::uint16_t>(port)),
        [](grove::net::Socket& sock, std::string_view data, const grove::net::Address& from) {
          std::error_code ec;  // a full send buffer or an unreachable sender drops the reply
          sock.sendto(data.data(), data.size(), from, ec);
        },
        opts);
    server.start();
    std::printf("udp_echo listening on %s\n", server.address().to_string().c_str());
    std::fflush(stdout);
    samples::wait_for_stop_signal();
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "udp_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
