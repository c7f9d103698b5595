// grove/wait.hpp: waiting on several green threads (or other Waitables) at once.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <vector>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/green_thread.hpp>
#include <grove/waitable.hpp>

namespace grove {

// Parks until `count` of `objects` are ready (all of them by default), or until
// `timeout`. Returns the ready ones, in the order they became ready (those ready on
// entry first, in argument order). Parks; GreenletExit / TimeoutError as any wait.
GROVE_API std::vector<const Waitable*> wait(const std::vector<const Waitable*>& objects,
                                            std::optional<Duration> timeout = std::nullopt,
                                            std::size_t count = std::numeric_limits<std::size_t>::max());

// Joins every green thread; returns whether all are dead before `timeout`.
GROVE_API bool joinall(const std::vector<GreenThreadHandle>& threads,
                       std::optional<Duration> timeout = std::nullopt);

// Kills every green thread (kill all first, then wait); returns whether all are dead
// before `timeout`.
GROVE_API bool killall(const std::vector<GreenThreadHandle>& threads,
                       std::optional<Duration> timeout = std::nullopt);

// Yields the objects one at a time as they become ready:
//   for (const grove::Waitable* w : grove::iwait({&a, &b})) ...
// Iteration ends when all were yielded or `timeout` (measured from construction)
// passed. Parks inside the iterator's increment.
class GROVE_API IWait {
 public:
  explicit IWait(std::vector<const Waitable*> objects, std::optional<Duration> timeout = std::nullopt);
  ~IWait();
  IWait(const IWait&) = delete;
  IWait& operator=(const IWait&) = delete;

  // The next ready object, or nullptr when all were returned or the time is up.
  const Waitable* next();

  class iterator {
   public:
    using value_type = const Waitable*;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(IWait* w) : w_(w), cur_(w->next()) { if (!cur_) w_ = nullptr; }
    const Waitable* operator*() const { return cur_; }
    iterator& operator++() {
      cur_ = w_->next();
      if (!cur_) w_ = nullptr;
      return *this;
    }
    bool operator==(const iterator& o) const { return w_ == o.w_; }

   private:
    IWait* w_ = nullptr;
    const Waitable* cur_ = nullptr;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  struct Impl;
  Impl* impl_;
};

inline IWait iwait(std::vector<const Waitable*> objects, std::optional<Duration> timeout = std::nullopt) {
  return IWait(std::move(objects), timeout);
}

}  // namespace grove
