// input_buffer.hpp: a connection's receive buffer (both kinds of connection: the one
// served on the store hub and the one forwarding from another hub).
#pragma once

#include <cstddef>
#include <memory>

#include <grove/net/socket.hpp>

namespace kv {

// Buffers shrink back to nothing after a burst that grew them past this, once drained.
inline constexpr std::size_t kShrinkAbove = std::size_t{1} << 20;

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
  // Inline: it runs once per request.
  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
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

}  // namespace kv
