// connection.cpp: see connection.hpp.
#include "connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <vector>

#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/wait.hpp>

#include "commands.hpp"
#include "reply.hpp"

namespace kv {

namespace {

constexpr std::size_t kShrinkAbove = std::size_t{1} << 20;  // buffers past this shrink when drained
constexpr std::size_t kFlushAt = 64 * 1024;                 // send replies early past this
constexpr std::size_t kMinRecv = 4096;                      // compact rather than recv less

// Kills the green thread watching a blocked client's socket, and waits until it is
// dead: it reads into the connection's buffer, so it must not outlive it. Used on
// the way out of block_pop, also when this green thread is being killed (server
// stop): a second kill arriving meanwhile is dropped, since this one is already
// dying.
struct KillOnExit {
  grove::GreenThreadHandle g;
  ~KillOnExit() {
    while (!g.dead()) {
      try {
        g.kill();
      } catch (const grove::GreenletExit&) {
      }
    }
  }
};

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

void InputBuffer::consume(std::size_t n) noexcept {
  begin_ += n;
  if (begin_ == end_) begin_ = end_ = 0;
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

Connection::Connection(grove::net::Socket& sock, ServerState& server) : sock_(sock), server_(server) {
  ++server_.clients;
  std::error_code ec;  // replies go out as soon as they are sent; a failure changes nothing else
  sock_.set_option(IPPROTO_TCP, TCP_NODELAY, 1, ec);
}

Connection::~Connection() { --server_.clients; }

bool Connection::flush() {
  std::error_code ec;
  sock_.sendall(out_.data(), out_.size(), ec);
  out_.clear();
  if (out_.capacity() > kShrinkAbove) std::string().swap(out_);
  return !ec;
}

void Connection::run() {
  for (;;) {
    // Everything buffered, then one send for all the replies.
    for (;;) {
      const auto st = parser_.parse(in_.data(), in_.size());
      if (st == RequestParser::Status::kIncomplete) break;
      if (st == RequestParser::Status::kError) {
        reply::error(out_, "ERR " + parser_.error());
        flush();
        return;
      }
      // Consumed first: a blocking pop may receive more while it waits (the
      // arguments stay valid until then; block_pop copies what it keeps).
      in_.consume(parser_.consumed());
      if (!parser_.argv().empty()) execute(*this, parser_.argv());
      if (closing_) {
        flush();
        return;
      }
      if (out_.size() >= kFlushAt && !flush()) return;
    }
    if (!out_.empty() && !flush()) return;
    if (!in_.fill(sock_, parser_.needed())) return;
  }
}

void Connection::block_pop(std::span<const std::string_view> keys, std::optional<grove::Duration> timeout,
                           bool from_left) {
  // A pipelining client may be waiting for the replies to earlier requests.
  if (!out_.empty() && !flush()) {
    closing_ = true;
    return;
  }
  BlockedPop bp(store(), from_left);
  store().block(bp, keys);
  // Someone must read the socket meanwhile, to notice a client that hangs up (its
  // BlockedPop must not take an element nobody will receive). What it reads stays
  // in the buffer for after the pop, as redis buffers a blocked client's requests.
  grove::GreenThread<void> watcher = grove::spawn(grove::SpawnOptions{.name = "kv_server-blocked-reader"}, [this] {
    while (in_.fill(sock_, 0)) {
    }
  });
  KillOnExit guard{watcher};
  grove::wait({&bp.served, &watcher}, timeout, 1);
  if (bp.served.is_set()) {
    reply::array(out_, 2);
    reply::bulk(out_, bp.key);
    reply::bulk(out_, bp.value);
  } else if (watcher.dead()) {
    closing_ = true;  // hung up (or sent more than the buffer may hold)
  } else {
    reply::nil_array(out_);
  }
  watcher.kill();
}

}  // namespace kv
