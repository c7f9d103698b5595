// hub_thread.cpp: HubThread, an OS thread with a hub of its own (grove/hub_thread.hpp).
#include <grove/errors.hpp>
#include <grove/hub_thread.hpp>

#include <condition_variable>
#include <mutex>

#include "../hub.hpp"
#include "../log_internal.hpp"
#include "hub_inbox.hpp"

namespace grove {

namespace detail {

struct HubThreadState {
  std::mutex mu;
  std::condition_variable started_cv;  // the constructor waits for the hub
  bool started = false;
  HubRef hub;
  std::thread::id id;
  bool ended = false;
  std::exception_ptr error;
  CrossWaitList waiters;  // join() callers
};

namespace {

// The serving body: parks the root until request_stop() kills it. hold() keeps the
// hub from declaring a deadlock: work may arrive from other OS threads at any time.
struct Serve final : HubThreadBody {
  void run() override {
    const std::shared_ptr<HubInbox>& inbox = HubInbox::of_this_thread();
    inbox->hold();
    struct Release {
      HubInbox* i;
      ~Release() { i->release(); }
    } release{inbox.get()};
    Hub& hub = Hub::get();
    for (;;) hub.park("HubThread: serving");
  }
};

// request_stop(): kills the root green thread, on its hub.
struct StopRoot final : InboxEntry {
  void run() noexcept override {
    if (Hub* h = Hub::current()) h->interrupt(h->root(), kPendingKill);
    delete this;
  }
  void drop() noexcept override { delete this; }
};

void thread_main(std::shared_ptr<HubThreadState> st, std::unique_ptr<HubThreadBody> body) {
  {
    HubRef me = this_hub();  // creates the hub and its inbox
    std::lock_guard<std::mutex> lk(st->mu);
    st->hub = std::move(me);
    st->id = std::this_thread::get_id();
    st->started = true;
  }
  st->started_cv.notify_all();
  std::exception_ptr error;
  try {
    body->run();
  } catch (const GreenletExit&) {
    // request_stop(): not an error.
  } catch (...) {
    error = std::current_exception();
  }
  body.reset();
  std::lock_guard<std::mutex> lk(st->mu);
  st->error = std::move(error);
  st->ended = true;
  cross_grant_all(st->waiters);
}

}  // namespace

}  // namespace detail

HubThread::HubThread() : HubThread(std::unique_ptr<detail::HubThreadBody>(new detail::Serve)) {}

HubThread::HubThread(std::unique_ptr<detail::HubThreadBody> body)
    : state_(std::make_shared<detail::HubThreadState>()) {
  thread_ = std::thread(detail::thread_main, state_, std::move(body));
  // Creating a hub takes microseconds: block the caller (even a green thread) that long.
  std::unique_lock<std::mutex> lk(state_->mu);
  state_->started_cv.wait(lk, [&] { return state_->started; });
}

HubThread::~HubThread() {
  if (!thread_.joinable()) return;
  request_stop();
  try {
    join();
  } catch (const std::exception& e) {
    detail::log_error("grove::HubThread: the thread's function failed: {}", e.what());
  } catch (...) {
    detail::log_error("grove::HubThread: the thread's function failed with a non-standard exception");
  }
  // Still joinable only if join() refused: destroyed on its own thread (by something
  // its function owned). The thread is ending anyway (request_stop); it keeps the
  // state it shares alive, so let it go rather than std::terminate.
  if (thread_.joinable()) thread_.detach();
}

HubRef HubThread::hub() const {
  std::lock_guard<std::mutex> lk(state_->mu);
  return state_->hub;
}

void HubThread::request_stop() {
  HubRef h = hub();
  auto* e = new detail::StopRoot;
  if (!h.inbox()->post(e)) delete e;  // ended already
}

bool HubThread::wait_ended(const Duration* timeout) {
  if (!thread_.joinable()) throw UsageError("grove::HubThread::join: not joinable (joined already)");
  std::unique_lock<std::mutex> lk(state_->mu);
  if (state_->id == std::this_thread::get_id()) {
    throw UsageError("grove::HubThread::join: called on the hub thread itself (" + state_->hub.name() + ")");
  }
  while (!state_->ended) {
    detail::CrossWaiter w;
    if (!detail::cross_wait(lk, state_->waiters, w, "HubThread::join", timeout)) return state_->ended;
  }
  return true;
}

void HubThread::join() {
  wait_ended(nullptr);
  thread_.join();  // the thread has ended its function: this waits only for thread exit
  std::exception_ptr e;
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    e = std::move(state_->error);
    state_->error = nullptr;
  }
  if (e) std::rethrow_exception(e);
}

bool HubThread::join(Duration timeout) {
  if (!wait_ended(&timeout)) return false;
  join();
  return true;
}

}  // namespace grove
