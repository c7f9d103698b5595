// io_channel.cpp: parking a green thread on one direction of one fd. The design
// notes are in io_channel.hpp.
#include "io_channel.hpp"

#include <cerrno>
#include <chrono>
#include <string>

#include <grove/duration.hpp>
#include <grove/errors.hpp>

namespace grove::net::detail {

namespace {

// In the child process of a fork(), a waiter whose green thread was abandoned there
// never runs again (core/src/fork.cpp): detach it as its own wait() would have on
// leaving, so the watcher stops (an fd left readable would otherwise wake the loop
// on every poll) and the child may use the socket.
[[gnu::cold]] bool drop_abandoned(Hub& hub, IoChannel& ch) noexcept {
  if (ch.waiter->gt->status != grove::detail::Status::kAbandoned) return false;
  ch.waiter = nullptr;
  hub.watcher_stopped();
  if (ev_is_active(&ch.io)) ev_io_stop(hub.loop(), &ch.io);
  return true;
}

void on_io(struct ev_loop* loop, ev_io* w, int) noexcept {
  auto* ch = static_cast<IoChannel*>(w->data);
  IoWaiter* waiter = ch->waiter;
  if (!waiter || !ch->keep_started) ev_io_stop(loop, w);
  if (waiter) {
    waiter->ready = true;
    Hub& hub = *Hub::current();
    if (!hub.wake(waiter->gt)) [[unlikely]] drop_abandoned(hub, *ch);
  }
}

}  // namespace

void IoChannel::init(int fd, int events, bool keep) noexcept {
  ev_io_init(&io, &on_io, fd, events);
  io.data = this;
  if (Hub* hub = Hub::current()) randomize_priority(hub->schedule_rng(), reinterpret_cast<ev_watcher*>(&io));
  waiter = nullptr;
  edge = false;
  hangup = false;
  polled = nullptr;
  keep_started = keep;
  what = events == EV_READ ? "read" : "write";
}

[[noreturn, gnu::cold, gnu::noinline]] void IoChannel::refuse_second_waiter(const char* op) const {
  throw UsageError(std::string(op) +
                   ": another green thread is already waiting to " + what +
                   " on this socket (only one reader and one writer may wait on a socket at once)");
}

void IoChannel::check_may_wait(Hub& hub, const char* op) {
  hub.check_may_block(op);
  if (waiter && !drop_abandoned(hub, *this)) refuse_second_waiter(op);
}

std::error_code IoChannel::wait(Hub& hub, double timeout, const char* op, const char* op_desc) {
  check_may_wait(hub, op);
  if (timeout == 0) return std::make_error_code(std::errc::resource_unavailable_try_again);
  if (use_poll(hub)) {
    if (edge) {  // reported ready since the last wait: the caller's retry finds out
      edge = hangup;  // after a hang-up, every wait (see PollSide)
      return {};
    }
  } else if (!ev_is_active(&io)) {
    ev_io_start(hub.loop(), &io);
  }
  IoWaiter me;
  me.gt = hub.running();
  waiter = &me;
  hub.watcher_started();
  Leave leave{hub, this, me};
  if (timeout < 0) {
    while (!me.ready && !me.closed) hub.park(op_desc);
  } else {
    const auto deadline = grove::detail::deadline_after(std::chrono::steady_clock::now(), timeout);
    while (!me.ready && !me.closed) {
      const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0 || !hub.park_for(left, op_desc)) {
        if (me.ready || me.closed) break;
        return std::make_error_code(std::errc::timed_out);
      }
    }
  }
  if (me.closed) return std::error_code(ECANCELED, std::system_category());
  return {};
}

std::error_code IoChannel::sleep(Hub& hub, double seconds, const char* op, const char* op_desc) {
  check_may_wait(hub, op);
  IoWaiter me;
  me.gt = hub.running();
  me.nap = true;  // the hub's epoll set does not end it (libev's watcher, if started, may)
  waiter = &me;  // so that close() wakes us; the watcher is left as it is
  hub.watcher_started();  // counted as every registered waiter is (see drop_abandoned)
  struct Leave {
    Hub& hub;
    IoChannel* ch;
    IoWaiter& me;
    ~Leave() {
      hub.watcher_stopped();
      if (!me.closed) ch->waiter = nullptr;  // after a close the channel may be gone
    }
  } leave{hub, this, me};
  const auto deadline = grove::detail::deadline_after(std::chrono::steady_clock::now(), seconds);
  while (!me.ready && !me.closed) {
    const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0 || !hub.park_for(left, op_desc)) break;
  }
  if (me.closed) return std::error_code(ECANCELED, std::system_category());
  return {};
}

void IoChannel::cancel(Hub& hub) noexcept {
  if (ev_is_active(&io)) ev_io_stop(hub.loop(), &io);
  if (IoWaiter* w = waiter) {
    waiter = nullptr;
    w->closed = true;
    hub.wake(w->gt);
  }
}

}  // namespace grove::net::detail
