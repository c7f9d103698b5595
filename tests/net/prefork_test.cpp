// prefork_test.cpp: grove::net::prefork / PreforkSupervisor (net/src/prefork_*.cpp).
//
// Each case runs the supervisor in a child process of the test (supervisor_process),
// so the test can signal it, see its workers in /proc, and check that it exits with
// every child reaped and its listener closed (the child checks both before it
// _exits; its status says which failed). The workers reply with their pid, so the
// test knows which process served a connection.
//
// A separate executable: it forks. Every wait is bounded; the supervisor has an
// alarm(), and its workers die with it (PR_SET_PDEATHSIG).
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <grove/net/prefork.hpp>
#include <grove/net/stream_server.hpp>

#include "net_test.hpp"

using namespace std::chrono_literals;
using grove::net::Address;
using grove::net::PreforkOptions;
using grove::net::PreforkSupervisor;
using grove::net::PreforkWorker;
using grove::net::Socket;
using grove::net::StreamServer;

namespace {

using Clock = std::chrono::steady_clock;

// What supervisor_process's exit status means.
constexpr int kRunThrew = 10, kChildLeft = 11, kListenerLeft = 12;

// The processes whose parent is `parent` (zombies included only if `zombies`).
std::vector<pid_t> children_of(pid_t parent, bool zombies = false) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && (zombies || state != 'Z')) out.push_back(std::stoi(e->d_name));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// True while `fd` is still a socket bound to `port` (the listener was not closed).
bool still_bound(int fd, std::uint16_t port) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  return ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0 && sa.sin_family == AF_INET &&
         ntohs(sa.sin_port) == port;
}

using Hook = std::function<int(PreforkSupervisor&)>;

// The supervisor's process: runs `listener`'s supervisor (and `hook` in a green thread
// of its own, whose non-zero result becomes the exit status), then checks it left no
// child and closed the listener.
[[noreturn]] void supervisor_process(Socket listener, PreforkSupervisor::Worker worker, PreforkOptions opts,
                                     const Hook& hook) {
  ::alarm(60);  // SIGALRM ends a stuck supervisor (status: signal 14)
  int code = 0;
  const int fd = listener.fd();
  const std::uint16_t port = listener.local_address().port();
  ::setpgid(0, 0);  // a process group of its own, as a shell job (Ctrl-C reaches it all)
  try {
    PreforkSupervisor sup(std::move(listener), std::move(worker), std::move(opts));
    grove::GreenThreadHandle h;
    int hook_code = 0;
    if (hook) h = grove::spawn([&] { hook_code = hook(sup); });
    sup.run();
    if (h) h.join();
    code = hook_code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "supervisor: %s\n", e.what());
    code = kRunThrew;
  }
  if (!children_of(::getpid(), true).empty()) code = kChildLeft;
  if (still_bound(fd, port)) code = kListenerLeft;
  std::fflush(nullptr);
  ::_exit(code);
}

struct Supervised {
  pid_t pid = -1;
  Address address;
};

// Forks a supervisor of `workers` serving a new listener on 127.0.0.1.
Supervised start_supervisor(PreforkSupervisor::Worker worker, PreforkOptions opts, Hook hook = {}) {
  Socket l = net_test::listener(grove::net::Family::kIPv4, 64);
  Supervised s;
  s.address = l.local_address();
  std::fflush(nullptr);
  s.pid = ::fork();
  REQUIRE(s.pid >= 0);
  if (s.pid == 0) supervisor_process(std::move(l), std::move(worker), std::move(opts), hook);
  return s;  // the test's copy of the listener closes here
}

// The supervisor's exit status (its code, or 128 + signal), or -1 if it did not exit
// within `limit` (it is killed then). Polls, so the test's green threads keep running.
int wait_exit(pid_t pid, std::chrono::milliseconds limit = 15s) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0 || Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    grove::sleep(2ms);
  }
}

// Waits (up to 10 s) until `sup` has `n` live workers; returns them (fewer on timeout).
std::vector<pid_t> wait_workers(pid_t sup, std::size_t n, const std::set<pid_t>& not_these = {}) {
  std::vector<pid_t> w;
  for (int i = 0; i < 1000; ++i) {
    w = children_of(sup);
    const bool fresh = std::none_of(w.begin(), w.end(), [&](pid_t p) { return not_these.count(p) > 0; });
    if (w.size() == n && fresh) return w;
    grove::sleep(10ms);
  }
  return w;
}

// Sends a request (one byte, "?" unless given); returns the pid of the worker that
// answered, or -1. `*accepted` (if given) is set when the worker's first byte comes
// (its handler runs).
int ask(const Address& addr, std::chrono::milliseconds timeout = 3s, bool* accepted = nullptr,
        char request = '?') {
  Socket c = Socket::tcp();
  c.settimeout(timeout);
  std::error_code ec;
  c.connect(addr, timeout, ec);
  if (ec) return -1;
  c.sendall(&request, 1, ec);
  if (ec) return -1;
  std::string got;
  char buf[32];
  while (got.find('\n') == std::string::npos && got.size() < 32) {
    const std::size_t n = c.recv_into(buf, sizeof buf, ec);
    if (ec || n == 0) return -1;
    got.append(buf, n);
    if (accepted) *accepted = true;
  }
  return std::stoi(got.substr(got.find_first_not_of('+')));
}

// A worker serving with StreamServer: each request ("?") is answered with the
// worker's pid and a newline; with a `delay`, a "+" at once and the pid after the
// delay. Stops gracefully when asked.
PreforkSupervisor::Worker pid_server(std::chrono::milliseconds delay = 0ms) {
  return [delay](PreforkWorker& w) {
    StreamServer server(std::move(w.listener()), [delay](Socket& s, const Address&) {
      char buf[16];
      while (s.recv_into(buf, sizeof buf) > 0) {
        if (delay.count() > 0) {
          s.sendall("+", 1);
          grove::sleep(delay);
        }
        s.sendall(std::to_string(::getpid()) + "\n");
      }
    });
    server.start();
    w.wait_for_stop();
    server.stop(5s);
  };
}

bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace

GROVE_TEST("prefork: 3 workers serve the listener, connections land on more than one of them") {
  const Supervised sup = start_supervisor(pid_server(), {.workers = 3, .stop_timeout = 5s});
  const std::vector<pid_t> workers = wait_workers(sup.pid, 3);
  CHECK(workers.size() == 3);
  std::set<int> served_by;
  int failures = 0;
  for (int i = 0; i < 60; ++i) {
    const int pid = ask(sup.address);
    if (pid < 0) ++failures;
    else served_by.insert(pid);
  }
  CHECK(failures == 0);
  CHECK(served_by.size() >= 2);
  for (int pid : served_by) CHECK(std::count(workers.begin(), workers.end(), pid) == 1);
  ::kill(sup.pid, SIGINT);  // as SIGTERM
  CHECK(wait_exit(sup.pid) == 0);
}

GROVE_TEST("prefork: a worker killed with SIGKILL mid-load is replaced while the others keep serving") {
  const Supervised sup = start_supervisor(pid_server(), {.workers = 3, .stop_timeout = 5s});
  const std::vector<pid_t> before = wait_workers(sup.pid, 3);
  REQUIRE(before.size() == 3);
  REQUIRE(ask(sup.address) > 0);

  // Two clients asking in a loop, from before the kill until the replacement serves.
  bool done = false;
  int failures = 0, answers = 0, answers_after_kill = 0;
  bool killed = false;
  std::vector<grove::GreenThreadHandle> clients;
  for (int c = 0; c < 2; ++c) {
    clients.push_back(grove::spawn([&] {
      const auto limit = Clock::now() + 20s;
      while (!done && Clock::now() < limit) {
        if (ask(sup.address) < 0) {
          ++failures;
        } else {
          ++answers;
          if (killed) ++answers_after_kill;
        }
      }
    }));
  }
  grove::sleep(100ms);
  const pid_t victim = before[1];
  killed = true;
  REQUIRE(::kill(victim, SIGKILL) == 0);
  const std::set<pid_t> old_victim{victim};
  const std::vector<pid_t> after = wait_workers(sup.pid, 3, old_victim);
  CHECK(after.size() == 3);
  std::vector<pid_t> fresh;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(fresh));
  CHECK(fresh.size() == 1);
  // The new worker serves too (the kernel hands each connection to one of the three).
  bool new_one_served = false;
  for (int i = 0; i < 300 && !new_one_served && fresh.size() == 1; ++i) new_one_served = ask(sup.address) == fresh[0];
  CHECK(new_one_served);
  done = true;
  for (auto& c : clients) c.join();
  // Only the connection each client had on the killed worker may fail.
  CHECK(failures <= 2);
  CHECK(answers > 10);
  CHECK(answers_after_kill > 10);
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
}

GROVE_TEST("prefork: SIGTERM lets requests in flight finish, then every process exits and the port is free") {
  const Supervised sup = start_supervisor(pid_server(400ms), {.workers = 2, .stop_timeout = 5s});
  const std::vector<pid_t> workers = wait_workers(sup.pid, 2);
  REQUIRE(workers.size() == 2);
  REQUIRE(ask(sup.address) > 0);  // both processes have had time to start serving

  constexpr int kClients = 4;
  int replies[kClients] = {};
  bool accepted[kClients] = {};
  std::vector<grove::GreenThreadHandle> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(grove::spawn([&, c] { replies[c] = ask(sup.address, 5s, &accepted[c]); }));
  }
  // Every request is accepted and its handler is sleeping.
  for (int i = 0; i < 300 && std::count(accepted, accepted + kClients, true) < kClients; ++i) grove::sleep(5ms);
  REQUIRE(std::count(accepted, accepted + kClients, true) == kClients);
  const auto t0 = Clock::now();
  REQUIRE(::kill(sup.pid, SIGTERM) == 0);
  for (auto& c : clients) c.join();
  for (int r : replies) CHECK(std::count(workers.begin(), workers.end(), r) == 1);
  CHECK(wait_exit(sup.pid) == 0);  // 0: no child left unreaped, listener closed
  CHECK(net_test::elapsed_s(t0) < 3.0);  // graceful: well before the 5 s stop timeout
  for (pid_t w : workers) CHECK(process_gone(w));
  // Nobody listens on the port any more (SO_REUSEADDR only lets TIME_WAIT through).
  Socket again = Socket::tcp();
  again.set_reuse_address(true);
  std::error_code ec;
  again.bind(sup.address, ec);
  CHECK_MESSAGE(!ec, ec.message());
}

GROVE_TEST("prefork: Ctrl-C (SIGINT to the whole process group) is a graceful stop too") {
  const Supervised sup = start_supervisor(pid_server(300ms), {.workers = 2, .stop_timeout = 5s});
  REQUIRE(wait_workers(sup.pid, 2).size() == 2);
  bool accepted = false;
  int reply = 0;
  auto client = grove::spawn([&] { reply = ask(sup.address, 5s, &accepted); });
  for (int i = 0; i < 300 && !accepted; ++i) grove::sleep(5ms);
  REQUIRE(accepted);
  REQUIRE(::kill(-sup.pid, SIGINT) == 0);  // the supervisor and every worker
  client.join();
  CHECK(reply > 0);
  CHECK(wait_exit(sup.pid) == 0);
}

GROVE_TEST("prefork: a worker that ignores the stop is killed after stop_timeout") {
  // Never calls wait_for_stop(): SIGTERM does not end it.
  const Supervised sup = start_supervisor([](PreforkWorker&) { grove::sleep(60s); },
                                          {.workers = 2, .stop_timeout = 500ms});
  const std::vector<pid_t> workers = wait_workers(sup.pid, 2);
  REQUIRE(workers.size() == 2);
  const auto t0 = Clock::now();
  REQUIRE(::kill(sup.pid, SIGTERM) == 0);
  CHECK(wait_exit(sup.pid) == 0);
  const double took = net_test::elapsed_s(t0);
  CHECK(took >= 0.45);
  CHECK(took < 2.0);
  for (pid_t w : workers) CHECK(process_gone(w));
}

GROVE_TEST("prefork: SIGHUP replaces every worker, one at a time, and no connection fails meanwhile") {
  const Supervised sup = start_supervisor(pid_server(), {.workers = 2, .stop_timeout = 5s});
  const std::vector<pid_t> before = wait_workers(sup.pid, 2);
  REQUIRE(before.size() == 2);
  REQUIRE(ask(sup.address) > 0);

  bool done = false;
  int failures = 0, answers = 0;
  auto client = grove::spawn([&] {
    const auto limit = Clock::now() + 20s;
    while (!done && Clock::now() < limit) {
      if (ask(sup.address) < 0) ++failures;
      else ++answers;
    }
  });
  grove::sleep(50ms);
  REQUIRE(::kill(sup.pid, SIGHUP) == 0);
  // Never more than one extra worker: one slot at a time.
  std::size_t most = 0;
  std::vector<pid_t> after;
  for (int i = 0; i < 1000; ++i) {
    after = children_of(sup.pid);
    most = std::max(most, after.size());
    const bool all_new = std::none_of(after.begin(), after.end(), [&](pid_t p) {
      return std::count(before.begin(), before.end(), p) > 0;
    });
    if (after.size() == 2 && all_new) break;
    grove::sleep(5ms);
  }
  CHECK(after.size() == 2);
  for (pid_t p : after) CHECK(std::count(before.begin(), before.end(), p) == 0);
  CHECK(most <= 3);
  grove::sleep(100ms);
  done = true;
  client.join();
  CHECK(failures == 0);
  CHECK(answers > 10);
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
}

// Reads what the workers wrote to `fd` (non-blocking) so far.
std::string read_events(int fd) {
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

GROVE_TEST("prefork: a rolling restart stops the old worker only once its replacement is ready") {
  // Each worker takes 300 ms to start serving, and writes "ready PID" when it is about
  // to call wait_for_stop() and "stop PID" when that returns.
  int events[2];
  REQUIRE(::pipe2(events, O_CLOEXEC) == 0);
  const int event_fd = events[1];
  const Supervised sup = start_supervisor(
      [event_fd](PreforkWorker& w) {
        grove::sleep(300ms);
        StreamServer server(std::move(w.listener()), [](Socket& s, const Address&) {
          char buf[16];
          while (s.recv_into(buf, sizeof buf) > 0) s.sendall(std::to_string(::getpid()) + "\n");
        });
        server.start();
        const std::string pid = std::to_string(::getpid());
        const std::string ready = "ready " + pid + "\n", stop = "stop " + pid + "\n";
        [[maybe_unused]] ssize_t r = ::write(event_fd, ready.data(), ready.size());
        w.wait_for_stop();
        r = ::write(event_fd, stop.data(), stop.size());
        server.stop(5s);
      },
      {.workers = 1, .stop_timeout = 5s});
  ::close(events[1]);
  ::fcntl(events[0], F_SETFL, O_NONBLOCK);
  const std::vector<pid_t> before = wait_workers(sup.pid, 1);
  REQUIRE(before.size() == 1);
  const int old_pid = ask(sup.address);  // served once the old worker is ready
  REQUIRE(old_pid == before[0]);

  REQUIRE(::kill(sup.pid, SIGHUP) == 0);
  std::string log;
  for (int i = 0; i < 500 && log.find("stop " + std::to_string(old_pid)) == std::string::npos; ++i) {
    grove::sleep(10ms);
    log += read_events(events[0]);
  }
  const std::size_t old_stops = log.find("stop " + std::to_string(old_pid));
  REQUIRE(old_stops != std::string::npos);
  // Between the old worker's "ready" and its "stop": the new worker's "ready".
  const std::size_t new_ready = log.find("ready ", log.find('\n') + 1);
  CHECK_MESSAGE(new_ready < old_stops, log);
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
  ::close(events[0]);
}

GROVE_TEST("prefork: in a rolling restart, a replacement that dies at start leaves the old worker serving") {
  // The first worker serves; every later one throws at once (a file says who is first).
  const std::string marker = "/tmp/grove-prefork-first-" + std::to_string(::getpid());
  ::unlink(marker.c_str());
  PreforkSupervisor::Worker serve = pid_server();
  const Supervised sup = start_supervisor(
      [marker, serve](PreforkWorker& w) {
        const int fd = ::open(marker.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0) throw std::runtime_error("the new code does not start (test)");
        ::close(fd);
        serve(w);
      },
      {.workers = 1, .stop_timeout = 5s, .restart_backoff_max = 200ms});
  const std::vector<pid_t> before = wait_workers(sup.pid, 1);
  REQUIRE(before.size() == 1);
  REQUIRE(ask(sup.address) == before[0]);
  REQUIRE(::kill(sup.pid, SIGHUP) == 0);
  // For a second, replacements keep dying; the old worker answers every request.
  int failures = 0, others = 0, answers = 0;
  const auto until = Clock::now() + 1s;
  while (Clock::now() < until && answers < 2000) {
    const int pid = ask(sup.address);
    if (pid < 0) ++failures;
    else if (pid != before[0]) ++others;
    else ++answers;
    grove::sleep(5ms);
  }
  CHECK(failures == 0);
  CHECK(others == 0);
  CHECK(answers > 10);
  CHECK(process_gone(before[0]) == false);
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
  ::unlink(marker.c_str());
}

GROVE_TEST("prefork: a worker that throws at once is restarted with a back-off, and SIGTERM still stops all") {
  int starts[2];
  REQUIRE(::pipe2(starts, O_CLOEXEC) == 0);
  const int start_fd = starts[1];
  const Supervised sup = start_supervisor(
      [start_fd](PreforkWorker&) {
        [[maybe_unused]] const ssize_t r = ::write(start_fd, "s", 1);
        throw std::runtime_error("cannot start (test)");
      },
      {.workers = 2, .stop_timeout = 2s, .restart_backoff_max = 400ms});
  ::close(starts[1]);
  ::fcntl(starts[0], F_SETFL, O_NONBLOCK);
  grove::sleep(2s);
  int count = 0;
  char buf[256];
  for (ssize_t n; (n = ::read(starts[0], buf, sizeof buf)) > 0;) count += static_cast<int>(n);
  // Back-off 100, 200, 400, 400... ms: about 7 starts per slot in 2 s (a tight loop
  // would make thousands).
  CHECK(count >= 6);
  CHECK(count <= 24);
  const auto t0 = Clock::now();
  REQUIRE(::kill(sup.pid, SIGTERM) == 0);
  CHECK(wait_exit(sup.pid) == 0);
  CHECK(net_test::elapsed_s(t0) < 1.0);
  ::close(starts[0]);
}

GROVE_TEST("prefork: restart() and stop() from a green thread of the supervisor's process, without signals") {
  constexpr int kNoWorkers = 20, kNotRolled = 21, kSecondRunAllowed = 22;
  const Supervised sup = start_supervisor(pid_server(), {.workers = 2, .stop_timeout = 5s}, [](PreforkSupervisor& s) {
    std::vector<int> before;
    for (int i = 0; i < 500 && before.size() < 2; ++i) {
      grove::sleep(10ms);
      before = s.worker_pids();
    }
    if (before.size() != 2) return kNoWorkers;
    // A second supervisor in the same process is refused.
    try {
      PreforkSupervisor other(net_test::listener(), [](PreforkWorker&) {}, {.workers = 1});
      other.run();
      return kSecondRunAllowed;
    } catch (const grove::UsageError&) {
    }
    s.restart();
    std::vector<int> after;
    for (int i = 0; i < 500; ++i) {
      grove::sleep(10ms);
      after = s.worker_pids();
      if (after.size() == 2 && after[0] != before[0] && after[1] != before[1]) break;
    }
    s.stop();
    return after.size() == 2 && after[0] != before[0] && after[1] != before[1] ? 0 : kNotRolled;
  });
  CHECK(wait_exit(sup.pid) == 0);
}

GROVE_TEST("prefork: a run() that is killed SIGKILLs and reaps its workers and closes the listener") {
  // run() in a green thread of its own (the workers fork from there), killed once the
  // workers serve; the checks are the supervisor process's exit status.
  constexpr int kNoWorkers = 20, kNotInterrupted = 21;
  Socket l = net_test::listener();
  const int fd = l.fd();
  const std::uint16_t port = l.local_address().port();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::alarm(60);
    int code = 0;
    {
      PreforkSupervisor sup(std::move(l), pid_server(), {.workers = 2});
      bool interrupted = false;
      auto runner = grove::spawn([&] {
        try {
          sup.run();
        } catch (const grove::GreenletExit&) {
          interrupted = true;
          throw;
        }
      });
      for (int i = 0; i < 500 && sup.worker_pids().size() < 2; ++i) grove::sleep(10ms);
      if (sup.worker_pids().size() != 2) code = kNoWorkers;
      runner.kill();
      if (!interrupted) code = kNotInterrupted;
    }
    if (!children_of(::getpid(), true).empty()) code = kChildLeft;
    if (still_bound(fd, port)) code = kListenerLeft;
    std::fflush(nullptr);
    ::_exit(code);
  }
  l.close();
  CHECK(wait_exit(pid) == 0);
}

GROVE_TEST("prefork: the workers die with their supervisor") {
  // Orphans come to this process (not to init), so their end can be seen here.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  const Supervised sup = start_supervisor(pid_server(), {.workers = 2});
  const std::vector<pid_t> workers = wait_workers(sup.pid, 2);
  REQUIRE(workers.size() == 2);
  ::kill(sup.pid, SIGKILL);
  CHECK(wait_exit(sup.pid) == 128 + SIGKILL);
  for (pid_t w : workers) {
    int st = 0;
    pid_t r = 0;
    for (int i = 0; i < 500 && r == 0; ++i) {
      r = ::waitpid(w, &st, WNOHANG);
      if (r == 0) grove::sleep(10ms);
    }
    if (r == 0) {
      ::kill(w, SIGKILL);
      ::waitpid(w, &st, 0);
    }
    CHECK(r == w);
    CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

GROVE_TEST("prefork: misuse is a UsageError, before any fork; run() restores the signal dispositions") {
  auto noop = [](PreforkWorker&) {};
  CHECK_THROWS_AS(PreforkSupervisor(net_test::listener(), noop, {.workers = 100000}), grove::UsageError);
  CHECK_THROWS_AS(PreforkSupervisor(net_test::listener(), nullptr, {}), grove::UsageError);
  CHECK_THROWS_AS(PreforkSupervisor(net_test::listener(), noop, {.stop_timeout = -1s}), grove::UsageError);
  CHECK_THROWS_AS(PreforkSupervisor(net_test::listener(), noop, {.heartbeat_timeout = -1s}), grove::UsageError);
  // reuse_port: a listener without SO_REUSEPORT, or a Unix one.
  CHECK_THROWS_AS(PreforkSupervisor(net_test::listener(), noop, {.reuse_port = true}), grove::UsageError);
  CHECK_THROWS_AS(PreforkSupervisor("unix:/tmp/grove-prefork-reuse-" + std::to_string(::getpid()), noop,
                                    {.reuse_port = true}),
                  grove::UsageError);
  {
    Socket not_listening = Socket::tcp();
    not_listening.bind(Address::parse("127.0.0.1:0"));
    CHECK_THROWS_AS(PreforkSupervisor(std::move(not_listening), noop, {}), grove::UsageError);
  }
  CHECK_THROWS_AS(PreforkSupervisor("127.0.0.1:0", noop, {.workers = 5000}), grove::UsageError);

  // stop() before run(): run() returns without forking and closes the listener.
  struct sigaction mine{}, seen{};
  mine.sa_handler = [](int) {};
  sigemptyset(&mine.sa_mask);
  struct sigaction saved{}, term_before{};
  ::sigaction(SIGHUP, &mine, &saved);
  ::sigaction(SIGTERM, nullptr, &term_before);  // doctest's, or SIG_DFL
  {
    PreforkSupervisor s("127.0.0.1:0", noop, {.workers = 2});
    CHECK(s.address().port() != 0);
    s.stop();
    s.run();
    CHECK(s.worker_pids().empty());
    CHECK(children_of(::getpid(), true).empty());
    CHECK_THROWS_AS(s.run(), grove::UsageError);
  }
  ::sigaction(SIGHUP, nullptr, &seen);
  CHECK((seen.sa_handler == mine.sa_handler));
  ::sigaction(SIGTERM, nullptr, &seen);
  CHECK((seen.sa_handler == term_before.sa_handler));
  ::sigaction(SIGHUP, &saved, nullptr);
}

GROVE_TEST("prefork: the endpoint constructor binds; a Unix socket file it made is gone when run() returns") {
  const std::string path = "/tmp/grove-prefork-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  {
    PreforkSupervisor s("unix:" + path, [](PreforkWorker&) {}, {.workers = 1});
    CHECK(s.address().host() == path);
    CHECK(::access(path.c_str(), F_OK) == 0);
    s.stop();
    s.run();
    CHECK(::access(path.c_str(), F_OK) != 0);
  }
  // A bad option leaves no file behind.
  CHECK_THROWS_AS(PreforkSupervisor("unix:" + path, nullptr, {}), grove::UsageError);
  CHECK(::access(path.c_str(), F_OK) != 0);
  ::unlink(path.c_str());
}

namespace {

// A worker whose handler answers "?" with its pid, and "b" with its pid and then blocks
// its OS thread (::sleep, the hub stops: a stuck worker) for up to 20 s.
PreforkSupervisor::Worker blocking_server() {
  return [](PreforkWorker& w) {
    StreamServer server(std::move(w.listener()), [](Socket& s, const Address&) {
      char buf[16];
      std::size_t n;
      while ((n = s.recv_into(buf, sizeof buf)) > 0) {
        s.sendall(std::to_string(::getpid()) + "\n");
        if (buf[0] == 'b') ::sleep(20);
      }
    });
    server.start();
    w.wait_for_stop();
    server.stop(5s);
  };
}

// Sends "b"; returns the pid that answered (it is stuck from then on), or -1.
int block_one(const Address& addr) { return ask(addr, 3s, nullptr, 'b'); }

}  // namespace

GROVE_TEST("prefork: a worker whose hub is stuck is SIGKILLed after heartbeat_timeout and replaced") {
  const Supervised sup = start_supervisor(blocking_server(), {.workers = 2, .stop_timeout = 2s,
                                                              .heartbeat_timeout = 1s});
  const std::vector<pid_t> before = wait_workers(sup.pid, 2);
  REQUIRE(before.size() == 2);
  REQUIRE(ask(sup.address) > 0);
  const pid_t victim = block_one(sup.address);
  const auto t0 = Clock::now();
  REQUIRE(std::count(before.begin(), before.end(), victim) == 1);
  const pid_t other = before[0] == victim ? before[1] : before[0];

  // Meanwhile the other worker serves every connection (the stuck one accepts none).
  int failures = 0, served_by_other = 0;
  double gone_after = -1;
  while (net_test::elapsed_s(t0) < 6.0) {
    const int pid = ask(sup.address, 2s);
    if (pid == other) ++served_by_other;
    else if (pid < 0 || pid == victim) ++failures;
    if (process_gone(victim)) {
      gone_after = net_test::elapsed_s(t0);
      break;
    }
    grove::sleep(20ms);
  }
  CHECK(failures == 0);
  CHECK(served_by_other > 5);
  // Its last beat was at most timeout / 4 before it blocked: killed between 0.75 s and
  // 1 s after, plus the supervisor's and the reaper's delays.
  CHECK(gone_after >= 0.7);
  CHECK(gone_after < 2.5);
  const std::vector<pid_t> after = wait_workers(sup.pid, 2, {victim});
  REQUIRE(after.size() == 2);
  CHECK(std::count(after.begin(), after.end(), other) == 1);
  const pid_t fresh = after[0] == other ? after[1] : after[0];
  bool fresh_served = false;
  for (int i = 0; i < 300 && !fresh_served; ++i) fresh_served = ask(sup.address) == fresh;
  CHECK(fresh_served);
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
}

GROVE_TEST("prefork: idle workers, and requests that park longer than heartbeat_timeout, are never killed") {
  // Every request parks 800 ms (grove::sleep: the hub runs meanwhile), longer than
  // the 500 ms timeout; between requests the workers are idle in epoll_wait.
  const Supervised sup = start_supervisor(pid_server(800ms), {.workers = 2, .stop_timeout = 2s,
                                                              .heartbeat_timeout = 500ms});
  const std::vector<pid_t> workers = wait_workers(sup.pid, 2);
  REQUIRE(workers.size() == 2);
  const auto t0 = Clock::now();
  int failures = 0, answers = 0;
  std::vector<grove::GreenThreadHandle> clients;
  for (int c = 0; c < 2; ++c) {
    clients.push_back(grove::spawn([&] {
      for (int i = 0; i < 2; ++i) {
        const int pid = ask(sup.address, 5s);
        if (std::count(workers.begin(), workers.end(), pid) == 1) ++answers;
        else ++failures;
      }
    }));
  }
  for (auto& c : clients) c.join();
  grove::sleep(3000ms - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0));
  CHECK(failures == 0);
  CHECK(answers == 4);
  CHECK(children_of(sup.pid) == workers);  // 3 s (6 timeouts): the same two processes
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
}

namespace {

// Forks a supervisor of `workers` on a new 127.0.0.1 listener that has SO_REUSEPORT.
Supervised start_reuseport_supervisor(PreforkSupervisor::Worker worker, PreforkOptions opts) {
  Socket l = Socket::tcp();
  l.set_reuse_port(true);
  l.bind(Address::parse("127.0.0.1:0"));
  l.listen(256);
  Supervised s;
  s.address = l.local_address();
  std::fflush(nullptr);
  s.pid = ::fork();
  REQUIRE(s.pid >= 0);
  if (s.pid == 0) supervisor_process(std::move(l), std::move(worker), std::move(opts), {});
  return s;
}

// `n` clients at once, each asking once; the pids that answered (-1: failed).
std::vector<int> burst(const Address& addr, int n, std::chrono::milliseconds timeout) {
  std::vector<int> got(static_cast<std::size_t>(n), 0);
  std::vector<grove::GreenThreadHandle> clients;
  for (int c = 0; c < n; ++c) {
    clients.push_back(grove::spawn([&, c] { got[static_cast<std::size_t>(c)] = ask(addr, timeout); }));
  }
  for (auto& c : clients) c.join();
  return got;
}

}  // namespace

GROVE_TEST("prefork: reuse_port gives each worker a socket of its own; a burst is served by all, none lost") {
  const Supervised sup =
      start_reuseport_supervisor(pid_server(), {.workers = 2, .stop_timeout = 2s, .reuse_port = true});
  const std::vector<pid_t> workers = wait_workers(sup.pid, 2);
  REQUIRE(workers.size() == 2);
  const std::vector<int> got = burst(sup.address, 200, 5s);
  std::set<int> served_by;
  int failures = 0;
  for (int pid : got) {
    if (std::count(workers.begin(), workers.end(), pid) == 1) served_by.insert(pid);
    else ++failures;
  }
  CHECK(failures == 0);
  CHECK(served_by.size() == 2);  // 200 connections from distinct ports: both sockets get some
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
}

GROVE_TEST("prefork: with reuse_port, connections queued on a stuck worker's socket are served by its replacement") {
  const Supervised sup = start_reuseport_supervisor(
      blocking_server(), {.workers = 2, .stop_timeout = 2s, .heartbeat_timeout = 1s, .reuse_port = true});
  const std::vector<pid_t> before = wait_workers(sup.pid, 2);
  REQUIRE(before.size() == 2);
  const pid_t victim = block_one(sup.address);
  REQUIRE(std::count(before.begin(), before.end(), victim) == 1);
  // About half of these land on the stuck worker's socket and wait there; its
  // replacement (after the 1 s heartbeat timeout) takes them over.
  const std::vector<int> got = burst(sup.address, 40, 8s);
  int failures = 0, by_victim = 0, by_new = 0;
  for (int pid : got) {
    if (pid < 0) ++failures;
    else if (pid == victim) ++by_victim;
    else if (std::count(before.begin(), before.end(), pid) == 0) ++by_new;
  }
  CHECK(failures == 0);
  CHECK(by_victim == 0);
  CHECK(by_new > 0);  // 40 connections: some hashed to the stuck worker's socket
  CHECK(process_gone(victim));
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
}

GROVE_TEST("prefork: with reuse_port, SIGHUP rolls every worker and no connection fails meanwhile") {
  // A slot's socket outlives its old worker: the new one takes the connections queued there.
  const Supervised sup =
      start_reuseport_supervisor(pid_server(), {.workers = 2, .stop_timeout = 5s, .reuse_port = true});
  const std::vector<pid_t> before = wait_workers(sup.pid, 2);
  REQUIRE(before.size() == 2);
  REQUIRE(ask(sup.address) > 0);
  bool done = false;
  int failures = 0, answers = 0;
  std::vector<grove::GreenThreadHandle> clients;
  for (int c = 0; c < 2; ++c) {
    clients.push_back(grove::spawn([&] {
      const auto limit = Clock::now() + 20s;
      while (!done && Clock::now() < limit) {
        if (ask(sup.address) < 0) ++failures;
        else ++answers;
      }
    }));
  }
  grove::sleep(50ms);
  REQUIRE(::kill(sup.pid, SIGHUP) == 0);
  std::vector<pid_t> after;
  for (int i = 0; i < 1000; ++i) {
    after = children_of(sup.pid);
    const bool all_new = std::none_of(after.begin(), after.end(), [&](pid_t p) {
      return std::count(before.begin(), before.end(), p) > 0;
    });
    if (after.size() == 2 && all_new) break;
    grove::sleep(5ms);
  }
  CHECK(after.size() == 2);
  for (pid_t p : after) CHECK(std::count(before.begin(), before.end(), p) == 0);
  grove::sleep(100ms);
  done = true;
  for (auto& c : clients) c.join();
  CHECK(failures == 0);
  CHECK(answers > 10);
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
}

GROVE_TEST("prefork: heartbeat_timeout 0 watches nothing: a stuck worker is left alone") {
  const Supervised sup = start_supervisor(blocking_server(), {.workers = 2, .stop_timeout = 1s,
                                                              .heartbeat_timeout = 0s});
  const std::vector<pid_t> before = wait_workers(sup.pid, 2);
  REQUIRE(before.size() == 2);
  const pid_t victim = block_one(sup.address);
  REQUIRE(std::count(before.begin(), before.end(), victim) == 1);
  grove::sleep(1500ms);
  CHECK(!process_gone(victim));
  CHECK(children_of(sup.pid) == before);
  ::kill(sup.pid, SIGTERM);
  CHECK(wait_exit(sup.pid) == 0);
}
