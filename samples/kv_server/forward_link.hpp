// forward_link.hpp: what a connection on another hub (remote_connection.hpp) and its
// green thread on the store hub (store_session.hpp) pass each other.
//
// Requests go one Batch at a time: every complete request parsed from one read, their
// arguments copied back to back (the receive buffer is reused as soon as the batch is
// sent, and the batch must outlive a connection that closes while it is in flight).
// Replies come back as Parts: normally one, kDone, carrying every reply of the batch
// and the spent batch (its buffers keep their capacity for the next one). Before that,
// kMore parts when the replies pass kFlushAt (so they need no more memory than on the
// store hub's own connections), and a kBlocked part when a BLPOP parks: the replies so
// far, and the news that the connection should watch its socket meanwhile (a client
// that hangs up must not take an element; the connection then kills the session).
//
// Each channel holds one item: one batch is in flight per connection, and a session
// with replies faster than its client reads them parks (only itself) in put().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <grove/mt/channel.hpp>

namespace kv {

struct Batch {
  std::string bytes;                 // every argument of every request, back to back
  std::vector<std::uint32_t> shape;  // per request: its argument count, then each argument's length
  std::string replies;               // an empty buffer (with capacity) for the replies

  bool empty() const noexcept { return shape.empty(); }
  void clear() noexcept {
    bytes.clear();
    shape.clear();
  }
  // Appends one request (bulks are at most 512 MiB, argument counts at most 2^20).
  void add(const std::vector<std::string_view>& argv) {
    shape.push_back(static_cast<std::uint32_t>(argv.size()));
    for (const std::string_view a : argv) {
      shape.push_back(static_cast<std::uint32_t>(a.size()));
      bytes.append(a);
    }
  }
};

struct Part {
  enum class Kind : std::uint8_t { kMore, kBlocked, kDone };
  Kind kind = Kind::kDone;
  bool close = false;   // kDone after QUIT: close once the replies are sent
  std::string replies;  // to send, in order
  Batch spent;          // kDone: the batch, handed back for reuse
};

struct ForwardLink {
  grove::mt::Channel<Batch> requests{1};  // remote connection -> session
  grove::mt::Channel<Part> replies{1};    // session -> remote connection
};

}  // namespace kv
