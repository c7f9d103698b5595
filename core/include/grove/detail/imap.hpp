// grove/detail/imap.hpp: the machinery under Group::map / imap / imap_unordered.
// Included by grove/group.hpp; not a header of its own.
//
// One run: a feeder green thread spawns one member per item (parking while a Pool is
// full); each member stores its outcome in the run's shared state and wakes the one
// consumer (the green thread iterating). The state is shared (members, feeder and
// consumer each hold it), so whoever unwinds first, nothing dangles. A member that
// dies before reporting (killed before it ran, or while running) reports "killed"
// from the destructor of its captured Reporter, so the consumer never waits for an
// outcome that cannot come.
#pragma once

#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <grove/detail/wait_queue.hpp>
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/scheduler.hpp>
#include <grove/wait.hpp>

namespace grove {
namespace detail {

template <class R>
struct MapRun {
  using Value = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  struct Outcome {
    std::size_t index = 0;
    std::optional<Value> value;
    std::exception_ptr error;  // set when the call threw or was killed
  };

  std::deque<Outcome> done;            // finished, not yet consumed
  std::vector<GreenThreadHandle> calls;  // every member spawned so far
  GreenThreadHandle feeder;
  std::size_t spawned = 0;
  bool fed = false;   // the feeder spawned everything it will (spawned is final)
  bool stop = false;  // the feeder must spawn no more
  WaitQueue consumer;

  void report(Outcome o) noexcept {
    done.push_back(std::move(o));
    consumer.wake_one_nothrow("grove::Group::imap (a call finished)");
  }
  void feeding_over() noexcept {
    fed = true;
    consumer.wake_one_nothrow("grove::Group::imap (feeding ended)");
  }
  // Kills the feeder and every member still running; does not wait.
  void kill_all() noexcept {
    stop = true;
    const GreenThreadHandle me = current();
    try {
      if (feeder && !(feeder == me)) feeder.kill_nowait();
      for (const auto& c : calls) {
        if (!(c == me)) c.kill_nowait();
      }
    } catch (...) {
      // kill_nowait throws only for a handle of another OS thread: not possible here.
    }
  }
  // The next outcome in completion order, parking for it; nullopt when every member
  // reported and the feeder is done.
  std::optional<Outcome> next_finished(std::size_t& consumed, const char* what) {
    for (;;) {
      if (!done.empty()) {
        Outcome o = std::move(done.front());
        done.pop_front();
        ++consumed;
        return o;
      }
      if (fed && consumed == spawned) return std::nullopt;
      consumer.wait(what);
    }
  }
};

// Reports "killed" for a member that dies without reporting. Lives in the member's
// captures, which are destroyed when the member dies whether or not it ever ran.
template <class R>
struct Reporter {
  std::shared_ptr<MapRun<R>> run;
  std::size_t index = 0;
  bool reported = false;

  Reporter(std::shared_ptr<MapRun<R>> r, std::size_t i) : run(std::move(r)), index(i) {}
  Reporter(Reporter&& o) noexcept : run(std::move(o.run)), index(o.index), reported(o.reported) {
    o.reported = true;
  }
  Reporter& operator=(Reporter&&) = delete;
  ~Reporter() {
    if (!reported && run) {
      typename MapRun<R>::Outcome o;
      o.index = index;
      o.error = std::make_exception_ptr(GreenThreadKilled("grove::Group::map: the call was killed"));
      run->report(std::move(o));
    }
  }
  void report(typename MapRun<R>::Outcome o) noexcept {
    reported = true;
    run->report(std::move(o));
  }
};

// One member's function object: calls fn(item) and reports the outcome.
template <class R, class F, class Item>
struct MemberCall {
  Reporter<R> rep;
  std::shared_ptr<F> fn;
  Item item;

  void operator()() {
    typename MapRun<R>::Outcome o;
    o.index = rep.index;
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(*fn, std::move(item));
        o.value.emplace();
      } else {
        o.value.emplace(std::invoke(*fn, std::move(item)));
      }
    } catch (const GreenletExit&) {
      throw;  // the Reporter reports the kill
    } catch (...) {
      o.error = std::current_exception();
    }
    rep.report(std::move(o));
  }
};

template <class R, class Group, class F, class Item>
void feed_members(std::shared_ptr<MapRun<R>> run, Group* group, std::shared_ptr<F> fn, std::vector<Item> items) {
  struct Over {  // however the feeder ends, the consumer learns the count is final
    MapRun<R>* run;
    ~Over() { run->feeding_over(); }
  } over{run.get()};
  for (std::size_t i = 0; i < items.size() && !run->stop; ++i) {
    MemberCall<R, F, Item> call{Reporter<R>(run, i), fn, std::move(items[i])};
    try {
      run->calls.push_back(group->spawn(std::move(call)));
      ++run->spawned;
    } catch (const GreenletExit&) {
      call.rep.reported = true;  // never spawned: nothing to report
      throw;
    } catch (...) {
      // The item could not be spawned (no memory for a stack, an error in a Pool's
      // wait): it counts as a call that failed with that error, and feeding stops.
      call.rep.reported = true;
      typename MapRun<R>::Outcome o;
      o.index = i;
      o.error = std::current_exception();
      ++run->spawned;
      run->report(std::move(o));
      return;
    }
  }
}

template <class R, class Group, class F, class Range>
std::shared_ptr<MapRun<R>> start_map(Group* group, F fn, const Range& items) {
  group->check_thread("grove::Group::map");
  using Item = std::decay_t<decltype(*std::begin(items))>;
  auto run = std::make_shared<MapRun<R>>();
  std::vector<Item> copy(std::begin(items), std::end(items));
  // The feeder holds the run, but the run holds only a handle to the feeder.
  run->feeder = grove::spawn(&feed_members<R, Group, F, Item>, run, group, std::make_shared<F>(std::move(fn)),
                             std::move(copy));
  return run;
}

template <class F, class Range>
using map_result_t = std::invoke_result_t<F&, std::decay_t<decltype(*std::begin(std::declval<const Range&>()))>>;

}  // namespace detail

// The iterator object imap / imap_unordered return. Move-only; owns the run.
template <class R>
class IMap {
 public:
  using Value = typename detail::MapRun<R>::Value;

  IMap(std::shared_ptr<detail::MapRun<R>> run, bool ordered) : run_(std::move(run)), ordered_(ordered) {}
  IMap(IMap&&) noexcept = default;
  IMap& operator=(IMap&&) = delete;
  IMap(const IMap&) = delete;
  ~IMap() {
    if (run_ && !(run_->fed && consumed_ == run_->spawned)) run_->kill_all();
  }

  // The next result (parks for it); nullopt at the end. Rethrows a failed call's
  // exception (GreenThreadKilled if it was killed); iteration may go on after that.
  std::optional<Value> next() {
    const char* what = ordered_ ? "grove::Group::imap" : "grove::Group::imap_unordered";
    if (!ordered_) {
      auto o = run_->next_finished(consumed_, what);
      if (!o) return std::nullopt;
      return take(*o);
    }
    for (;;) {
      auto it = parked_.find(next_index_);
      if (it != parked_.end()) {
        auto o = std::move(it->second);
        parked_.erase(it);
        ++next_index_;
        return take(o);
      }
      auto o = run_->next_finished(consumed_, what);
      if (!o) return std::nullopt;
      parked_.emplace(o->index, std::move(*o));
    }
  }

  class iterator {
   public:
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(IMap* m) : m_(m) { advance(); }
    Value& operator*() { return *cur_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    bool operator==(const iterator& o) const { return m_ == o.m_; }

   private:
    void advance() {
      cur_ = m_->next();
      if (!cur_) m_ = nullptr;
    }
    IMap* m_ = nullptr;
    std::optional<Value> cur_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  static Value take(typename detail::MapRun<R>::Outcome& o) {
    if (o.error) std::rethrow_exception(o.error);
    return std::move(*o.value);
  }

  std::shared_ptr<detail::MapRun<R>> run_;
  bool ordered_;
  std::size_t consumed_ = 0;
  std::size_t next_index_ = 0;
  std::map<std::size_t, typename detail::MapRun<R>::Outcome> parked_;  // arrived early (ordered)
};

template <class F, class Range>
auto Group::imap(F fn, const Range& items) {
  using R = detail::map_result_t<F, Range>;
  return IMap<R>(detail::start_map<R>(this, std::move(fn), items), true);
}

template <class F, class Range>
auto Group::imap_unordered(F fn, const Range& items) {
  using R = detail::map_result_t<F, Range>;
  return IMap<R>(detail::start_map<R>(this, std::move(fn), items), false);
}

template <class F, class Range>
auto Group::map(F fn, const Range& items) {
  using R = detail::map_result_t<F, Range>;
  auto run = detail::start_map<R>(this, std::move(fn), items);
  std::vector<std::optional<typename detail::MapRun<R>::Value>> results;
  std::exception_ptr first;
  std::size_t consumed = 0;
  try {
    while (auto o = run->next_finished(consumed, "grove::Group::map")) {
      if (o->error) {
        first = o->error;
        break;
      }
      if (results.size() <= o->index) results.resize(o->index + 1);
      results[o->index] = std::move(o->value);
    }
  } catch (...) {
    run->kill_all();  // interrupted: stop the calls, do not wait for them
    throw;
  }
  if (first) {
    run->kill_all();
    std::vector<GreenThreadHandle> all = run->calls;
    all.push_back(run->feeder);
    joinall(all);
    std::rethrow_exception(first);
  }
  if constexpr (std::is_void_v<R>) {
    return;
  } else {
    std::vector<R> out;
    out.reserve(results.size());
    for (auto& r : results) out.push_back(std::move(*r));
    return out;
  }
}

}  // namespace grove
