// stream_shard.cpp: a StreamServer's acceptor loop, its per-connection green threads,
// and the hand-off of accepted connections to other hubs.
#include "stream_shard.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

#include <grove/detail/cross_wait.hpp>
#include <grove/errors.hpp>
#include <grove/log.hpp>
#include <grove/scheduler.hpp>
#include <grove/wait.hpp>

#include "hub.hpp"
#include "stop_handlers.hpp"

namespace grove::net::detail {

namespace {

using grove::detail::Hub;

struct WakeOnNotify final : grove::detail::Observer {
  WakeOnNotify(Hub& h, grove::detail::GreenThreadState* g) : hub(h), gt(g) {}
  void notify() noexcept override { hub.wake(gt); }
  Hub& hub;
  grove::detail::GreenThreadState* gt;
};

// accept's errors are errno values. Only value() is used here and strerror for the
// text: with no fd left, UBSan's vptr check of a call on the error_category cannot
// read /proc and reports a false error.
bool out_of_fds(const std::error_code& ec) {
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

// Errors that say the listener cannot accept at all (closed under us, not a socket,
// not listening, not a stream socket).
bool listener_unusable(const std::error_code& ec) {
  const int e = ec.value();
  return e == EBADF || e == ENOTSOCK || e == EINVAL || e == EOPNOTSUPP;
}

// An accepted connection on its way to another hub, through that hub's inbox. Owns
// the raw fd and the connection's count on the target shard until the target takes
// them: destroyed without that (the hub exited and dropped it, the post failed, the
// shard stopped meanwhile), it closes the fd and gives the count back, on whatever OS
// thread that happens.
struct HandoffEntry final : grove::detail::InboxEntry {
  HandoffEntry(std::shared_ptr<StreamShard> s, Address p) : shard(std::move(s)), peer(std::move(p)) {}
  HandoffEntry(const HandoffEntry&) = delete;
  HandoffEntry& operator=(const HandoffEntry&) = delete;
  ~HandoffEntry() {
    if (counted) shard->count_down();
  }

  // On the target's hub, in its inbox drain: never parks (spawn does not switch).
  void run() noexcept override {
    try {
      if (!shard->stopped) {
        Socket sock = Socket::adopt(fd.get());
        fd.take();
        counted = false;  // spawn_handler owns the count now
        shard->spawn_handler(Accepted{std::move(sock), std::move(peer)});
      }
    } catch (const std::exception& e) {
      grove::logger().error("{}: cannot serve a connection handed to {}: {}; closing it", shard->opts.name,
                            this_hub().name(), e.what());
    }
    delete this;
  }
  void drop() noexcept override { delete this; }

  std::shared_ptr<StreamShard> shard;
  FdOwner fd;
  Address peer;
  bool counted = false;
};

}  // namespace

std::size_t Handoff::pick(std::size_t cap) {
  const std::size_t n = shards.size();
  auto below_cap = [&](std::size_t k) { return cap == 0 || shards[k]->running.load() < cap; };
  for (;;) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = (next + i) % n;
      if (below_cap(k)) {
        next = (k + 1) % n;
        return k;
      }
    }
    // Every hub is at its cap. A shard counts down, then reads `waiting`; this sets
    // `waiting`, then reads the counts (all seq_cst): one of the two sees the other,
    // so a slot freed meanwhile is either seen here or sets `freed`.
    signal->freed.clear();
    signal->waiting.store(true);
    struct Done {
      SlotSignal& s;
      ~Done() { s.waiting.store(false); }
    } done{*signal};
    bool any = false;
    for (std::size_t k = 0; k < n && !any; ++k) any = below_cap(k);
    if (!any) signal->freed.wait();
  }
}

void Handoff::give(std::size_t k, Accepted a) {
  StreamShard& target = *shards[k];
  if (k == 0) {
    target.running.fetch_add(1);
    target.spawn_handler(std::move(a));
    return;
  }
  auto e = std::make_unique<HandoffEntry>(shards[k], std::move(a.peer));
  e->fd = FdOwner(a.socket.release());
  target.running.fetch_add(1);
  e->counted = true;
  if (grove::detail::post_entry(hubs[k], e.get(), "grove::net::StreamServer")) e.release();
  // Else the hub has exited (its server is stopping): `e` closes the fd and gives the count back.
}

StreamShard::ConnectionSlot::~ConnectionSlot() {
  if (!held) return;
  sh->conns.erase(it);
  sh->count_down();
}

void StreamShard::count_down() noexcept {
  if (!counted_across) {
    running.store(running.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    if (auto* o = slot_waiters.pop_front()) o->notify();
    return;
  }
  running.fetch_sub(1);
  if (slot_signal) {
    try {
      slot_signal->notify();
    } catch (...) {
      // mt::Event::set takes a mutex: std::system_error only if the system is broken.
    }
  }
}

void StreamShard::spawn_handler(Accepted a) {
  std::list<GreenThreadHandle>::iterator it;
  try {
    it = conns.emplace(conns.end());
  } catch (...) {
    count_down();
    throw;
  }
  ConnectionSlot slot(this, it);
  // If spawn throws, the slot (moved into the function object or still here) is
  // given back as the exception leaves.
  *it = grove::spawn(
      SpawnOptions{0, opts.name + " " + a.peer.to_string()},
      [this, self = shared_from_this(), slot = std::move(slot)](Socket sock, Address peer) {
        try {
          common->handler(sock, peer);
        } catch (const std::exception& e) {
          grove::logger().error("{}: handler for {} failed: {}; closing that connection", opts.name,
                                peer.to_string(), e.what());
        }
      },
      std::move(a.socket), a.peer);
  // accept_loop() saw a free slot just before calling this, and nothing has run since
  // (spawn does not switch), so add() takes it without parking: the handler is a
  // member before it first runs. `h` is a copy: the slot erases *it when it ends.
  if (opts.pool) {
    const GreenThreadHandle h = *it;
    opts.pool->add(h);
  }
}

void StreamShard::spawn_acceptor() {
  acceptor = grove::spawn(SpawnOptions{0, opts.name + " acceptor " + common->bound.to_string()},
                          [p = shared_from_this()] { p->accept_loop(); });
}

void StreamShard::accept_loop() {
  Hub& hub = Hub::get();
  const std::size_t cap = common->cap;
  double backoff = 0.005;
  bool starved = false;  // out of fds, logged
  bool failing = false;  // another accept error, logged
  double turn = -1;
  int accepted_this_turn = 0;
  for (;;) {
    if (!handoff) {
      while (cap > 0 && running.load(std::memory_order_relaxed) >= cap) {
        WakeOnNotify w(hub, hub.running());
        slot_waiters.push_back(&w);
        hub.park("StreamServer: waiting below max_connections");
      }
      if (opts.pool) opts.pool->wait_available();
    }
    // The hub that takes the next connection is picked before accepting it, so that
    // with every hub at its cap the connections wait in the kernel's backlog.
    const std::size_t target = handoff ? handoff->pick(cap) : 0;
    std::error_code ec;
    Accepted a = listener.accept(ec);
    if (ec) {
      if (!listener.is_open() || ec.value() == ECANCELED) return;  // stop()
      if (out_of_fds(ec)) {
        if (!starved) {
          grove::logger().warn("{}: accept failed: {}; backing off and retrying until fds are free", opts.name,
                               std::strerror(ec.value()));
          starved = true;
        }
        grove::sleep(grove::seconds(backoff));
        backoff = std::min(backoff * 2, 0.5);
        continue;
      }
      if (listener_unusable(ec)) {  // not a listening stream socket: retrying cannot help
        grove::logger().error("{}: accept failed: {}; no longer accepting", opts.name, std::strerror(ec.value()));
        return;
      }
      if (!failing) {  // anything else (ECONNABORTED, EPERM from a firewall): back off
        grove::logger().warn("{}: accept failed: {}; backing off and retrying", opts.name,
                             std::strerror(ec.value()));
        failing = true;
      }
      grove::sleep(grove::seconds(backoff));
      backoff = std::min(backoff * 2, 0.5);
      continue;
    }
    if (starved || failing) {
      grove::logger().warn("{}: accepting connections again", opts.name);
      starved = failing = false;
    }
    backoff = 0.005;
    if (handoff) {
      // Only this acceptor counts up, so the pick still holds (counts only went down).
      handoff->give(target, std::move(a));
    } else {
      // Other users of a shared pool may have taken the slot while accept() parked:
      // the accepted connection waits for one (and is closed if stop() ends the wait).
      if (opts.pool) opts.pool->wait_available();
      count_up();
      spawn_handler(std::move(a));
    }
    if (hub.now() != turn) {
      turn = hub.now();
      accepted_this_turn = 0;
    }
    if (++accepted_this_turn >= opts.max_accepts_per_turn) {
      accepted_this_turn = 0;
      grove::yield();  // let the new handlers run before accepting more
    }
  }
}

void StreamShard::stop_accepting() {
  if (stopped) return;
  stopped = true;
  listener.close();  // the acceptor wakes with ECANCELED and returns
  listener_fd.reset();
  if (acceptor) acceptor.kill();  // in case it was sleeping (out of fds) or below the cap
}

void StreamShard::begin() {
  if (listener_fd.get() < 0) return;  // hand-off shape: connections arrive through the inbox
  listener = Socket::adopt(listener_fd.get());
  listener_fd.take();
  spawn_acceptor();
}

void StreamShard::end(Duration timeout) {
  stop_accepting();
  // A killed handler gives its slot back as it ends, started or not (ConnectionSlot).
  // One still unwinding after the grace is abandoned when this hub thread exits.
  stop_handlers(conns, timeout, opts.stop_grace, killing, opts.name);
  acceptor = GreenThreadHandle();
  listener = Socket();
}

}  // namespace grove::net::detail
