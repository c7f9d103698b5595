// input_buffer.cpp: see input_buffer.hpp.
#include "input_buffer.hpp"

#include <algorithm>
#include <cstring>
#include <system_error>

namespace kv {

namespace {
constexpr std::size_t kMinRecv = 4096;  // compact rather than recv less
}  // namespace

void InputBuffer::reallocate(std::size_t capacity) {
  auto fresh = std::make_unique_for_overwrite<char[]>(capacity);
  if (end_ > begin_) std::memcpy(fresh.get(), buf_.get() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  buf_ = std::move(fresh);
  capacity_ = capacity;
}

void InputBuffer::compact() noexcept {
  std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

bool InputBuffer::fill(grove::net::Socket& sock, std::size_t needed) {
  const std::size_t want = std::max(needed, size() + 1);
  if (want > kMaxQueryBuffer) return false;
  if (size() == 0 && capacity_ > kShrinkAbove && want <= kInitialSize) {
    // Drained after a burst: start small again. Here, not in consume(): the
    // arguments of the request just consumed still point into the buffer.
    buf_.reset();
    capacity_ = begin_ = end_ = 0;
  }
  // Room for `want` bytes from data(), and for a recv of kMinRecv at least: compact
  // if that fits, else double the buffer. Doubling, not jumping to `want`, so memory
  // follows the bytes that arrive: announcing a 512 MiB bulk costs nothing until it
  // is sent.
  const std::size_t room = std::max(want, size() + kMinRecv);
  if (capacity_ - begin_ < room) {
    if (room <= capacity_) {
      compact();
    } else {
      reallocate(std::max(kInitialSize, std::min(capacity_ * 2, kMaxQueryBuffer)));
    }
  }
  std::error_code ec;
  const std::size_t n = sock.recv_into(buf_.get() + end_, capacity_ - end_, ec);
  if (ec || n == 0) return false;
  end_ += n;
  return true;
}

}  // namespace kv
