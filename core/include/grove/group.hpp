// grove/group.hpp: Group, a set of green threads joined and killed together, and
// the map / imap / imap_unordered / apply helpers that run a function over items in
// green threads of the group. grove/pool.hpp adds Pool, a Group of bounded size.
//
//   grove::Group g;
//   for (auto& url : urls) g.spawn(fetch, url);
//   g.join();                                   // parks until every member is dead
//
//   std::vector<int> lens = g.map([](std::string s) { return s.size(); }, words);
//
// A member leaves the group by itself when it dies. An exception in one member does
// not touch the others (it is logged if nobody looks at it, as for any green thread).
// Destroying a Group neither kills nor waits for its members. Only for the OS thread
// whose green threads use it: a group belongs to the OS thread that first spawns into
// it, adds to it or joins it, and every call from any other OS thread throws UsageError
// and changes nothing (size() and empty() are plain reads, not checked: from another
// OS thread their answer is undefined).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <grove/detail/observer.hpp>
#include <grove/detail/thread_owner.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/green_thread.hpp>
#include <grove/scheduler.hpp>

namespace grove {

template <class R>
class IMap;

// A set of green threads joined and killed together (see the comment at the top of
// grove/group.hpp). For the green threads of one OS thread; neither copyable nor
// movable.
class GROVE_API Group {
 public:
  // An empty group.
  Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  // Forgets the members without killing or waiting for them; they keep running.
  virtual ~Group();

  // Spawns fn(args...) as a member and returns its handle. Does not park in a plain
  // Group. In a Pool, parks while the pool is full (GreenletExit / TimeoutError if
  // interrupted there, UsageError if that would be on the hub; nothing is spawned).
  // Errors of spawn() propagate (nothing is spawned, the slot is given back).
  template <class F, class... Args>
  GreenThread<spawn_result_t<F, Args...>> spawn(F&& fn, Args&&... args) {
    check_thread("grove::Group::spawn");
    acquire_slot(std::nullopt);
    SlotGuard slot{this};
    auto g = grove::spawn(std::forward<F>(fn), std::forward<Args>(args)...);
    insert(g);  // takes the slot
    slot.taken = true;
    return g;
  }

  // Adds a green thread spawned elsewhere. Adding a member again or a dead green
  // thread does nothing; an empty handle, or a green thread of another OS thread, is
  // a UsageError (not added). In a Pool, parks while the pool is full (GreenletExit /
  // TimeoutError if interrupted there; not added).
  void add(const GreenThreadHandle& g);
  // Removes g from the group without killing it (a Pool slot becomes free). Does
  // nothing if g is not a member. Never parks. UsageError from another OS thread.
  void discard(const GreenThreadHandle& g);
  // True if g is a member. Not checked (a plain read, as size()).
  bool contains(const GreenThreadHandle& g) const noexcept;
  // The number of members (live green threads added and not discarded).
  std::size_t size() const noexcept { return members_.size(); }
  // True if it has no member.
  bool empty() const noexcept { return members_.empty(); }
  // A snapshot of the members, in no particular order.
  std::vector<GreenThreadHandle> members() const;

  // Parks until the group is empty (returns at once if it is). Returns false if
  // `timeout` passed first. GreenletExit / TimeoutError if the caller is interrupted.
  // Either way the members keep running. UsageError if called from a member (it
  // would wait for itself), from another OS thread than the members', or if it would
  // park on the hub.
  bool join(std::optional<Duration> timeout = std::nullopt);
  // Kills every member (all at once), then parks until the group is empty; returns
  // false if `timeout` passed first. Members added meanwhile are killed too.
  // UsageError if called from a member (it would wait for itself) or from another OS
  // thread than the members'. After a timeout, or if the caller is interrupted
  // (GreenletExit / TimeoutError), the kills stay delivered and the members still
  // dying stay members until they are dead (members added after that are not killed).
  bool kill(std::optional<Duration> timeout = std::nullopt);
  // Delivers the kill to every member except the caller and returns at once. Never
  // parks. UsageError from another OS thread than the group's.
  void kill_nowait();

  // Runs fn(args...) in a member and returns its value (or rethrows its exception).
  // Called from a member of this group it runs fn directly, so a full Pool cannot
  // deadlock on itself. Otherwise parks as spawn() and GreenThread::get() do; if the
  // caller is interrupted in get(), the member keeps running.
  template <class F, class... Args>
  spawn_result_t<F, Args...> apply(F&& fn, Args&&... args) {
    check_thread("grove::Group::apply");
    if (contains(current())) return std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
    return spawn(std::forward<F>(fn), std::forward<Args>(args)...).get();
  }

  // fn(item) for every item, each in a member (in a Pool at most capacity() at once);
  // returns the results in the order of `items`. If a call throws, map kills the calls
  // still running, spawns no more, waits until the killed ones are dead, and rethrows
  // the exception of the call that failed first (in time). If the caller is killed or
  // times out, the calls it started are killed (without waiting) and the
  // GreenletExit / TimeoutError propagates.
  template <class F, class Range>
  auto map(F fn, const Range& items);

  // Iterates over fn(item) results in the order of `items`, computed concurrently by
  // members (a feeder green thread spawns them, parking while a Pool is full). A
  // failed call rethrows its exception when iteration reaches it. Destroying the
  // IMap kills what is still running. Items are copied. Does not park itself: the
  // IMap's begin() / next() park for each result (GreenletExit / TimeoutError if
  // interrupted there; the calls keep running until the IMap is destroyed).
  template <class F, class Range>
  auto imap(F fn, const Range& items);
  // As imap, in the order the calls finish.
  template <class F, class Range>
  auto imap_unordered(F fn, const Range& items);

  // UsageError naming `what` if called from another OS thread than the group's (the
  // first call binds it: detail/thread_owner.hpp). Every call above checks it.
  void check_thread(const char* what) const;

 protected:
  // Pool's bound. acquire_slot() parks until a member may be added and reserves the
  // slot (Group: returns at once); insert() turns the reservation into a member
  // (slot_taken()); release_slot() gives back a reservation that was not used.
  virtual void acquire_slot(std::optional<Duration> /*timeout*/) {}
  // A reserved slot became a member (insert() calls it).
  virtual void slot_taken() noexcept {}
  // Gives back a reservation that was not used (the spawn failed, or the green
  // thread died or was added while add() waited).
  virtual void release_slot() noexcept {}
  // A member died or was discarded: its slot is free.
  virtual void on_member_left() noexcept {}

 private:
  struct Member;
  struct SlotGuard {
    Group* group;
    bool taken = false;
    ~SlotGuard() {
      if (!taken) group->release_slot();
    }
  };
  void insert(const GreenThreadHandle& g);
  void remove(detail::GreenThreadState* s) noexcept;

  detail::ThreadOwner owner_;
  std::unordered_map<detail::GreenThreadState*, std::unique_ptr<Member>> members_;
  detail::WaitQueue empty_waiters_;
  std::size_t killing_ = 0;  // kill() calls in progress: insert() kills new members
};

}  // namespace grove

#include <grove/detail/imap.hpp>
