// echo_server: echoes every byte back on each TCP connection, one green thread per
// connection. Stops gracefully on Ctrl-C / SIGTERM.
//
//   echo_server --port 7000 [--host 127.0.0.1] [--max-connections N] [--hubs N] [--workers N]
//               [--stats]
//
// --hubs N serves on N hubs (N OS threads, one SO_REUSEPORT listener each); --workers N
// forks N worker processes sharing one listener, under a supervisor (SIGHUP restarts
// them one by one). See samples/common/serve.hpp. --stats: each SIGUSR2 prints
// a stats line (samples/common/stats_signal.hpp; bench/soak reads it).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>

#include "../common/args.hpp"
#include "../common/serve.hpp"

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
  const samples::ServerArgs a = samples::server_args(
      argc, argv, "usage: echo_server --port N [--host H] [--max-connections N] [--hubs N] [--workers N] [--stats]");
  grove::net::StreamServerOptions opts;
  opts.backlog = 1024;
  return samples::serve("echo_server", a, echo, opts);
}
