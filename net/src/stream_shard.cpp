// stream_shard.cpp: a StreamServer's acceptor loop, its per-connection green threads,
// and the hand-off of accepted connections to other hubs.
#include "stream_shard.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <grove/detail/cross_wait.hpp>
#include <grove/errors.hpp>
#include <grove/log.hpp>
#include <grove/scheduler.hpp>
#include <grove/wait.hpp>

#include "hub.hpp"
#include "socket_access.hpp"
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
  HandoffEntry(std::shared_ptr<StreamShard> s, Family f, Address p)
      : shard(std::move(s)), family(f), peer(std::move(p)) {}
  HandoffEntry(const HandoffEntry&) = delete;
  HandoffEntry& operator=(const HandoffEntry&) = delete;
  ~HandoffEntry() {
    if (counted) shard->count_down();
  }

  // On the target's hub, in its inbox drain: never parks (spawn does not switch).
  void run() noexcept override {
    try {
      if (!shard->stopped) {
        counted = false;  // spawn_handler owns the count (and the fd) now
        shard->spawn_handler(std::move(fd), family, std::move(peer));
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
  Family family;
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

void Handoff::give(std::size_t k, FdOwner fd, Family family, Address peer) {
  StreamShard& target = *shards[k];
  if (k == 0) {
    target.running.fetch_add(1);
    target.spawn_handler(std::move(fd), family, std::move(peer));
    return;
  }
  auto e = std::make_unique<HandoffEntry>(shards[k], family, std::move(peer));
  e->fd = std::move(fd);
  target.running.fetch_add(1);
  e->counted = true;
  if (grove::detail::post_entry(hubs[k], e.get(), "grove::net::StreamServer")) e.release();
  // Else the hub has exited (its server is stopping): `e` closes the fd and gives the count back.
}

StreamShard::ConnectionSlot::~ConnectionSlot() {
  if (!held) return;
  ConnList::erase(link);
  link->handle = GreenThreadHandle();
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

// A connection's stack page. A connection's green thread costs the server nothing on
// the heap: spawn_handler reserves room at the top of the handler's stack, above its
// first frame, for three things at once: the call (grove::spawn's Task: the control
// block, the function object with its ConnectionSlot, the Socket and the peer's
// Address), the connection's SocketState and its ConnLink. The Socket's state is
// built there instead of by Socket::accept. The state holds a reference on the green
// thread (SocketState::home), so the stack stays while the Socket lives: a handler
// may move its Socket elsewhere and return, and the state stays where it is until
// that Socket is closed. An idle echo handler then touches one page of its stack and
// nothing else (bench/README.md, "Soak and scale").
namespace {

// The function a connection's green thread runs.
struct ConnectionCall {
  StreamShard* shard;
  std::shared_ptr<StreamShard> self;  // keeps the shard (and its options) alive
  StreamShard::ConnectionSlot slot;
  void operator()(Socket sock, Address peer) {
    try {
      shard->common->handler(sock, peer);
    } catch (const std::exception& e) {
      grove::logger().error("{}: handler for {} failed: {}; closing that connection", shard->opts.name,
                            peer.to_string(), e.what());
    }
  }
};
using ConnectionTask = grove::detail::Task<void, ConnectionCall, Socket, Address>;
static_assert(std::is_nothrow_move_constructible_v<ConnectionCall> && std::is_nothrow_move_constructible_v<Socket> &&
              std::is_nothrow_move_constructible_v<Address>);

constexpr std::size_t align_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }
// Offsets from the start of the reserved room (the Task's address, 64-byte aligned).
constexpr std::size_t kStateAt = align_up(sizeof(ConnectionTask), alignof(SocketState));
constexpr std::size_t kLinkAt = align_up(kStateAt + sizeof(SocketState), alignof(ConnLink));
constexpr std::size_t kConnectionRoom = kLinkAt + sizeof(ConnLink);

}  // namespace

void StreamShard::spawn_handler(FdOwner fd, Family family, Address peer) {
  namespace gd = grove::detail;
  gd::SpawnPlacement p;
  std::shared_ptr<StreamShard> self;
  std::string name;
  SocketState* state;
  try {
    self = shared_from_this();
    // The server's name alone: with the peer ("name 127.0.0.1:PORT") it would be
    // past std::string's 15 characters in place, one heap block per connection. The
    // handler has the peer as its argument.
    name = opts.name;
    p = gd::allocate_green_thread(kConnectionRoom, 0);
    char* room = static_cast<char*>(p.object);
    try {
      state = ::new (room + kStateAt) SocketState(fd.get(), family, SocketType::kStream);
    } catch (...) {
      gd::abandon_placement(p);
      throw;
    }
  } catch (...) {
    count_down();
    throw;  // `fd` closes the connection
  }
  // Nothing below throws (moves, and the hub's bookkeeping).
  fd.take();
  state->peer = peer;
  char* room = static_cast<char*>(p.object);
  auto* link = ::new (room + kLinkAt) ConnLink;
  conns.push_back(link);
  auto* task = ::new (room) ConnectionTask(ConnectionCall{this, std::move(self), ConnectionSlot(this, link)},
                                           SocketAccess::wrap(std::unique_ptr<SocketState>(state)), std::move(peer));
  state->home = task;
  gd::start_green_thread(task, p, std::move(name));  // the green thread's first reference: link->handle's
  gd::add_ref(task);                                 // the state's (SocketState::home)
  link->handle = GreenThread<void>(gd::AdoptRef{}, task);
  // accept_loop() saw a free slot just before calling this, and nothing has run since
  // (spawn does not switch), so add() takes it without parking: the handler is a
  // member before it first runs. `h` is a copy: the slot drops the link's when it ends.
  if (opts.pool) {
    const GreenThreadHandle h = link->handle;
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
    Address peer;
    FdOwner fd(accept_fd(SocketAccess::state(listener), peer, ec));
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
      handoff->give(target, std::move(fd), listener.family(), std::move(peer));
    } else {
      // Other users of a shared pool may have taken the slot while accept() parked:
      // the accepted connection waits for one (and is closed if stop() ends the wait).
      if (opts.pool) opts.pool->wait_available();
      count_up();
      spawn_handler(std::move(fd), listener.family(), std::move(peer));
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
