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
// entry first, in argument order); after a timeout, those ready so far (fewer than
// `count`). Does not park if enough are ready on entry; otherwise UsageError on the
// hub, and GreenletExit / TimeoutError if interrupted (the objects are untouched;
// waiting on them never changes them). UsageError, before anything else, if a green
// thread handle among them is empty, is the caller's own (it would wait for itself)
// or belongs to another OS thread.
GROVE_API std::vector<const Waitable*> wait(const std::vector<const Waitable*>& objects,
                                            std::optional<Duration> timeout = std::nullopt,
                                            std::size_t count = std::numeric_limits<std::size_t>::max());

// Joins every green thread; returns whether all are dead before `timeout` (a timeout
// leaves them running). Parks. UsageError if one is empty, is the caller or belongs
// to another OS thread; GreenletExit / TimeoutError if the caller is interrupted (the
// green threads keep running).
GROVE_API bool joinall(const std::vector<GreenThreadHandle>& threads,
                       std::optional<Duration> timeout = std::nullopt);

// Kills every green thread except the caller (kill all first, then wait); returns
// whether all are dead before `timeout`. After a timeout, or if the caller is
// interrupted while waiting (GreenletExit / TimeoutError), the kills stay delivered.
// UsageError for a green thread of another OS thread.
GROVE_API bool killall(const std::vector<GreenThreadHandle>& threads,
                       std::optional<Duration> timeout = std::nullopt);

// Yields the objects one at a time as they become ready:
//   for (const grove::Waitable* w : grove::iwait({&a, &b})) ...
// Iteration ends when all were yielded or `timeout` (measured from construction)
// passed. Parks inside begin() and the iterator's increment (see next() for errors).
// Create and iterate it in one green thread; the objects must outlive it.
class GROVE_API IWait {
 public:
  // Starts watching `objects`; `timeout` counts from now. Does not park. UsageError
  // (nothing watched) for a green thread handle that wait() refuses: empty, the
  // caller's own, or of another OS thread.
  explicit IWait(std::vector<const Waitable*> objects, std::optional<Duration> timeout = std::nullopt);
  // Stops watching; objects not returned yet are left as they are.
  ~IWait();
  IWait(const IWait&) = delete;
  IWait& operator=(const IWait&) = delete;

  // The next ready object, or nullptr when all were returned or the time is up.
  // Parks while none is ready. UsageError on the hub; GreenletExit / TimeoutError if
  // interrupted (nothing is lost: the next call resumes where this one stopped).
  const Waitable* next();

  // An input iterator over next(): begin() and ++ call it (and so may park).
  class iterator {
   public:
    // What operator* gives.
    using value_type = const Waitable*;
    // Iterator traits.
    using difference_type = std::ptrdiff_t;
    // The end iterator.
    iterator() = default;
    // Calls w->next() for the first object; the end iterator if there is none.
    explicit iterator(IWait* w) : w_(w), cur_(w->next()) { if (!cur_) w_ = nullptr; }
    // The current ready object.
    const Waitable* operator*() const { return cur_; }
    // Moves to the next ready object (calls next(), which may park); becomes the end
    // iterator when there is none.
    iterator& operator++() {
      cur_ = w_->next();
      if (!cur_) w_ = nullptr;
      return *this;
    }
    // Meant for comparing with end(): true once the iteration is over.
    bool operator==(const iterator& o) const { return w_ == o.w_; }

   private:
    IWait* w_ = nullptr;
    const Waitable* cur_ = nullptr;
  };
  // Starts iterating: parks until the first object is ready (see next()). Once only.
  iterator begin() { return iterator(this); }
  // The end iterator.
  iterator end() { return iterator(); }

 private:
  struct Impl;
  Impl* impl_;
};

// IWait(objects, timeout), for range-for loops (see IWait). Does not park by itself.
inline IWait iwait(std::vector<const Waitable*> objects, std::optional<Duration> timeout = std::nullopt) {
  return IWait(std::move(objects), timeout);
}

}  // namespace grove
