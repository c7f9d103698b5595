// connection.hpp: one client of kv_server accepted on the store hub, served by its
// own green thread, which executes its requests itself (no hand-off: with --hubs 1
// every connection is one of these).
//
// The loop: parse every complete request in the receive buffer and execute it,
// appending each reply to the output buffer; send the output in one send; receive
// more. So a client that pipelines N requests gets N replies from one send (two or
// more only past 64 KiB of replies), and a lone request costs one recv and one send.
//
// Buffers belong to the connection and are reused: requests are parsed in place
// (arguments are views into the receive buffer), replies appended to a string that
// keeps its capacity. Both shrink back after a burst that grew them past 1 MiB.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include <grove/duration.hpp>
#include <grove/net/socket.hpp>

#include "client.hpp"
#include "input_buffer.hpp"
#include "resp_parser.hpp"
#include "server_state.hpp"

namespace kv {

// Replies are sent early once this many are buffered (by both kinds of connection).
inline constexpr std::size_t kFlushAt = 64 * 1024;

class Connection final : public Client {
 public:
  Connection(grove::net::Socket& sock, ServerState& server);
  ~Connection();

  // Serves requests until the client hangs up, sends a malformed frame, or QUIT.
  void run();

  void block_pop(std::span<const std::string_view> keys, std::optional<grove::Duration> timeout,
                 bool from_left) override;

 private:
  bool flush();

  grove::net::Socket& sock_;
  InputBuffer in_;
  RequestParser parser_;
};

}  // namespace kv
