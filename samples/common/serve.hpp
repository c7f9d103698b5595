// serve.hpp: how the server samples run a StreamServer until Ctrl-C / SIGTERM (samples
// only): in this process, on --hubs N hubs (N OS threads, SO_REUSEPORT listeners), or
// with --workers N in N prefork worker processes, each on --hubs N hubs, under a
// supervisor that restarts a worker that dies, stops them all gracefully on SIGTERM /
// SIGINT and restarts them one by one on SIGHUP (grove/net/prefork.hpp).
//
//   return samples::serve("echo_server", args, handler, opts);
//
// Prints "NAME listening on H:P" once the port is open, then "NAME: stopped" after a
// graceful stop (the tests and benchmarks read both lines). Returns the process's exit
// status.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include <grove/grove.hpp>
#include <grove/net/prefork.hpp>
#include <grove/net/stream_server.hpp>

#include "args.hpp"
#include "stats_signal.hpp"
#include "stop_signal.hpp"

namespace samples {

// How long a graceful stop lets open connections finish before they are killed (and
// before the prefork supervisor SIGKILLs a worker).
inline constexpr std::chrono::seconds kStopTimeout{2};

// The listening socket for host:port, bound here (SO_REUSEADDR) so that the prefork
// workers share it.
inline grove::net::Socket listen_on(const ServerArgs& a, int backlog) {
  const auto addr = grove::net::Address::ip(a.host, static_cast<std::uint16_t>(a.port));
  grove::net::Socket s(addr.family(), grove::net::SocketType::kStream);
  s.set_reuse_address(true);
  s.bind(addr);
  s.listen(backlog);
  return s;
}

inline int serve(const char* name, const ServerArgs& a, grove::net::StreamServer::Handler handler,
                 grove::net::StreamServerOptions opts) {
  opts.name = name;
  opts.hubs = a.hubs;
  if (opts.max_connections == 0) opts.max_connections = a.max_connections;
  try {
    if (a.workers == 0) {
      install_stop_signals();
      grove::net::StreamServer server(grove::net::Address::ip(a.host, static_cast<std::uint16_t>(a.port)),
                                      std::move(handler), opts);
      server.start();
      grove::SignalHandler stats;
      if (a.stats) stats = stats_on_sigusr2(name, server);
      std::printf("%s listening on %s (%zu hub(s))\n", name, server.address().to_string().c_str(), a.hubs);
      std::fflush(stdout);
      const int sig = wait_for_stop_signal();
      std::printf("%s: %s, stopping (%zu connection(s) open)\n", name, sig == SIGINT ? "SIGINT" : "SIGTERM",
                  server.connection_count());
      std::fflush(stdout);
      server.stop(kStopTimeout);
    } else {
      grove::net::PreforkOptions po;
      po.workers = a.workers;
      po.stop_timeout = kStopTimeout + std::chrono::seconds(3);  // the workers' own stop, then SIGKILL
      po.name = name;
      grove::net::PreforkSupervisor supervisor(
          listen_on(a, opts.backlog),
          [&handler, &opts](grove::net::PreforkWorker& w) {
            grove::net::StreamServer server(std::move(w.listener()), handler, opts);
            server.start();
            w.wait_for_stop();
            server.stop(kStopTimeout);
          },
          po);
      std::printf("%s listening on %s (%zu worker process(es), %zu hub(s) each)\n", name,
                  supervisor.address().to_string().c_str(), a.workers, a.hubs);
      std::fflush(stdout);
      supervisor.run();  // until SIGINT / SIGTERM: every worker stopped and reaped
    }
    std::printf("%s: stopped\n", name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
  return 0;
}

}  // namespace samples
