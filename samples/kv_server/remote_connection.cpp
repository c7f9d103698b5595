// remote_connection.cpp: see remote_connection.hpp.
#include "remote_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <system_error>
#include <utility>

#include <grove/errors.hpp>
#include <grove/green_thread.hpp>

#include "kill_on_exit.hpp"
#include "reply.hpp"
#include "store_session.hpp"

namespace kv {

RemoteConnection::RemoteConnection(grove::net::Socket& sock, std::shared_ptr<ServerState> server)
    : sock_(sock), server_(std::move(server)) {
  server_->clients.fetch_add(1, std::memory_order_relaxed);
  std::error_code ec;  // replies go out as soon as they are sent; a failure changes nothing else
  sock_.set_option(IPPROTO_TCP, TCP_NODELAY, 1, ec);
}

RemoteConnection::~RemoteConnection() {
  if (link_) {
    // A session waiting for the next batch, or to hand over replies, ends on its own
    // (ChannelClosed); one that may be parked in a BLPOP needs the kill.
    link_->requests.close();
    link_->replies.close();
    if (in_flight_) {
      try {
        session_.kill_nowait();
      } catch (...) {
        // Cannot be queued (no memory): the session ends at its pop's timeout, or at
        // the server's stop, which kills every session.
      }
    }
  }
  server_->clients.fetch_sub(1, std::memory_order_relaxed);
}

bool RemoteConnection::send(const std::string& bytes) {
  std::error_code ec;
  sock_.sendall(bytes.data(), bytes.size(), ec);
  return !ec;
}

void RemoteConnection::run() {
  for (;;) {
    bool malformed = false;
    for (;;) {
      const auto st = parser_.parse(in_.data(), in_.size());
      if (st == RequestParser::Status::kIncomplete) break;
      if (st == RequestParser::Status::kError) {
        malformed = true;
        break;
      }
      if (!parser_.argv().empty()) batch_.add(parser_.argv());
      in_.consume(parser_.consumed());
    }
    if (!batch_.empty()) {
      const std::size_t buffered = in_.size();
      if (!forward()) return;
      if (closing_) return;  // QUIT: what follows it is not run, a malformed frame included
      // A BLPOP's watcher may have read more requests meanwhile: parse them first.
      if (!malformed && in_.size() != buffered) continue;
    }
    if (malformed) {
      std::string err;
      reply::error(err, "ERR " + parser_.error());
      send(err);
      return;
    }
    if (!in_.fill(sock_, parser_.needed())) return;
  }
}

bool RemoteConnection::forward() {
  if (!link_) {
    link_ = std::make_shared<ForwardLink>();
    session_ = grove::spawn_on(server_->store_hub, run_store_session, server_, link_);
  }
  batch_.replies = std::move(spare_);
  try {
    // Never waits: the session took the previous batch before answering it.
    link_->requests.put(std::move(batch_));
    in_flight_ = true;
    KillOnExit watcher;  // reads the socket while a BLPOP waits
    for (;;) {
      Part part = link_->replies.get();
      if (!part.replies.empty() && !send(part.replies)) return false;
      if (part.kind == Part::Kind::kMore) continue;
      if (part.kind == Part::Kind::kBlocked) {
        if (!watcher.g) {
          watcher.g = grove::spawn(grove::SpawnOptions{.name = "kv_server-blocked-reader"}, [this] {
            while (in_.fill(sock_, 0)) {
            }
            // Hung up (or sent more than the buffer may hold): the session leaves its
            // BLPOP, its link closes, and get() above ends this connection.
            session_.kill_nowait();
          });
        }
        continue;
      }
      in_flight_ = false;
      if (watcher.g && watcher.g.dead()) return false;  // it read the end of the stream
      watcher.stop();
      batch_ = std::move(part.spent);
      batch_.clear();
      spare_ = std::move(part.replies);
      spare_.clear();
      if (spare_.capacity() > kShrinkAbove) std::string().swap(spare_);
      if (batch_.bytes.capacity() > kShrinkAbove) std::string().swap(batch_.bytes);
      closing_ = part.close;
      return true;
    }
  } catch (const grove::ChannelClosed&) {
    return false;  // the session is gone (killed: its client hung up, or the server stops)
  }
}

}  // namespace kv
