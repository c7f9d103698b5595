// stream_shard.hpp: one hub's share of a StreamServer: its listener, its acceptor and
// the green threads of the connections it serves.
//
// A server with options.hubs = 1 has one shard, on the hub that started it. With
// hubs = N > 1 it has N, one per hub (the server's own and N-1 hub threads, see
// server_hubs.hpp), and one of two shapes:
//   - an IP address the server binds itself: each shard has a listener of its own
//     (SO_REUSEPORT, reuseport_group.hpp) and its own acceptor; a shard's state is
//     touched only on its hub (connection_count() reads `running`, an atomic).
//   - a Unix socket path or a listener passed in (one socket the kernel cannot split):
//     the server's shard accepts for all, and its Handoff gives the accepted fds to the
//     shards round-robin, itself included. A connection for another hub travels as a
//     raw fd in a HandoffEntry through that hub's inbox; the hub wraps it in a Socket
//     and spawns the handler as one of its own connections. The acceptor counts a
//     connection up on the shard it picked, the shard counts it down when it ends.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grove/duration.hpp>
#include <grove/green_thread.hpp>
#include <grove/hub_ref.hpp>
#include <grove/detail/observer.hpp>
#include <grove/mt/event.hpp>
#include <grove/net/stream_server.hpp>

#include "fd_owner.hpp"
#include "server_hubs.hpp"

namespace grove::net::detail {

// What every shard of one server reads. Fixed before the first shard starts (so
// reading it from any hub needs no lock).
struct StreamCommon {
  StreamServer::Handler handler;
  StreamServerOptions opts;
  Address bound;        // the listening address
  std::size_t cap = 0;  // connections one hub serves at once (0: no cap)
};

// Wakes a hand-off acceptor that waits for a hub below its cap, when a connection
// ends on any hub.
struct SlotSignal {
  mt::Event freed;
  std::atomic<bool> waiting{false};
  // After the count went down (seq_cst: see Handoff::pick).
  void notify() {
    if (waiting.load()) freed.set();
  }
};

struct StreamShard;

// A connection's entry in its shard's list of handlers. Not on the heap: it lies in
// the top page of the handler's own stack, beside the call and the connection's
// SocketState (stream_shard.cpp, "A connection's stack page"), and is linked in
// while the handler's function object lives (ConnectionSlot).
struct ConnLink {
  ConnLink* prev = nullptr;
  ConnLink* next = nullptr;
  GreenThreadHandle handle;  // the handler (the reference spawn() returned)
};

// A shard's handlers: an intrusive circular list through a sentinel. Iterating gives
// the handles (stop_handlers); only the shard's hub touches it.
class ConnList {
 public:
  ConnList() noexcept { head_.prev = head_.next = &head_; }
  ConnList(const ConnList&) = delete;
  ConnList& operator=(const ConnList&) = delete;

  void push_back(ConnLink* l) noexcept {
    l->prev = head_.prev;
    l->next = &head_;
    head_.prev->next = l;
    head_.prev = l;
  }
  static void erase(ConnLink* l) noexcept {
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = nullptr;
  }
  bool empty() const noexcept { return head_.next == &head_; }

  struct iterator {
    const ConnLink* l;
    const GreenThreadHandle& operator*() const noexcept { return l->handle; }
    iterator& operator++() noexcept {
      l = l->next;
      return *this;
    }
    bool operator==(const iterator&) const = default;
  };
  iterator begin() const noexcept { return {head_.next}; }
  iterator end() const noexcept { return {&head_}; }

 private:
  ConnLink head_;
};

// The hand-off acceptor's view of every shard (see the file comment).
struct Handoff {
  std::vector<std::shared_ptr<StreamShard>> shards;  // [0]: the acceptor's own (not owned)
  std::vector<HubRef> hubs;                          // hubs[i]: shards[i]'s (hubs[0] unused)
  std::shared_ptr<SlotSignal> signal;                // with a cap
  std::size_t next = 0;

  // The next shard in turn below the cap; parks while every one is at it.
  std::size_t pick(std::size_t cap);
  // Counts the connection (an accepted fd of `family`) on shards[k] and gives it to
  // that shard's hub. A connection whose hub has exited is closed.
  void give(std::size_t k, FdOwner fd, Family family, Address peer);
};

// One hub's share of a StreamServer (see the file comment). Touched only on its hub,
// except `running` (and, on the server's hub, `handoff`).
struct StreamShard final : HubPart, std::enable_shared_from_this<StreamShard> {
  explicit StreamShard(std::shared_ptr<const StreamCommon> c) : common(std::move(c)), opts(common->opts) {}

  const std::shared_ptr<const StreamCommon> common;
  const StreamServerOptions& opts;
  Socket listener;
  FdOwner listener_fd;  // on a hub thread, until begin() adopts it there
  GreenThreadHandle acceptor;
  ConnList conns;
  // Handlers spawned and not finished (their ConnectionSlots). Counted on this hub
  // with a relaxed load and store (no read-modify-write), unless `counted_across`.
  std::atomic<std::size_t> running{0};
  grove::detail::ObserverList slot_waiters;  // the acceptor, waiting below the cap
  bool stopped = false;
  bool killing = false;  // a stop has killed the handlers: later ones only wait
  // Hand-off shape: the acceptor's hub counts up (fetch_add), this hub down.
  bool counted_across = false;
  std::shared_ptr<SlotSignal> slot_signal;  // hand-off shape with a cap
  std::unique_ptr<Handoff> handoff;         // the accepting shard of the hand-off shape

  // A handler's connection slot: its entry in `conns` and its count in `running`.
  // Owned by the handler's function object, so it is given back when that object is
  // destroyed: after the handler returns or throws, and also when the handler is
  // killed before it first runs (its body, and anything in it, never runs then).
  struct ConnectionSlot {
    StreamShard* sh;
    ConnLink* link;
    bool held = true;
    ConnectionSlot(StreamShard* s, ConnLink* l) noexcept : sh(s), link(l) {}
    ConnectionSlot(ConnectionSlot&& o) noexcept : sh(o.sh), link(o.link), held(std::exchange(o.held, false)) {}
    ConnectionSlot(const ConnectionSlot&) = delete;
    ConnectionSlot& operator=(const ConnectionSlot&) = delete;
    ~ConnectionSlot();
  };

  // Counts a connection this hub accepted (own-listener shapes).
  void count_up() noexcept { running.store(running.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  // Gives a connection's count back (and wakes whoever waits below the cap).
  void count_down() noexcept;
  // Spawns the handler for a connection already counted (an accepted stream fd of
  // `family`); gives the count back, and closes the fd, if that throws.
  void spawn_handler(FdOwner fd, Family family, Address peer);
  void spawn_acceptor();
  void accept_loop();
  // Closes the listener and kills the acceptor (parks until it is dead). Once.
  void stop_accepting();

  // HubPart, on a hub thread: adopt the listener and accept; stop.
  void begin() override;
  void end(Duration timeout) override;
};

}  // namespace grove::net::detail
