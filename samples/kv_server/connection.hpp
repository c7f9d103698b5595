// connection.hpp: one client of kv_server, served by its own green thread.
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
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <grove/duration.hpp>
#include <grove/net/socket.hpp>

#include "resp_parser.hpp"
#include "store.hpp"

namespace kv {

// What every connection of one server shares.
struct ServerState {
  Store store;
  std::size_t clients = 0;
};

// The receive buffer: bytes [begin, end) are received and not yet consumed.
class InputBuffer {
 public:
  // A request (with everything pipelined behind it) may hold up to 1 GiB, redis's
  // default client-query-buffer-limit; a client needing more is disconnected.
  static constexpr std::size_t kMaxQueryBuffer = std::size_t{1} << 30;
  static constexpr std::size_t kInitialSize = 16 * 1024;

  char* data() noexcept { return buf_.get() + begin_; }
  std::size_t size() const noexcept { return end_ - begin_; }
  // Drops n bytes from the front. The bytes stay where they are until the next fill().
  void consume(std::size_t n) noexcept;
  // One recv, after making room for more bytes: toward `needed` (the parser's
  // hint) from data(), at most doubling the buffer per call. False at end of file,
  // on an error, or if `needed` passes kMaxQueryBuffer.
  bool fill(grove::net::Socket& sock, std::size_t needed);

 private:
  void reallocate(std::size_t capacity);
  void compact() noexcept;  // moves the data to the front
  std::unique_ptr<char[]> buf_;
  std::size_t capacity_ = 0, begin_ = 0, end_ = 0;
};

class Connection {
 public:
  Connection(grove::net::Socket& sock, ServerState& server);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Serves requests until the client hangs up, sends a malformed frame, or QUIT.
  void run();

  // For the commands.
  Store& store() noexcept { return server_.store; }
  ServerState& server() noexcept { return server_; }
  std::string& out() noexcept { return out_; }
  // Closes the connection once the replies so far are sent (QUIT).
  void close_after_reply() noexcept { closing_ = true; }
  // BLPOP / BRPOP once every key was found empty: sends the replies so far, then
  // parks this green thread until an element is handed over (replies [key, value]),
  // `timeout` passes (nullopt: never; replies a nil array), or the client hangs up
  // (the connection closes). Copies what it needs from `keys` before it parks.
  void block_pop(std::span<const std::string_view> keys, std::optional<grove::Duration> timeout, bool from_left);

 private:
  bool flush();

  grove::net::Socket& sock_;
  ServerState& server_;
  InputBuffer in_;
  RequestParser parser_;
  std::string out_;
  bool closing_ = false;
};

}  // namespace kv
