// store_session.cpp: see store_session.hpp.
#include "store_session.hpp"

#include <utility>

#include <grove/errors.hpp>
#include <grove/scheduler.hpp>

#include "commands.hpp"
#include "connection.hpp"
#include "reply.hpp"

namespace kv {

void run_store_session(std::shared_ptr<ServerState> server, std::shared_ptr<ForwardLink> link) {
  struct CloseOnExit {
    ForwardLink& link;
    ~CloseOnExit() { link.replies.close(); }
  } guard{*link};
  server->sessions.add(grove::current());
  StoreSession session(*server, *link);
  try {
    session.run();
  } catch (const grove::ChannelClosed&) {
    // The connection is gone (its client hung up, or the server is stopping).
  }
}

void StoreSession::run() {
  for (;;) {
    Batch b = link_.requests.get();
    out_ = std::move(b.replies);  // empty, with the capacity of an earlier batch's replies
    execute_batch(b);
    b.replies.clear();
    link_.replies.put(Part{Part::Kind::kDone, closing_, std::move(out_), std::move(b)});
    out_.clear();
    if (closing_) return;
  }
}

void StoreSession::execute_batch(const Batch& b) {
  const char* p = b.bytes.data();
  std::size_t i = 0;
  while (i < b.shape.size()) {
    const std::uint32_t argc = b.shape[i++];
    argv_.clear();
    for (std::uint32_t k = 0; k < argc; ++k) {
      const std::uint32_t len = b.shape[i++];
      argv_.emplace_back(p, len);
      p += len;
    }
    execute(*this, argv_);
    if (closing_) return;  // QUIT: what follows it is not run
    if (out_.size() >= kFlushAt && i < b.shape.size()) send_part(Part::Kind::kMore);
  }
}

void StoreSession::send_part(Part::Kind kind) {
  link_.replies.put(Part{kind, false, std::move(out_), {}});
  out_.clear();
}

void StoreSession::block_pop(std::span<const std::string_view> keys, std::optional<grove::Duration> timeout,
                             bool from_left) {
  // Registered before send_part() parks, as in Connection::block_pop.
  BlockedPop bp(store(), from_left);
  store().block(bp, keys);
  // Also when there are no replies yet: the connection starts watching its socket.
  send_part(Part::Kind::kBlocked);
  bp.served.wait(timeout);
  if (bp.served.is_set()) {
    reply::array(out_, 2);
    reply::bulk(out_, bp.key);
    reply::bulk(out_, bp.value);
  } else {
    reply::nil_array(out_);
  }
}

}  // namespace kv
