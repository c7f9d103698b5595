// store.cpp: see store.hpp.
#include "store.hpp"

#include <time.h>

namespace kv {

BlockedPop::~BlockedPop() { store_.unblock(*this); }

std::int64_t Store::now_ms() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Store::Slot* Store::find(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  if (it->second.expire_at != 0 && it->second.expire_at <= now_ms()) {
    expires_.erase({it->second.expire_at, &it->first});
    map_.erase(it);
    return nullptr;
  }
  return &*it;
}

Store::Slot& Store::find_or_create(std::string_view key, bool& created) {
  if (Slot* s = find(key)) {
    created = false;
    return *s;
  }
  created = true;
  return *map_.try_emplace(std::string(key)).first;
}

void Store::erase(Slot* slot) {
  if (slot->second.expire_at != 0) expires_.erase({slot->second.expire_at, &slot->first});
  map_.erase(map_.find(std::string_view(slot->first)));
}

bool Store::erase(std::string_view key) {
  Slot* s = find(key);
  if (!s) return false;
  erase(s);
  return true;
}

void Store::set_expire(Slot& slot, std::int64_t at) {
  if (slot.second.expire_at == at) return;
  if (slot.second.expire_at != 0) expires_.erase({slot.second.expire_at, &slot.first});
  slot.second.expire_at = at;
  if (at != 0) expires_.emplace(at, &slot.first);
}

void Store::clear() {
  expires_.clear();
  map_.clear();
}

std::size_t Store::sweep(std::size_t budget) {
  const std::int64_t now = now_ms();
  std::size_t n = 0;
  while (n < budget && !expires_.empty() && expires_.begin()->first <= now) {
    const std::string* key = expires_.begin()->second;
    expires_.erase(expires_.begin());
    map_.erase(map_.find(std::string_view(*key)));
    ++n;
  }
  return n;
}

void Store::block(BlockedPop& bp, std::span<const std::string_view> keys) {
  for (std::string_view k : keys) {
    bool dup = false;
    for (auto& q : bp.queued_) dup |= q.first->first == k;
    if (dup) continue;
    auto it = blocked_.find(k);
    if (it == blocked_.end()) it = blocked_.try_emplace(std::string(k)).first;
    it->second.push_back(&bp);
    bp.queued_.emplace_back(&*it, std::prev(it->second.end()));
  }
  ++blocked_clients_;
}

void Store::unblock(BlockedPop& bp) noexcept {
  if (bp.queued_.empty()) return;
  for (auto& [slot, pos] : bp.queued_) {
    slot->second.erase(pos);
    if (slot->second.empty()) blocked_.erase(blocked_.find(std::string_view(slot->first)));
  }
  bp.queued_.clear();
  --blocked_clients_;
}

void Store::serve_blocked(std::string_view key) {
  for (;;) {
    auto q = blocked_.find(key);
    if (q == blocked_.end()) return;
    Slot* s = find(key);
    if (!s) return;
    List* list = std::get_if<List>(&s->second.value);
    if (!list) return;
    if (list->empty()) {
      erase(s);
      return;
    }
    BlockedPop* bp = q->second.front();
    if (bp->from_left()) {
      bp->value = std::move(list->front());
      list->pop_front();
    } else {
      bp->value = std::move(list->back());
      list->pop_back();
    }
    bp->key.assign(key);
    unblock(*bp);  // may erase `q`: looked up again above
    bp->served.set();
    if (list->empty()) {
      erase(s);
      return;
    }
  }
}

}  // namespace kv
