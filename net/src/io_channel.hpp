// io_channel.hpp: one direction (read or write) of one fd, and how a green thread
// parks on it. The heart of grove's socket I/O path.
//
// The I/O path (gevent's and Go's shape): try the system call; only on EAGAIN park on
// the channel; when woken, retry. So a message that arrives costs one epoll_wait that
// reports the fd, one read and the reply's write.
//
// Sockets. A Socket's two channels share a PolledFd (`polled`): on the first wait the
// fd goes into the hub's own edge-triggered epoll set, for both directions, and stays
// there until close (see "Socket readiness" in core/src/hub.cpp). The hub then sets
// `waiter->ready` and wakes the waiter itself, or sets `edge` when nobody waits, and
// a wait that finds `edge` set clears it and returns at once: the caller's retry of
// its system call finds out what changed. Edge-triggered is safe with the skipped
// read below because the hub also records an event that reaches a waiter already
// woken, and a hang-up that comes with data. If the kernel refuses the fd (no memory
// for epoll), the channel falls back to its libev watcher, as below. The untimed
// wait (wait_untimed) is inline and builds no std::error_code: it is the per-message
// path of every server.
//
// Watcher lifetime (libev: pipes, wait_readable / wait_writable, a refused socket).
// Each Socket owns two ev_io watchers (read, write), initialised
// once with the fd and never re-created per call. A watcher is started when a green
// thread parks on it. What happens after the wake differs by direction:
//   - read: the watcher stays started after waking the reader. The reader usually
//     reads, replies and parks again; the watcher is then already started, so libev
//     has nothing to change and issues no epoll_ctl at all (ev_io_stop followed by
//     ev_io_start would also be free within one loop turn, since libev only diffs
//     the fd's mask in fd_reify; but a stop that reaches fd_reify while the
//     reader is away makes libev drop the fd lazily, which costs an EPOLL_CTL_DEL on
//     the next event and an EPOLL_CTL_ADD on the next start). If the watcher fires
//     while nobody is parked on it (data arrived while the reader was busy
//     elsewhere), the callback stops it: one wasted wake-up at most, then silence.
//   - write: sockets are almost always writable, so a started write watcher would
//     fire on every loop turn; the callback stops it as it wakes the writer.
// Lost wake-ups cannot happen there: libev's epoll backend is level-triggered, so a fd that
// became ready between the failed syscall (or a skipped one, below) and the start of
// the watcher is reported by the very next epoll_wait. Busy loops cannot happen: a
// watcher with no parked green thread stops itself on its first callback.
//
// The skipped read. A short read on a stream socket (fewer bytes than asked for)
// means the kernel buffer was drained a moment ago; the next recv then parks at once
// instead of making a read(2) that would return EAGAIN (nginx's "ready" flag). Being
// wrong costs one loop turn, never a lost wake-up (level-triggered, as above).
//
// Accounting. hub.watcher_started()/watcher_stopped() count parked waits (not the
// libev state of a lingering read watcher), so deadlock detection and hub_stats()
// see only watchers some green thread really waits on.
//
// Measured (bench/echo, strace -c -f, 100 connections, 64-byte echo): per message
// 0.997 read, 0.996 write, 0.010 epoll_wait, 0.002 epoll_ctl (set-up only), the same
// as a bare epoll loop.
//
// Close. close() stops both watchers, marks each parked waiter `closed` (a flag on
// the waiter's own stack, so the socket's state may be freed before it runs) and
// wakes it; the waiter returns ECANCELED without touching the channel again. That
// ECANCELED is a promise to the caller too: the channel's SocketState, and the
// Socket that owned it, may be gone (a Socket destroyed, or a moved-from Socket's
// storage freed, while a green thread was parked in it), so neither may be touched
// after it (socket_state.hpp, closed_while_parked). Any other result means the
// socket was not closed before the waiter ran again, so its SocketState is alive.
#pragma once

#include <ev.h>

#include <cerrno>
#include <system_error>

#include "hub.hpp"
#include "hub_switch.hpp"

namespace grove::net::detail {

using grove::detail::GreenThreadState;
using grove::detail::Hub;

// Lives on the parked green thread's stack: gt, ready (the fd was reported ready),
// closed (the socket was closed while parked).
using IoWaiter = grove::detail::FdWaiter;

// `waiter` and `edge` (PollSide) are the hub's to set when the channel's fd is in its
// epoll set (`polled`, registered); otherwise libev's watcher `io` reports readiness.
struct IoChannel : grove::detail::PollSide {
  // keep_started first: it fills PollSide's tail padding (88 bytes -> 80).
  bool keep_started = false;  // read side: see "Watcher lifetime" above
  const char* what = "";      // "read" / "write", for misuse messages
  ev_io io;
  grove::detail::PolledFd* polled = nullptr;  // a socket's registration (see "Sockets" above)

  void init(int fd, int events, bool keep) noexcept;
  // Parks until the fd is ready, `timeout` seconds pass (< 0: no limit) or close().
  // Returns {} when ready, timed_out, or ECANCELED after a close (then the channel
  // may already be freed). UsageError if another green thread waits on this channel;
  // GreenletExit / TimeoutError unwind. `hub` must be the calling OS thread's (the
  // Socket checks that before it calls).
  std::error_code wait(Hub& hub, double timeout, const char* op, const char* op_desc);
  // wait() with no time limit, for the sockets' untimed fast paths: inline, and no
  // std::error_code on the way (each one built or cleared is a call into libstdc++).
  // Returns 0 when ready, ECANCELED after a close (then the channel may be freed);
  // refuses and unwinds as wait().
  inline int wait_untimed(Hub& hub, const char* op, const char* op_desc);
  // Parks for `seconds` as this channel's waiter without watching the fd, so that
  // close() still wakes it: for a retry that readiness cannot signal (sendto to a
  // full Unix datagram receiver). Returns {} when the time is up (or the fd was
  // reported ready), ECANCELED after a close; unwinds and refuses as wait().
  std::error_code sleep(Hub& hub, double seconds, const char* op, const char* op_desc);
  // Stops the watcher and wakes the waiter with `closed`. Does not park.
  void cancel(Hub& hub) noexcept;

 private:
  // UsageError on the hub, or if another green thread waits on this channel.
  void check_may_wait(Hub& hub, const char* op);
  // Whether this wait goes through the hub's epoll set (arming this side there on
  // its first wait); false: through libev's watcher.
  bool use_poll(Hub& hub) noexcept {
    if (armed) [[likely]] return true;
    if (!polled) return false;
    return hub.poll_arm(*polled, *this) || (polled = nullptr, false);
  }
  // Leaving a wait: the waiter comes off the channel (unless a close took it off
  // already) and a write watcher stops.
  struct Leave {
    Hub& hub;
    IoChannel* ch;
    IoWaiter& me;
    ~Leave() {
      hub.watcher_stopped();
      if (me.closed) return;  // close() already detached us; the channel may be gone
      ch->waiter = nullptr;
      if (!ch->keep_started && ev_is_active(&ch->io)) ev_io_stop(hub.loop(), &ch->io);
    }
  };
  [[noreturn]] void refuse_second_waiter(const char* op) const;
};

inline int IoChannel::wait_untimed(Hub& hub, const char* op, const char* op_desc) {
  if (hub.on_hub() || waiter) [[unlikely]] check_may_wait(hub, op);
  if (use_poll(hub)) [[likely]] {
    if (edge) {  // reported ready since the last wait: the caller's retry finds out
      edge = hangup;  // after a hang-up, every wait (see PollSide)
      return 0;
    }
  } else if (!ev_is_active(&io)) {
    ev_io_start(hub.loop(), &io);
  }
  IoWaiter me;
  me.gt = hub.running();
  waiter = &me;
  hub.watcher_started();
  Leave leave{hub, this, me};
  do hub.park_inline(op_desc); while (!me.ready && !me.closed);  // not on the hub: checked above
  return me.closed ? ECANCELED : 0;
}

}  // namespace grove::net::detail
