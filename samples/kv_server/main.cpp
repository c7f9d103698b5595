// kv_server: a Redis-protocol (RESP2) key-value server, one green thread per
// connection. redis-cli, redis-benchmark and hiredis talk to it unchanged.
// Stops gracefully on Ctrl-C / SIGTERM.
//
//   kv_server --port 6379 [--host 127.0.0.1] [--max-connections N] [--hubs N] [--stats]
//
// --hubs N accepts and serves connections on N hubs (OS threads) while one of them,
// the store hub (the main thread's), owns the keyspace and executes every command in
// order: redis 6's I/O threads. Connections on the other hubs forward batches of
// requests to it (remote_connection.hpp says how, and why not shard the keyspace).
// --workers N (prefork) is refused: worker processes would each have a keyspace of
// their own.
//
// Files: connection.* (a connection of the store hub: its loop and buffers),
// remote_connection.* / store_session.* / forward_link.hpp (a connection of another
// hub and its store-side half), client.hpp (what commands run against),
// server_state.hpp (what all connections share), input_buffer.* (receive buffers),
// resp_parser.* (requests, in place), commands.* (the command table), store.* (keys,
// expiry, blocked pops), reply.hpp (RESP replies), glob.* (KEYS patterns).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>

#include "../common/args.hpp"
#include "../common/stats_signal.hpp"
#include "../common/stop_signal.hpp"
#include "connection.hpp"
#include "remote_connection.hpp"
#include "server_state.hpp"

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
  const samples::ServerArgs a = samples::server_args(
      argc, argv,
      "usage: kv_server --port N [--host H] [--max-connections N] [--hubs N] [--stats]\n"
      "  (no --workers: worker processes would not share one keyspace; --hubs N serves on N threads)");
  if (a.workers != 0) {
    std::fprintf(stderr,
                 "kv_server: --workers is not offered: each worker process would have a keyspace of its own, so a "
                 "client would see different data depending on the worker that accepted it; use --hubs N (one "
                 "keyspace, connections served on N threads)\n");
    return 2;
  }
  const std::string& host = a.host;
  const long long port = a.port;
  grove::net::StreamServerOptions opts;
  opts.name = "kv_server";
  opts.backlog = 1024;
  opts.max_connections = a.max_connections;
  opts.hubs = a.hubs;  // the main thread's hub (the store hub) and hubs - 1 more
  try {
    samples::install_stop_signals();
    auto state = std::make_shared<kv::ServerState>();
    state->store_hub = grove::this_hub();
    grove::net::StreamServer server(
        grove::net::Address::ip(host, static_cast<std::uint16_t>(port)),
        [state](grove::net::Socket& sock, const grove::net::Address&) {
          if (state->store_hub.is_current()) {
            kv::Connection conn(sock, *state);  // executes its requests itself
            conn.run();
          } else {
            kv::RemoteConnection conn(sock, state);  // forwards them to the store hub
            conn.run();
          }
        },
        opts);
    server.start();
    grove::SignalHandler stats;
    if (a.stats) stats = samples::stats_on_sigusr2("kv_server", server);
    auto sweeper = grove::spawn(grove::SpawnOptions{.name = "kv_server-expiry"}, sweep_expired, std::ref(state->store));
    std::printf("kv_server listening on %s\n", server.address().to_string().c_str());
    std::fflush(stdout);
    const int sig = samples::wait_for_stop_signal();
    std::printf("kv_server: %s, stopping (%zu connection(s) open)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                server.connection_count());
    std::fflush(stdout);
    server.stop(std::chrono::seconds(2));  // every hub's connections, then the hub threads
    // Sessions whose connections are gone end by themselves; kill any left (a BLPOP
    // whose kill is still on its way).
    state->sessions.kill(std::chrono::seconds(1));
    sweeper.kill();
    std::printf("kv_server: stopped\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kv_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
