// kill_on_exit.hpp: the guard that stops the green thread watching a blocked
// client's socket (both kinds of connection have one while a BLPOP waits).
#pragma once

#include <grove/errors.hpp>
#include <grove/green_thread.hpp>

namespace kv {

// Kills the green thread watching a blocked client's socket, and waits until it is
// dead: it reads into the connection's buffer, so it must not outlive it. Used on
// the way out of a blocked pop, also when this green thread is being killed (server
// stop): a second kill arriving meanwhile is dropped, since this one is already
// dying.
// An empty handle is nothing to stop.
struct KillOnExit {
  grove::GreenThreadHandle g;
  void stop() {
    while (g && !g.dead()) {
      try {
        g.kill();
      } catch (const grove::GreenletExit&) {
      }
    }
  }
  ~KillOnExit() { stop(); }
};

}  // namespace kv
