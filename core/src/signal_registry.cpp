// signal_registry.cpp: subscribers per signal, the sigaction handler, the self-pipe and
// who reads it: a hub's ev_io, or a reader thread (see signal_registry.hpp).
#include "signal_registry.hpp"

#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <grove/errors.hpp>

#include "hub.hpp"
#include "log_internal.hpp"
#include "sync/hub_inbox.hpp"
#include "sync/pool_worker.hpp"

namespace grove::detail {

namespace {

// Read by the sigaction handler: lock-free atomics only.
std::atomic<int> g_write_fd{-1};
// Handlers between their read of g_write_fd and the end of their write(): the pipe is
// closed only once none is, so no handler ever writes to a closed (maybe reused) fd.
std::atomic<int> g_in_handler{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_watched_signal(int signo) {
  const int saved = errno;
  g_in_handler.fetch_add(1);
  const int fd = g_write_fd.load();
  if (fd >= 0) {
    const unsigned char b = static_cast<unsigned char>(signo);
    [[maybe_unused]] const ssize_t r = ::write(fd, &b, 1);  // full pipe: dropped (see header)
  }
  g_in_handler.fetch_sub(1);
  errno = saved;
}

constexpr unsigned char kStopReader = 0;  // never a signal number

struct Registry {
  // Serializes subscribe / unsubscribe and every change of reader (the thread's start
  // and stop, the hub named); never taken by a reader, so it may join the thread.
  std::mutex life_mu;
  // Guards the lists, dispositions, pipe_read and the named hub; every read of the pipe
  // and every delivery happens under it.
  std::mutex mu;
  std::vector<std::shared_ptr<SignalSubscriber>> subs[NSIG];
  struct sigaction previous[NSIG];
  std::size_t total = 0;  // subscriptions over all signals
  // Subscriptions per hub (SignalSubscriber::hub()), those with a count only.
  std::vector<std::pair<HubRef, std::size_t>> hub_subs;
  int pipe_read = -1;
  int pipe_write = -1;
  // The hub that reads the pipe (empty: none, or the thread). Changed under both mutexes.
  HubRef reader_hub;
  std::uint64_t reader_serial = 0;
  std::thread* thread = nullptr;  // the reader thread, only while no hub reads
};

void after_fork_in_child() noexcept;

// Never destroyed: a static destructor would race with a reader still running at exit.
Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    ::pthread_atfork(nullptr, nullptr, &after_fork_in_child);
    return reg;
  }();
  return *r;
}

// mu held: delivers each byte; false once it met the reader thread's stop byte.
bool deliver_bytes(Registry& r, const unsigned char* buf, ssize_t n) noexcept {
  bool go_on = true;
  for (ssize_t i = 0; i < n; ++i) {
    if (buf[i] == kStopReader) {
      go_on = false;  // the bytes after it are delivered still: nothing read is lost
      continue;
    }
    for (const auto& s : r.subs[buf[i]]) s->deliver(buf[i]);
  }
  return go_on;
}

// --- the reader thread -----------------------------------------------------------

void thread_main(Registry* r, int fd) noexcept {
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
  ::pthread_setname_np(::pthread_self(), "grove-signals");
  unsigned char buf[64];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, -1) < 0) continue;  // EINTR (every signal is blocked here, though)
    std::lock_guard<std::mutex> lk(r->mu);
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) continue;  // EAGAIN: no hub reads while this thread runs, but be safe
    if (!deliver_bytes(*r, buf, n)) return;
  }
}

// life_mu held, no thread running, the pipe open.
void start_thread(Registry& r) { r.thread = new std::thread(thread_main, &r, r.pipe_read); }

// life_mu held, no hub named (so only the thread reads its stop byte): it delivers what
// it read before it; what is still in the pipe stays for the next reader.
void stop_thread(Registry& r) noexcept {
  const unsigned char stop = kStopReader;
  while (::write(r.pipe_write, &stop, 1) < 0 && (errno == EAGAIN || errno == EINTR)) std::this_thread::yield();
  try {
    r.thread->join();
  } catch (const std::exception& e) {
    log_error("grove: stopping the signal reader thread: {}", e.what());
  }
  delete r.thread;
  r.thread = nullptr;
}

// --- a hub that reads ------------------------------------------------------------

void reader_hub_gone(std::uint64_t serial) noexcept;

// This OS thread's ev_io on the pipe (one per hub that ever read; freed when it exits).
struct HubWatch;
thread_local HubWatch* tls_watch = nullptr;

struct HubWatch final : ExitHook {
  ev_io io;
  struct ev_loop* loop;
  std::uint64_t serial;
  std::shared_ptr<HubInbox> inbox;
  bool active = false;

  explicit HubWatch(Hub& hub) : loop(hub.loop()), serial(hub.serial()), inbox(HubInbox::of_this_thread()) {
    io.data = this;
    inbox->add_exit_hook(this);
  }

  // (Re)starts it on fd: always set anew, so that libev registers an fd that was
  // closed and reused under the same number.
  void start(int fd) noexcept {
    stop();
    ev_io_init(&io, &on_readable, fd, EV_READ);
    ev_io_start(loop, &io);
    ev_unref(loop);  // like the inbox's ev_async: a watched pipe keeps no loop alive
    active = true;
  }
  void stop() noexcept {
    if (!active) return;
    ev_ref(loop);
    ev_io_stop(loop, &io);
    active = false;
  }

  void hub_exited() noexcept override {
    stop();
    tls_watch = nullptr;
    const std::uint64_t s = serial;
    delete this;
    reader_hub_gone(s);
  }

  static void on_readable(struct ev_loop*, ev_io* w, int revents) noexcept {
    auto* self = static_cast<HubWatch*>(w->data);
    if (revents & EV_ERROR) {  // libev stopped it (its fd was closed): balance the unref
      ev_ref(self->loop);
      self->active = false;
      return;
    }
    Registry& r = registry();
    std::lock_guard<std::mutex> lk(r.mu);
    if (r.reader_serial != self->serial || r.pipe_read != w->fd) {  // no longer the reader
      self->stop();
      if (r.reader_serial == self->serial && r.pipe_read >= 0) self->start(r.pipe_read);  // a new pipe
      return;
    }
    unsigned char buf[64];
    for (int round = 0; round < 4; ++round) {  // then back to the loop; level-triggered
      const ssize_t n = ::read(w->fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      deliver_bytes(r, buf, n);
      if (n < static_cast<ssize_t>(sizeof buf)) break;
    }
  }
};

// On a hub's thread, mu held: starts this hub's ev_io on the pipe if it is the reader.
void start_watch_here(Registry& r) {
  Hub* hub = Hub::current();
  if (!hub || r.reader_serial != hub->serial() || r.pipe_read < 0) return;
  if (!tls_watch) tls_watch = new HubWatch(*hub);
  tls_watch->start(r.pipe_read);
}

// Posted to the hub named reader: starts its ev_io there.
struct StartReading final : InboxEntry {
  explicit StartReading(std::uint64_t s) : serial(s) {}
  std::uint64_t serial;
  void run() noexcept override {
    Registry& r = registry();
    {
      std::lock_guard<std::mutex> lk(r.mu);
      try {
        start_watch_here(r);
      } catch (const std::exception& e) {
        log_error("grove: cannot watch the signal pipe on this hub: {}", e.what());
      }
    }
    delete this;
  }
  void drop() noexcept override {  // the hub exits before it could read
    const std::uint64_t s = serial;
    delete this;
    reader_hub_gone(s);
  }
};

// Posted to a hub that is no longer the reader: stops its ev_io, then closes `close_fd`
// (the read end of a pipe closed meanwhile, kept open until no ev_io watches it).
struct StopReading final : InboxEntry {
  explicit StopReading(int fd) : close_fd(fd) {}
  int close_fd;
  void run() noexcept override {
    Registry& r = registry();
    {
      std::lock_guard<std::mutex> lk(r.mu);
      if (tls_watch && (r.reader_serial != tls_watch->serial || tls_watch->io.fd == close_fd)) tls_watch->stop();
    }
    finish();
  }
  void drop() noexcept override {
    if (tls_watch && tls_watch->io.fd == close_fd) tls_watch->stop();
    finish();
  }
  void finish() noexcept {
    if (close_fd >= 0) ::close(close_fd);
    delete this;
  }
};

// life_mu held, `old` no longer named: stops its ev_io (here at once, elsewhere by a
// post), then closes close_fd (or -1).
void retire(Registry& r, const HubRef& old, int close_fd) noexcept {
  if (old.is_current()) {
    {
      std::lock_guard<std::mutex> lk(r.mu);
      if (tls_watch) tls_watch->stop();
    }
    if (close_fd >= 0) ::close(close_fd);
    return;
  }
  auto* e = new (std::nothrow) StopReading(close_fd);
  try {
    if (e && post_entry(old, e, "grove: signal reader")) return;
  } catch (...) {
  }
  // Exited (its exit hook stopped its ev_io), or out of memory: a stale ev_io stops
  // itself on its next wake-up.
  delete e;
  if (close_fd >= 0) ::close(close_fd);
}

// mu held: the hub that should read, or empty for the thread.
HubRef pick_reader(Registry& r) {
  auto eligible = [&](const HubRef& h) {
    for (const auto& [hub, n] : r.hub_subs) {
      if (hub == h) return n > 0 && hub.alive();
    }
    return false;
  };
  if (r.reader_hub && eligible(r.reader_hub)) return r.reader_hub;  // it keeps the role
  for (const auto& [hub, n] : r.hub_subs) {
    if (hub.is_current() && hub.alive()) return hub;  // starts at once, no post
  }
  for (const auto& [hub, n] : r.hub_subs) {
    if (hub.alive()) return hub;
  }
  return HubRef();
}

void close_pipe(Registry& r) noexcept;

// life_mu held: names the reader the subscribers need and starts it. May throw (a
// thread or an entry that cannot be made): then nothing is named.
void rebalance(Registry& r) {
  if (r.total == 0) {
    close_pipe(r);
    return;
  }
  for (int attempt = 0; attempt < 1000; ++attempt) {
    HubRef old, next;
    {
      std::lock_guard<std::mutex> lk(r.mu);
      old = r.reader_hub;
      next = pick_reader(r);
    }
    if (next && next == old) return;  // reading, or its start is on its way
    // A hub takes over from the thread: the thread first, so that it reads its stop byte.
    if (next && r.thread) stop_thread(r);
    {
      std::lock_guard<std::mutex> lk(r.mu);
      r.reader_hub = next;
      r.reader_serial = next.serial();
      if (next.is_current()) start_watch_here(r);
    }
    if (old) retire(r, old, -1);
    if (!next) {
      if (!r.thread) start_thread(r);
      return;
    }
    if (next.is_current()) return;
    auto* e = new StartReading(next.serial());
    if (post_entry(next, e, "grove: signal reader")) return;
    delete e;  // it exited since: no longer alive, the next pick skips it
  }
}

// life_mu held, no subscriber left (every disposition restored): no handler writes
// after this; the reader stops; the pipe is closed.
void close_pipe(Registry& r) noexcept {
  if (r.pipe_write < 0) return;
  g_write_fd.store(-1);
  while (g_in_handler.load() != 0) std::this_thread::yield();
  if (r.thread) stop_thread(r);
  HubRef old;
  int read_end;
  {
    std::lock_guard<std::mutex> lk(r.mu);
    old = std::exchange(r.reader_hub, HubRef());
    r.reader_serial = 0;
    read_end = std::exchange(r.pipe_read, -1);
  }
  ::close(std::exchange(r.pipe_write, -1));
  if (old) retire(r, old, read_end); else ::close(read_end);
}

// life_mu held, no pipe.
void open_pipe(Registry& r) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) throw std::system_error(errno, std::generic_category(), "grove: signal pipe");
  std::lock_guard<std::mutex> lk(r.mu);
  r.pipe_read = p[0];
  r.pipe_write = p[1];
  g_write_fd.store(p[1]);
}

void reader_hub_gone(std::uint64_t serial) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> life(r.life_mu);
  if (r.reader_serial != serial) return;
  try {
    rebalance(r);
  } catch (const std::exception& e) {
    log_error("grove: the signal reader's hub exited and no other reader could be started ({}); grove's "
              "signal handlers will not run until the next subscription", e.what());
  }
}

void install_handler(Registry& r, int signo) noexcept {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = &on_watched_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(signo, &sa, &r.previous[signo]);
}

// mu held.
void count_hub(Registry& r, const HubRef& hub, bool add) {
  if (!hub) return;
  auto it = std::find_if(r.hub_subs.begin(), r.hub_subs.end(), [&](const auto& e) { return e.first == hub; });
  if (add) {
    if (it == r.hub_subs.end()) r.hub_subs.emplace_back(hub, 1); else ++it->second;
  } else if (it != r.hub_subs.end() && --it->second == 0) {
    r.hub_subs.erase(it);
  }
}

// mu held: removes `sub` from signo's list; restores the disposition if it was the last.
void remove_one(Registry& r, int signo, const SignalSubscriber* sub) noexcept {
  auto& v = r.subs[signo];
  auto it = std::find_if(v.begin(), v.end(), [sub](const auto& s) { return s.get() == sub; });
  if (it == v.end()) return;
  count_hub(r, sub->hub(), false);
  v.erase(it);
  --r.total;
  if (v.empty()) ::sigaction(signo, &r.previous[signo], nullptr);
}

void after_fork_in_child() noexcept {
  Registry& r = registry();
  // Another OS thread (the reader, a subscriber) may have held them at the fork.
  new (&r.life_mu) std::mutex;
  new (&r.mu) std::mutex;
  if (r.pipe_write < 0) return;
  r.thread = nullptr;  // the parent's thread, absent here: its object is leaked, never joined
  g_write_fd.store(-1);
  g_in_handler.store(0);  // a handler interrupted by the fork belongs to another thread
  if (tls_watch) tls_watch->stop();
  ::close(r.pipe_read);
  ::close(r.pipe_write);
  r.pipe_read = r.pipe_write = -1;
  r.reader_hub = HubRef();
  r.reader_serial = 0;
  const pthread_t self = ::pthread_self();
  for (int signo = 1; signo < NSIG; ++signo) {
    auto& v = r.subs[signo];
    for (std::size_t i = v.size(); i-- > 0;) {
      if (!::pthread_equal(v[i]->owner_thread(), self)) remove_one(r, signo, v[i].get());
    }
  }
  if (r.total == 0) return;
  try {
    open_pipe(r);
    std::lock_guard<std::mutex> life(r.life_mu);
    rebalance(r);
  } catch (const std::exception& e) {
    log_error("grove: in the child of fork(): cannot restart the signal reader ({}); grove's signal "
              "handlers will not run in this process", e.what());
  }
}

}  // namespace

HubRef hub_running_here() noexcept {
  if (!Hub::current() || tls_in_pool_worker) return HubRef();
  try {
    return this_hub();
  } catch (...) {
    return HubRef();
  }
}

void check_watchable_signal(int signo, const char* what) {
  const char* why = nullptr;
  if (signo <= 0 || signo >= NSIG) {
    why = "is not a signal number";
  } else if (signo == SIGKILL || signo == SIGSTOP) {
    why = "cannot be caught";
  } else if (signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE || signo == SIGTRAP ||
             signo == SIGSYS) {
    why = "is a fault signal, which must be handled on the faulting thread (it cannot wait for a green thread)";
  }
  if (why) throw UsageError(std::string(what) + ": signal " + std::to_string(signo) + " " + why);
}

void subscribe_signals(std::span<const int> signals, const std::shared_ptr<SignalSubscriber>& sub) {
  Registry& r = registry();
  std::lock_guard<std::mutex> life(r.life_mu);
  if (r.pipe_write < 0) open_pipe(r);
  {
    std::lock_guard<std::mutex> lk(r.mu);
    for (const int signo : signals) {
      auto& v = r.subs[signo];
      if (std::find(v.begin(), v.end(), sub) != v.end()) continue;  // listed twice
      count_hub(r, sub->hub(), true);
      v.push_back(sub);
      ++r.total;
      if (v.size() == 1) install_handler(r, signo);
    }
  }
  try {
    rebalance(r);
  } catch (...) {
    {
      std::lock_guard<std::mutex> lk(r.mu);
      for (const int signo : signals) remove_one(r, signo, sub.get());
    }
    try {
      rebalance(r);
    } catch (...) {
    }
    throw;
  }
}

void unsubscribe_signals(std::span<const int> signals, const SignalSubscriber* sub) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> life(r.life_mu);
  {
    std::lock_guard<std::mutex> lk(r.mu);
    for (const int signo : signals) remove_one(r, signo, sub);
  }
  try {
    rebalance(r);
  } catch (const std::exception& e) {
    log_error("grove: cannot start a reader for the signals still watched ({}); they are not delivered "
              "until the next subscription", e.what());
  }
}

}  // namespace grove::detail
