// grove/hub_thread.hpp: an OS thread with a hub of its own.
//
//   grove::HubThread worker;                                  // serves until stopped
//   auto g = grove::spawn_on(worker.hub(), [] { return 6 * 7; });
//   int v = g.get();                                          // from any hub or thread
//
//   grove::HubThread t([](int n) { ... grove::sleep(10ms); ... }, 3);
//   t.join();                                                 // fn returned
//
// Green threads never migrate between OS threads; parallelism comes from several
// hubs, each on its own OS thread, handing work to each other (spawn_on, HubRef::post,
// grove/mt/*.hpp). A HubThread starts an OS thread, creates its hub, and runs a
// function there as the thread's root green thread (it may spawn, park, serve). The
// thread ends when the function returns or throws, or when request_stop() kills it
// (GreenletExit in the root). Green threads still alive on that hub then are
// abandoned, as at any thread exit (hub.cpp: "Shutdown order"); whoever waits on one
// from another hub (RemoteGreenThread) gets HubExited, never a hang.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/hub_ref.hpp>

namespace grove {

namespace detail {
// What a HubThread runs as its root green thread.
struct HubThreadBody {
  virtual ~HubThreadBody() = default;
  virtual void run() = 0;
};
template <class F, class... Args>
struct HubThreadCall final : HubThreadBody {
  explicit HubThreadCall(F&& f, Args&&... a) : call(std::forward<F>(f), std::forward<Args>(a)...) {}
  void run() override {
    std::apply([](auto& fn, auto&... a) { std::invoke(std::move(fn), std::move(a)...); }, call);
  }
  std::tuple<std::decay_t<F>, std::decay_t<Args>...> call;
};
struct HubThreadState;
}  // namespace detail

// An OS thread with a hub of its own, running a function as its root green thread
// (see the comment at the top of grove/hub_thread.hpp). Neither copyable nor movable.
class GROVE_API HubThread {
 public:
  // Starts a hub thread that only serves: green threads arrive by spawn_on() and
  // HubRef::post(), and it runs until request_stop() (or destruction).
  HubThread();
  // Starts a hub thread running std::invoke(fn, args...) (decayed copies) as its root
  // green thread; the thread ends when fn returns or throws (join() rethrows that) or
  // when request_stop() kills it. Returns once the hub exists (hub() is valid).
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, HubThread>)
  explicit HubThread(F&& fn, Args&&... args)
      : HubThread(std::unique_ptr<detail::HubThreadBody>(
            new detail::HubThreadCall<F, Args...>(std::forward<F>(fn), std::forward<Args>(args)...))) {}

  HubThread(const HubThread&) = delete;
  HubThread& operator=(const HubThread&) = delete;
  // request_stop(), then join(); an exception fn threw is logged, not rethrown.
  // Destroyed on its own hub thread (it cannot join itself), it stops the thread and
  // detaches it.
  ~HubThread();

  // The thread's hub: spawn_on() / post() to it from anywhere. Stays valid (a
  // reference that refuses posts, HubRef::post returning false) after the thread ends.
  HubRef hub() const;

  // Kills the root green thread (GreenletExit at its current or next blocking point),
  // from any OS thread; returns at once. Nothing happens if the thread has ended.
  void request_stop();

  // Waits until the thread has ended: a green thread parks (only itself), a plain OS
  // thread blocks. Rethrows (once) what fn threw; GreenletExit from request_stop() is
  // not an error. UsageError if called on the hub thread itself or after join().
  void join();
  // As join(), but gives up after `timeout` (returns false; the thread keeps running).
  bool join(Duration timeout);
  // True until join() has returned.
  bool joinable() const noexcept { return thread_.joinable(); }

 private:
  explicit HubThread(std::unique_ptr<detail::HubThreadBody> body);
  bool wait_ended(const Duration* timeout);

  std::shared_ptr<detail::HubThreadState> state_;
  std::thread thread_;
};

}  // namespace grove
