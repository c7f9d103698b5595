// echo_server: echoes every byte back on each TCP connection, one green thread per
// connection. Stops gracefully on Ctrl-C / SIGTERM.
//
//   echo_server --port 7000 [--host 127.0.0.1] [--max-connections N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>

#include "../common/args.hpp"
#include "../common/stop_signal.hpp"

namespace {

// Echoes until end of file; a reset or other error just ends the connection.
// The buffer is 2 KiB so that everything a connection touches per message (its
// control block, frames and buffer) stays within one page of its stack: with 16 KiB
// the recv frames sit four pages below the top, and at 1,000 connections the extra
// TLB misses cost ~5% CPU per message (bench/echo). Bigger messages just take more
// reads.
void echo(grove::net::Socket& sock, const grove::net::Address&) {
  char buf[2048];
  std::error_code ec;
  for (;;) {
    const std::size_t n = sock.recv_into(buf, sizeof buf, ec);
    if (ec || n == 0) return;
    sock.sendall(buf, n, ec);
    if (ec) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const samples::ServerArgs a =
      samples::server_args(argc, argv, "usage: echo_server --port N [--host H] [--max-connections N]");
  const std::string& host = a.host;
  const long long port = a.port;
  grove::net::StreamServerOptions opts;
  opts.name = "echo_server";
  opts.backlog = 1024;
  opts.max_connections = a.max_connections;
  try {
    samples::install_stop_signals();
    grove::net::StreamServer server(grove::net::Address::ip(host, static_cast<std::uint16_t>(port)), echo, opts);
    server.start();
    std::printf("echo_server listening on %s\n", server.address().to_string().c_str());
    std::fflush(stdout);
    const int sig = samples::wait_for_stop_signal();
    std::printf("echo_server: %s, stopping (%zu connection(s) open)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                server.connection_count());
    std::fflush(stdout);
    server.stop(std::chrono::seconds(2));
    std::printf("echo_server: stopped\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
