// store_session.hpp: the store-side half of a connection accepted on another hub: a
// green thread on the store hub that executes the batches of requests the
// connection forwards (forward_link.hpp) and hands their replies back.
//
// It runs each batch in order and alone, like a Connection of the store hub runs
// its requests, so every command is as atomic as there. A BLPOP that must wait parks
// this green thread only (the store hub keeps serving everyone else); the connection
// kills it if its client hangs up meanwhile.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <grove/duration.hpp>

#include "client.hpp"
#include "forward_link.hpp"
#include "server_state.hpp"

namespace kv {

// The session's body, spawned on the store hub (grove::spawn_on) at a connection's
// first batch. Returns when the connection closes the link, or after a QUIT; closes
// link->replies on the way out, whatever ends it (a kill included), so the connection
// never waits for a session that is gone. Joins server->sessions (killed at stop).
void run_store_session(std::shared_ptr<ServerState> server, std::shared_ptr<ForwardLink> link);

class StoreSession final : public Client {
 public:
  StoreSession(ServerState& server, ForwardLink& link) : Client(server), link_(link) {}

  // Executes batches until the link is closed (ChannelClosed) or a QUIT.
  void run();

  void block_pop(std::span<const std::string_view> keys, std::optional<grove::Duration> timeout,
                 bool from_left) override;

 private:
  void execute_batch(const Batch& b);
  // Hands the replies so far to the connection (parks while it has not taken the
  // previous part).
  void send_part(Part::Kind kind);

  ForwardLink& link_;
  std::vector<std::string_view> argv_;
};

}  // namespace kv
