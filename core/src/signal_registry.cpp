// signal_registry.cpp: subscribers per signal, the sigaction handler, the self-pipe and
// its reader thread (see signal_registry.hpp).
#include "signal_registry.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>

#include <grove/errors.hpp>

#include "log_internal.hpp"

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
  // Serializes subscribe / unsubscribe (the reader's start and stop); never taken by
  // the reader, so unsubscribe may join it while holding this.
  std::mutex life_mu;
  // Guards the lists and dispositions; the reader holds it while it delivers.
  std::mutex mu;
  std::vector<std::shared_ptr<SignalSubscriber>> subs[NSIG];
  struct sigaction previous[NSIG];
  std::size_t total = 0;  // subscriptions over all signals
  int pipe_read = -1;
  int pipe_write = -1;
  std::thread* reader = nullptr;
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

void reader_main(Registry* r, int fd) noexcept {
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
  ::pthread_setname_np(::pthread_self(), "grove-signals");
  unsigned char buf[64];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // cannot happen while the write end is open
    std::lock_guard<std::mutex> lk(r->mu);
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == kStopReader) return;
      for (const auto& s : r->subs[buf[i]]) s->deliver(buf[i]);
    }
  }
}

// The pipe and the reader; life_mu held, no reader running.
void start_reader(Registry& r) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw std::system_error(errno, std::generic_category(), "grove: signal pipe");
  // Only the write end is non-blocking: a handler never waits, the reader blocks in read().
  ::fcntl(p[1], F_SETFL, ::fcntl(p[1], F_GETFL) | O_NONBLOCK);
  try {
    r.reader = new std::thread(reader_main, &r, p[0]);
  } catch (...) {
    ::close(p[0]);
    ::close(p[1]);
    throw;
  }
  r.pipe_read = p[0];
  r.pipe_write = p[1];
  g_write_fd.store(p[1]);
}

// life_mu held, every disposition restored: no handler will write after this returns.
void stop_reader(Registry& r) noexcept {
  g_write_fd.store(-1);
  while (g_in_handler.load() != 0) std::this_thread::yield();
  const unsigned char stop = kStopReader;
  while (::write(r.pipe_write, &stop, 1) < 0 && errno == EAGAIN) std::this_thread::yield();  // full pipe
  try {
    r.reader->join();
  } catch (const std::exception& e) {
    log_error("grove: stopping the signal reader thread: {}", e.what());
  }
  delete r.reader;
  r.reader = nullptr;
  ::close(r.pipe_read);
  ::close(r.pipe_write);
  r.pipe_read = r.pipe_write = -1;
}

void install_handler(Registry& r, int signo) noexcept {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = &on_watched_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(signo, &sa, &r.previous[signo]);
}

// mu held: removes `sub` from signo's list; restores the disposition if it was the last.
void remove_one(Registry& r, int signo, const SignalSubscriber* sub) noexcept {
  auto& v = r.subs[signo];
  auto it = std::find_if(v.begin(), v.end(), [sub](const auto& s) { return s.get() == sub; });
  if (it == v.end()) return;
  v.erase(it);
  --r.total;
  if (v.empty()) ::sigaction(signo, &r.previous[signo], nullptr);
}

void after_fork_in_child() noexcept {
  Registry& r = registry();
  // Another OS thread (the reader, a subscriber) may have held them at the fork.
  new (&r.life_mu) std::mutex;
  new (&r.mu) std::mutex;
  if (!r.reader) return;
  r.reader = nullptr;  // the parent's thread, absent here: its object is leaked, never joined
  g_write_fd.store(-1);
  g_in_handler.store(0);  // a handler interrupted by the fork belongs to another thread
  ::close(r.pipe_read);
  ::close(r.pipe_write);
  r.pipe_read = r.pipe_write = -1;
  const pthread_t self = ::pthread_self();
  for (int signo = 1; signo < NSIG; ++signo) {
    auto& v = r.subs[signo];
    for (std::size_t i = v.size(); i-- > 0;) {
      if (!::pthread_equal(v[i]->owner_thread(), self)) remove_one(r, signo, v[i].get());
    }
  }
  if (r.total == 0) return;
  try {
    start_reader(r);
  } catch (const std::exception& e) {
    log_error("grove: in the child of fork(): cannot restart the signal reader ({}); grove's signal "
              "handlers will not run in this process", e.what());
  }
}

}  // namespace

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
  if (!r.reader) start_reader(r);
  {
    std::lock_guard<std::mutex> lk(r.mu);
    for (const int signo : signals) {
      auto& v = r.subs[signo];
      if (std::find(v.begin(), v.end(), sub) != v.end()) continue;  // listed twice
      v.push_back(sub);
      ++r.total;
      if (v.size() == 1) install_handler(r, signo);
    }
  }
  if (r.total == 0) stop_reader(r);  // an empty list
}

void unsubscribe_signals(std::span<const int> signals, const SignalSubscriber* sub) noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> life(r.life_mu);
  {
    std::lock_guard<std::mutex> lk(r.mu);
    for (const int signo : signals) remove_one(r, signo, sub);
  }
  if (r.total == 0 && r.reader) stop_reader(r);
}

}  // namespace grove::detail
