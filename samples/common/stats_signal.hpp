// stats_signal.hpp: the samples' --stats option (samples only). While the returned
// handle lives, each SIGUSR2 prints one line on stdout:
//
//   NAME: stats connections=N green_threads=M
//
// connections: the server's open connections (all hubs); green_threads: the live green
// threads of the hub that registered it (the main thread's: with --hubs 1, all of
// them), the one printing this line not counted. bench/soak reads it to check that a
// long run leaves no green thread behind. Only for a server in this process (not
// --workers).
#pragma once

#include <signal.h>

#include <cstdio>

#include <grove/scheduler.hpp>
#include <grove/signal.hpp>
#include <grove/net/stream_server.hpp>

namespace samples {

inline grove::SignalHandler stats_on_sigusr2(const char* name, const grove::net::StreamServer& server) {
  return grove::signal_handler(SIGUSR2, [name, &server] {
    std::printf("%s: stats connections=%zu green_threads=%zu\n", name, server.connection_count(),
                grove::hub_stats().live_green_threads - 1);
    std::fflush(stdout);
  });
}

}  // namespace samples
