// store.hpp: kv_server's keyspace: strings and lists, key expiry, and the clients
// parked in a blocking pop.
//
// One Store serves every connection of the OS thread (each connection is a green
// thread of that thread). Green threads switch only where they park and no Store
// call parks, so each command runs alone: no locks.
//
// Expiry is redis's: lazy, since every lookup deletes a key whose time has passed,
// plus active, since a sweeping green thread calls sweep() a few times a second to
// free keys nobody reads. Times are CLOCK_MONOTONIC milliseconds.
//
// Blocking pops (BLPOP, BRPOP). A client that finds every key empty registers a
// BlockedPop on each key and parks on its Event (only its own green thread parks).
// After a push, serve_blocked() hands elements to the BlockedPops of that key in
// the order they blocked, while the list has elements: the element is moved into the
// BlockedPop, which leaves every key's queue, and its Event is set. The element is
// delivered, not announced, so no other client can take it between the wake-up and
// the moment the woken green thread runs. A BlockedPop removes itself from the
// queues when destroyed (timeout, disconnect, kill), so nothing dangles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <grove/event.hpp>

namespace kv {

using List = std::deque<std::string>;

struct Entry {
  std::variant<std::string, List> value;
  std::int64_t expire_at = 0;  // CLOCK_MONOTONIC ms; 0: no expiry
};

// std::string keys looked up by std::string_view without building a string.
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class Store;

// A client parked in BLPOP / BRPOP (lives in its connection's green thread).
class BlockedPop {
 public:
  BlockedPop(Store& store, bool from_left) : store_(store), from_left_(from_left) {}
  ~BlockedPop();
  BlockedPop(const BlockedPop&) = delete;
  BlockedPop& operator=(const BlockedPop&) = delete;

  grove::Event served;  // set once key/value hold the popped element
  std::string key, value;
  bool from_left() const noexcept { return from_left_; }

 private:
  friend class Store;
  using Queue = std::list<BlockedPop*>;
  using QueueSlot = std::pair<const std::string, Queue>;
  Store& store_;
  bool from_left_;
  std::vector<std::pair<QueueSlot*, Queue::iterator>> queued_;  // one per distinct key
};

class Store {
 public:
  using Map = std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>>;
  using Slot = Map::value_type;

  // CLOCK_MONOTONIC in milliseconds.
  static std::int64_t now_ms() noexcept;

  // The live entry of `key`, or nullptr; an expired entry is deleted first.
  Slot* find(std::string_view key);
  // The entry of `key`, created (an empty string) if missing; `created` says which.
  Slot& find_or_create(std::string_view key, bool& created);
  // Deletes the entry (and its expiry).
  void erase(Slot* slot);
  // Deletes `key` if it lives; returns whether it did.
  bool erase(std::string_view key);
  // Sets (at > 0) or clears (at == 0) the expiry time of an entry.
  void set_expire(Slot& slot, std::int64_t at);
  void clear();

  std::size_t size() const noexcept { return map_.size(); }
  std::size_t expiring() const noexcept { return expires_.size(); }
  const Map& map() const noexcept { return map_; }

  // Deletes up to `budget` keys whose time has passed; returns how many it deleted
  // (== budget: there may be more).
  std::size_t sweep(std::size_t budget);

  // Queues `bp` on each of `keys` (duplicates once), behind the clients already there.
  void block(BlockedPop& bp, std::span<const std::string_view> keys);
  // Hands elements of the list at `key` to the clients blocked on it, oldest first,
  // while it has some; deletes the key if that empties it. Call after every push.
  void serve_blocked(std::string_view key);
  std::size_t blocked_clients() const noexcept { return blocked_clients_; }

 private:
  friend class BlockedPop;
  void unblock(BlockedPop& bp) noexcept;

  Map map_;
  // Expiring keys by time. The key pointer is the map's own key, stable until the
  // entry is erased (unordered_map never moves its elements).
  std::set<std::pair<std::int64_t, const std::string*>> expires_;
  std::unordered_map<std::string, BlockedPop::Queue, KeyHash, std::equal_to<>> blocked_;
  std::size_t blocked_clients_ = 0;
};

}  // namespace kv
