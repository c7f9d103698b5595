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
#include "kill_on_exit.hpp"
#include "reply.hpp"

namespace kv {

Connection::Connection(grove::net::Socket& sock, ServerState& server) : Client(server), sock_(sock) {
  server_.clients.fetch_add(1, std::memory_order_relaxed);
  std::error_code ec;  // replies go out as soon as they are sent; a failure changes nothing else
  sock_.set_option(IPPROTO_TCP, TCP_NODELAY, 1, ec);
}

Connection::~Connection() { server_.clients.fetch_sub(1, std::memory_order_relaxed); }

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
  // Registered first: flush() may park, and a push meanwhile must find this client
  // waiting (the command found every key empty; nothing may change that before it
  // is registered).
  BlockedPop bp(store(), from_left);
  store().block(bp, keys);
  // A pipelining client may be waiting for the replies to earlier requests.
  if (!out_.empty() && !flush()) {
    closing_ = true;
    return;
  }
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
