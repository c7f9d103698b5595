// client.hpp: what a command runs against (commands.hpp): the store, the client's
// output buffer, and the client's way of blocking.
//
// Two kinds of client run commands, both on the store hub:
//   - Connection (connection.hpp): a connection accepted on the store hub, served by
//     its own green thread, which executes its requests directly;
//   - StoreSession (store_session.hpp): the store-side green thread of a connection
//     accepted on another hub, executing the batches of requests that hub forwards.
// Everything but block_pop is an inline member of this class, so a command costs the
// same as before there were two kinds.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <grove/duration.hpp>

#include "server_state.hpp"
#include "store.hpp"

namespace kv {

class Client {
 public:
  explicit Client(ServerState& server) noexcept : server_(server) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Store& store() noexcept { return server_.store; }
  ServerState& server() noexcept { return server_; }
  // Replies are appended here.
  std::string& out() noexcept { return out_; }
  // Closes the connection once the replies so far are sent (QUIT).
  void close_after_reply() noexcept { closing_ = true; }
  bool closing() const noexcept { return closing_; }

  // BLPOP / BRPOP once every key was found empty: registers the client on `keys`
  // (before anything parks, so no push can slip in between the check and the
  // registration), sends the replies so far, then parks this green thread until an
  // element is handed over (replies [key, value]), `timeout` passes (nullopt: never;
  // replies a nil array), or the client hangs up (the connection closes). Copies what
  // it needs from `keys` before it parks.
  virtual void block_pop(std::span<const std::string_view> keys, std::optional<grove::Duration> timeout,
                         bool from_left) = 0;

 protected:
  ~Client() = default;

  ServerState& server_;
  std::string out_;
  bool closing_ = false;
};

}  // namespace kv
