// kv_server: a Redis-protocol (RESP2) key-value server, one green thread per
// connection. redis-cli, redis-benchmark and hiredis talk to it unchanged.
// Stops gracefully on Ctrl-C / SIGTERM.
//
//   kv_server --port 6379 [--host 127.0.0.1] [--max-connections N]
//
// Files: connection.* (the per-connection loop and its buffers), resp_parser.*
// (requests, in place), commands.* (the command table), store.* (keys, expiry,
// blocked pops), reply.hpp (RESP replies), glob.* (KEYS patterns).
#include <cstdio>
#include <cstdlib>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>

#include "../common/args.hpp"
#include "../common/stop_signal.hpp"
#include "connection.hpp"

namespace {

// Active expiry: ten times a second, delete keys whose time has passed, at most
// 1,000 before letting connections run again (redis's activeExpireCycle has the
// same aim: bounded work per turn, so a mass expiry does not stall clients).
void sweep_expired(kv::Store& store) {
  for (;;) {
    grove::sleep(std::chrono::milliseconds(100));
    while (store.sweep(1000) == 1000) grove::yield();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const samples::ServerArgs a =
      samples::server_args(argc, argv, "usage: kv_server --port N [--host H] [--max-connections N]");
  const std::string& host = a.host;
  const long long port = a.port;
  grove::net::StreamServerOptions opts;
  opts.name = "kv_server";
  opts.backlog = 1024;
  opts.max_connections = a.max_connections;
  try {
    samples::install_stop_signals();
    kv::ServerState state;
    grove::net::StreamServer server(
        grove::net::Address::ip(host, static_cast<std::uint16_t>(port)),
        [&state](grove::net::Socket& sock, const grove::net::Address&) {
          kv::Connection conn(sock, state);
          conn.run();
        },
        opts);
    server.start();
    auto sweeper = grove::spawn(grove::SpawnOptions{.name = "kv_server-expiry"}, sweep_expired, std::ref(state.store));
    std::printf("kv_server listening on %s\n", server.address().to_string().c_str());
    std::fflush(stdout);
    const int sig = samples::wait_for_stop_signal();
    std::printf("kv_server: %s, stopping (%zu connection(s) open)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                server.connection_count());
    std::fflush(stdout);
    server.stop(std::chrono::seconds(2));
    sweeper.kill();
    std::printf("kv_server: stopped\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kv_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
