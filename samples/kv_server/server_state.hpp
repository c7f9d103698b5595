// server_state.hpp: what every connection of one kv_server shares, on every hub.
//
// With --hubs N the keyspace lives on one hub, the store hub (the main thread's):
// only green threads of that hub touch `store` and `sessions`. Connections on the
// other hubs forward their requests there (remote_connection.hpp says how, and why
// not a keyspace sharded by hub).
#pragma once

#include <atomic>
#include <cstddef>

#include <grove/group.hpp>
#include <grove/hub_ref.hpp>

#include "store.hpp"

namespace kv {

struct ServerState {
  // Store hub only.
  Store store;
  // The hub that owns `store` and executes every command.
  grove::HubRef store_hub;
  // Store hub only: the green threads executing the requests of connections on other
  // hubs (store_session.hpp), killed together when the server stops.
  grove::Group sessions;
  // Open connections on every hub (INFO's connected_clients). Counted once per
  // connection, never per request.
  std::atomic<std::size_t> clients{0};
};

}  // namespace kv
