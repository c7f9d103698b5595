#include <grove/local.hpp>

#include <atomic>
#include <exception>
#include <vector>

#include "hub.hpp"
#include "log_internal.hpp"

namespace grove::detail {

struct LocalSlots {
  struct Entry {
    std::uint64_t key;
    void* value;
    void (*destroy)(void*);
  };
  std::vector<Entry> entries;  // a handful per green thread: a linear scan is fastest
};

namespace {

std::atomic<std::uint64_t> g_next_key{1};

LocalSlots::Entry* find(GreenThreadState* gt, std::uint64_t key) noexcept {
  if (!gt->locals) return nullptr;
  for (auto& e : gt->locals->entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

void destroy_value(const LocalSlots::Entry& e) noexcept {
  try {
    e.destroy(e.value);
  } catch (const std::exception& ex) {
    log_error("grove: a grove::local value's destructor threw: {}", ex.what());
  } catch (...) {
    log_error("grove: a grove::local value's destructor threw");
  }
}

}  // namespace

std::uint64_t local_new_key() noexcept { return g_next_key.fetch_add(1, std::memory_order_relaxed); }

void* local_find(std::uint64_t key) noexcept {
  Hub* hub = Hub::current();
  if (!hub) return nullptr;
  LocalSlots::Entry* e = find(hub->running(), key);
  return e ? e->value : nullptr;
}

void local_store(std::uint64_t key, void* value, void (*destroy)(void*)) {
  GreenThreadState* gt = Hub::get().running();
  if (LocalSlots::Entry* e = find(gt, key)) {
    LocalSlots::Entry old = *e;
    e->value = value;
    e->destroy = destroy;
    destroy_value(old);
    return;
  }
  if (!gt->locals) gt->locals = new LocalSlots;
  gt->locals->entries.push_back({key, value, destroy});
}

void local_erase(std::uint64_t key) noexcept {
  Hub* hub = Hub::current();
  if (!hub) return;
  GreenThreadState* gt = hub->running();
  if (!gt->locals) return;
  auto& v = gt->locals->entries;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i].key != key) continue;
    LocalSlots::Entry e = v[i];
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
    destroy_value(e);
    return;
  }
}

void destroy_locals(GreenThreadState* gt) noexcept {
  // A destructor may touch other locals of the same green thread: pop one at a time.
  while (gt->locals && !gt->locals->entries.empty()) {
    LocalSlots::Entry e = gt->locals->entries.back();
    gt->locals->entries.pop_back();
    destroy_value(e);
  }
  delete gt->locals;
  gt->locals = nullptr;
}

}  // namespace grove::detail
