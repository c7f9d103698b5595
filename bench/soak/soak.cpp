// soak.cpp: the soak-and-scale run against samples/echo_server and samples/kv_server.
//
//   soak --build DIR [--short] [--phases hold,echo,kv,burst] [--check] [size flags]
//
// A client of its own on plain epoll (not grove: it must not hide grove's cost),
// pinned to CPU 1 while each server runs pinned to CPU 0. Each phase starts a fresh
// server (--port 0, --stats: one `NAME: stats ...` line on stdout per SIGUSR2) and
// prints `name: value unit` lines:
//
//   hold   N connections (15,000) open at once; each sends one message and waits for
//          its echo; then server RSS per connection (RSS growth / N, and its
//          anonymous part alone: stacks and heap, without code pages), the kernel's
//          socket memory separately (/proc/net/sockstat, /proc/slabinfo); then each
//          sends a message every second for --hold-seconds (600), latency measured
//          from send to the last byte of the echo.
//   echo   --cycles (1,000,000) connection open / one echo / close cycles on
//          --churn-conns slots, and at the same time --messages (100,000,000) echoes
//          on --msg-conns persistent connections; until both counts are reached or
//          --max-seconds passes (then the rates and the time the full counts would
//          take, extrapolated from the measured rates, are printed instead).
//   kv     --kv-requests (10,000,000) random commands (strings, counters, lists) on
//          --kv-conns connections, --kv-pipeline requests in flight on each; each
//          connection has keys of its own and a model of them, so every reply is
//          known in advance and compared byte for byte.
//   burst  runs bench/soak/soak_burst (100,000 green threads that touch stack and
//          exit) and relays its lines.
//
// Every echoed byte and every reply byte is compared with what was sent / what the
// model says; any difference is reported (`..._bad_bytes`) and fails --check.
// During echo and kv the server's RSS, open fds and live green threads are sampled
// every --sample-ms; RSS is compared between the first and the last tenth of the
// samples taken after --warmup-seconds (the server's start-up growth is not a leak).
// --check exits 1 (with `FAIL: ...` lines) when a byte differed, fds or green threads
// did not come back to their start, RSS moved more than --rss-tolerance between the
// tenths, or the burst left RSS more than --burst-tolerance above its start.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "soak: %s\n", what.c_str());
  std::exit(2);
}
[[noreturn]] void die_errno(const std::string& what) { die(what + ": " + std::strerror(errno)); }

void out(const char* name, double v, const char* unit = "") {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::printf("%s: %.0f%s%s\n", name, v, *unit ? " " : "", unit);
  } else {
    std::printf("%s: %.3f%s%s\n", name, v, *unit ? " " : "", unit);
  }
  std::fflush(stdout);
}
void out(const std::string& prefix, const char* name, double v, const char* unit = "") {
  out((prefix + "_" + name).c_str(), v, unit);
}

std::vector<std::string> failures;
void expect(bool ok, const std::string& what) {
  if (!ok) failures.push_back(what);
}

// ---------------------------------------------------------------------------
// Options

struct Options {
  std::string build = "build";
  std::string phases = "hold,echo,kv,burst";
  bool check = false;
  bool short_run = false;
  int server_cpu = 0, client_cpu = 1;
  // hold
  std::size_t hold_conns = 15000;
  double hold_seconds = 600;
  double hold_interval = 1.0;
  std::size_t msg_size = 64;
  // echo
  std::uint64_t cycles = 1000000;
  std::uint64_t messages = 100000000;
  std::size_t churn_conns = 32;
  std::size_t msg_conns = 64;
  double max_seconds = 0;  // 0: until the counts are reached
  // kv
  std::uint64_t kv_requests = 10000000;
  std::size_t kv_conns = 32;
  std::size_t kv_pipeline = 4;
  std::size_t kv_keys = 64;  // per connection
  // burst
  std::size_t burst_threads = 100000;
  // sampling and checks
  double warmup_seconds = 2;
  double sample_ms = 1000;
  double rss_tolerance = 0.05;
  double burst_tolerance = 0.10;
};

// The CI profile: about 12 s on an idle 2-core machine, under 25 s on a busy one
// (each load phase stops at max_seconds whatever its counts).
void apply_short(Options& o) {
  o.short_run = true;
  o.hold_conns = 1000;
  o.hold_seconds = 2;
  o.cycles = 20000;
  o.messages = 400000;
  o.max_seconds = 4;
  o.kv_requests = 3000000;  // at least a few samples after the warm-up on an idle machine (850k/s)
  o.burst_threads = 30000;
  o.warmup_seconds = 0.5;
  o.sample_ms = 100;
  o.rss_tolerance = 0.10;
}

const char* kUsage =
    "usage: soak [--build DIR] [--short] [--phases hold,echo,kv,burst] [--check]\n"
    "            [--hold-conns N] [--hold-seconds S] [--hold-interval S] [--msg-size N]\n"
    "            [--cycles N] [--messages N] [--churn-conns N] [--msg-conns N] [--max-seconds S]\n"
    "            [--kv-requests N] [--kv-conns N] [--kv-pipeline N] [--kv-keys N]\n"
    "            [--burst-threads N] [--warmup-seconds S] [--sample-ms MS]\n"
    "            [--rss-tolerance F] [--burst-tolerance F] [--server-cpu N] [--client-cpu N]\n"
    "  --short: the CI profile (about 12 s idle, < 25 s busy); size flags given after it override it";

Options parse(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) die(std::string(argv[i]) + " needs a value\n" + kUsage);
    return argv[++i];
  };
  auto number = [&](int& i, double lo, double hi) {
    const char* name = argv[i];
    const std::string v = value(i);
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(d >= lo && d <= hi)) die(std::string("bad value for ") + name + ": '" + v + "'\n" + kUsage);
    return d;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("%s\n", kUsage);
      std::exit(0);
    } else if (a == "--build") o.build = value(i);
    else if (a == "--short") apply_short(o);
    else if (a == "--phases") o.phases = value(i);
    else if (a == "--check") o.check = true;
    else if (a == "--hold-conns") o.hold_conns = static_cast<std::size_t>(number(i, 1, 1e6));
    else if (a == "--hold-seconds") o.hold_seconds = number(i, 0, 1e6);
    else if (a == "--hold-interval") o.hold_interval = number(i, 0.001, 3600);
    else if (a == "--msg-size") o.msg_size = static_cast<std::size_t>(number(i, 1, 65536));
    else if (a == "--cycles") o.cycles = static_cast<std::uint64_t>(number(i, 0, 1e12));
    else if (a == "--messages") o.messages = static_cast<std::uint64_t>(number(i, 0, 1e13));
    else if (a == "--churn-conns") o.churn_conns = static_cast<std::size_t>(number(i, 1, 10000));
    else if (a == "--msg-conns") o.msg_conns = static_cast<std::size_t>(number(i, 1, 10000));
    else if (a == "--max-seconds") o.max_seconds = number(i, 0, 1e7);
    else if (a == "--kv-requests") o.kv_requests = static_cast<std::uint64_t>(number(i, 0, 1e12));
    else if (a == "--kv-conns") o.kv_conns = static_cast<std::size_t>(number(i, 1, 10000));
    else if (a == "--kv-pipeline") o.kv_pipeline = static_cast<std::size_t>(number(i, 1, 1000));
    else if (a == "--kv-keys") o.kv_keys = static_cast<std::size_t>(number(i, 3, 1e6));
    else if (a == "--burst-threads") o.burst_threads = static_cast<std::size_t>(number(i, 1, 1e7));
    else if (a == "--warmup-seconds") o.warmup_seconds = number(i, 0, 3600);
    else if (a == "--sample-ms") o.sample_ms = number(i, 10, 60000);
    else if (a == "--rss-tolerance") o.rss_tolerance = number(i, 0, 10);
    else if (a == "--burst-tolerance") o.burst_tolerance = number(i, 0, 10);
    else if (a == "--server-cpu") o.server_cpu = static_cast<int>(number(i, 0, 4095));
    else if (a == "--client-cpu") o.client_cpu = static_cast<int>(number(i, 0, 4095));
    else die("unknown option: " + a + "\n" + kUsage);
  }
  for (std::size_t p = 0; p <= o.phases.size();) {
    const std::size_t q = std::min(o.phases.find(',', p), o.phases.size());
    const std::string ph = o.phases.substr(p, q - p);
    if (ph != "hold" && ph != "echo" && ph != "kv" && ph != "burst") die("unknown phase: '" + ph + "'\n" + kUsage);
    p = q + 1;
  }
  return o;
}

bool has_phase(const Options& o, const char* name) {
  return ("," + o.phases + ",").find(std::string(",") + name + ",") != std::string::npos;
}

// ---------------------------------------------------------------------------
// /proc readings

long status_field_kb(pid_t pid, const char* field) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  const std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      v = std::strtol(line + n + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return v;
}
long rss_kb(pid_t pid) { return status_field_kb(pid, "VmRSS"); }

long fd_count(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fd", pid);
  DIR* d = ::opendir(path);
  if (!d) return -1;
  long n = 0;
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

// /proc/net/sockstat's TCP line: sockets in use, and the pages their buffers hold.
struct SockStat {
  long inuse = 0, mem_pages = 0, tw = 0;
};
SockStat sockstat() {
  SockStat s;
  FILE* f = std::fopen("/proc/net/sockstat", "r");
  if (!f) return s;
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    long inuse, orphan, tw, alloc, mem;
    if (std::sscanf(line, "TCP: inuse %ld orphan %ld tw %ld alloc %ld mem %ld", &inuse, &orphan, &tw, &alloc, &mem) == 5) {
      s.inuse = inuse;
      s.mem_pages = mem;
      s.tw = tw;
    }
  }
  std::fclose(f);
  return s;
}

// Bytes in the slab caches a TCP socket's kernel objects come from (both ends of a
// loopback connection land here). -1 if /proc/slabinfo cannot be read (not root).
long long socket_slab_bytes() {
  FILE* f = std::fopen("/proc/slabinfo", "r");
  if (!f) return -1;
  static const char* kCaches[] = {"TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "eventpoll_pwq"};
  char line[512];
  long long total = 0;
  while (std::fgets(line, sizeof line, f)) {
    char name[64];
    long active, num, objsize;
    if (std::sscanf(line, "%63s %ld %ld %ld", name, &active, &num, &objsize) != 4) continue;
    for (const char* c : kCaches) {
      if (std::strcmp(name, c) == 0) total += static_cast<long long>(active) * objsize;
    }
  }
  std::fclose(f);
  return total;
}

void pin_to(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::sched_setaffinity(pid, sizeof set, &set);  // best effort: a machine with one CPU shares it
}

// ---------------------------------------------------------------------------
// A server child process: started pinned, --port 0, its stdout read line by line.

struct Server {
  std::string name;
  pid_t pid = -1;
  int out_fd = -1;
  std::string buf;
  int port = 0;

  // Next stdout line, waiting up to `timeout` seconds; false on timeout or EOF.
  bool read_line(std::string& line, double timeout) {
    const double deadline = now_s() + timeout;
    for (;;) {
      const std::size_t nl = buf.find('\n');
      if (nl != std::string::npos) {
        line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return true;
      }
      const double left = deadline - now_s();
      if (left <= 0) return false;
      pollfd p{out_fd, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left * 1000) + 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char tmp[4096];
      const ssize_t n = ::read(out_fd, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }

  struct Stats {
    long connections = -1, green_threads = -1;
  };
  // Asks for one stats line (SIGUSR2) and parses it; -1s if none came within 60 s
  // (counted in stats_missed: on a machine loaded far beyond its CPUs a line can be
  // that late, and a long run should report that rather than stop).
  long stats_missed = 0;
  Stats stats() {
    Stats s;
    if (::kill(pid, SIGUSR2) != 0) die(name + " is gone");
    std::string line;
    const std::string tag = name + ": stats ";
    while (read_line(line, 60)) {
      if (line.rfind(tag, 0) != 0) continue;
      std::sscanf(line.c_str() + tag.size(), "connections=%ld green_threads=%ld", &s.connections, &s.green_threads);
      return s;
    }
    stats_missed++;
    return s;
  }

  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int st;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      ::usleep(50000);
    }
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
    }
    ::close(out_fd);
  }
};

Server start_server(const Options& o, const std::string& name) {
  const std::string exe = o.build + "/samples/" + name;
  if (::access(exe.c_str(), X_OK) != 0) die(exe + " is not there (build it: ninja -C " + o.build + " samples/" + name + ")");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) die_errno("pipe");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) die_errno("fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(p[1], 1);
    pin_to(0, o.server_cpu);
    const char* argv[] = {exe.c_str(), "--port", "0", "--stats", nullptr};
    ::execv(exe.c_str(), const_cast<char**>(argv));
    std::fprintf(stderr, "soak: cannot run %s: %s\n", exe.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(p[1]);
  Server s;
  s.name = name;
  s.pid = pid;
  s.out_fd = p[0];
  std::string line;
  while (s.read_line(line, 15)) {
    const std::size_t at = line.find(" listening on ");
    if (at == std::string::npos) continue;
    const std::size_t colon = line.find(':', at + 14);
    if (colon != std::string::npos) s.port = std::atoi(line.c_str() + colon + 1);
    break;
  }
  if (s.port <= 0) die(name + " did not say where it listens");
  return s;
}

// ---------------------------------------------------------------------------
// Latency histogram: 1 us buckets below 1,024 us, then 64 per power of two.

struct Histogram {
  std::vector<std::uint64_t> b = std::vector<std::uint64_t>(1024 + 64 * 40);
  std::uint64_t n = 0;
  double max_us = 0;
  void add(double us) {
    if (us < 0) us = 0;
    n++;
    max_us = std::max(max_us, us);
    const auto v = static_cast<std::uint64_t>(us);
    std::size_t i;
    if (v < 1024) {
      i = v;
    } else {
      const int e = 63 - __builtin_clzll(v);  // >= 10
      i = 1024 + static_cast<std::size_t>(e - 10) * 64 + ((v >> (e - 6)) & 63);
    }
    b[std::min(i, b.size() - 1)]++;
  }
  double bucket_value(std::size_t i) const {
    if (i < 1024) return static_cast<double>(i);
    const std::size_t e = (i - 1024) / 64 + 10, m = (i - 1024) % 64;
    return std::ldexp(1.0, static_cast<int>(e)) * (1.0 + static_cast<double>(m) / 64.0);
  }
  double pct(double p) const {
    if (n == 0) return 0;
    const auto want = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(n)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      seen += b[i];
      if (seen >= want) return bucket_value(i);
    }
    return max_us;
  }
};

// ---------------------------------------------------------------------------
// Messages: the bytes of message `seq` of connection `id` are a function of both,
// so every echoed byte can be checked without keeping a copy.

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
void fill_message(char* p, std::size_t size, std::uint64_t id, std::uint64_t seq, std::size_t from = 0) {
  const std::uint64_t seed = (id << 40) ^ seq;
  for (std::size_t i = from; i < size; ++i) {
    p[i - from] = static_cast<char>(mix(seed + i / 8) >> (8 * (i % 8)));
  }
}

int tcp_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die_errno("socket");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Starts a non-blocking connect to 127.0.0.1:port; true if it is under way or done.
bool start_connect(int fd, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 || errno == EINPROGRESS;
}

bool connect_finished_ok(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

void send_all_now(int fd, const char* p, std::size_t n) {
  // A message is small and the socket's send buffer is empty (one message in flight):
  // a short write means something is badly wrong.
  const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
  if (w != static_cast<ssize_t>(n)) die(w < 0 ? std::string("send: ") + std::strerror(errno) : "short send");
}

struct Epoll {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<epoll_event> events = std::vector<epoll_event>(1024);
  ~Epoll() { ::close(fd); }
  void add(int s, std::uint32_t ev, std::uint64_t data) {
    epoll_event e{};
    e.events = ev;
    e.data.u64 = data;
    if (::epoll_ctl(fd, EPOLL_CTL_ADD, s, &e) != 0) die_errno("epoll_ctl add");
  }
  void mod(int s, std::uint32_t ev, std::uint64_t data) {
    epoll_event e{};
    e.events = ev;
    e.data.u64 = data;
    if (::epoll_ctl(fd, EPOLL_CTL_MOD, s, &e) != 0) die_errno("epoll_ctl mod");
  }
  int wait(int timeout_ms) {
    const int n = ::epoll_wait(fd, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) die_errno("epoll_wait");
    return std::max(n, 0);
  }
};

// Samples of the server over a phase: RSS, fds and green threads every sample_ms.
struct Sampler {
  Sampler(Server* s, double every, double warm) : server(s), every_s(every), warm_until(warm) {}
  Server* server;
  double every_s;
  double warm_until;
  double next = 0;
  struct Sample {
    double t;
    long rss_kb, fds, green;
  };
  std::vector<Sample> samples;
  long fds_max = 0, green_max = 0;
  void tick(double t) {
    if (t < next) return;
    next = t + every_s;
    const Server::Stats st = server->stats();  // green_threads -1 if no answer
    Sample s{t, rss_kb(server->pid), fd_count(server->pid), st.green_threads};
    fds_max = std::max(fds_max, s.fds);
    green_max = std::max(green_max, s.green);
    if (t >= warm_until) samples.push_back(s);
  }
  // Mean RSS of the first and the last tenth of the samples (at least one each).
  std::pair<double, double> tenths() const {
    if (samples.empty()) return {0, 0};
    const std::size_t k = std::max<std::size_t>(1, samples.size() / 10);
    double a = 0, b = 0;
    for (std::size_t i = 0; i < k; ++i) {
      a += static_cast<double>(samples[i].rss_kb);
      b += static_cast<double>(samples[samples.size() - 1 - i].rss_kb);
    }
    return {a / static_cast<double>(k), b / static_cast<double>(k)};
  }
};

// Waits until the server says it has no connection left (at most 120 s).
void wait_server_idle(Server& s) {
  const double deadline = now_s() + 120;
  while (now_s() < deadline) {
    if (s.stats().connections == 0) return;
    ::usleep(100000);
  }
  die(s.name + " still has connections 120 s after the client closed them all");
}

// ---------------------------------------------------------------------------
// Phase hold: many connections held open, each echoing a message every interval.

struct HoldConn {
  int fd = -1;
  std::uint32_t seq = 0;
  std::uint32_t got = 0;
  bool connected = false;
  bool waiting = false;
  std::int64_t sent_ns = 0;
};

struct EchoCheck {
  std::uint64_t bytes_checked = 0, bad_bytes = 0, messages = 0;
  std::vector<char> want = std::vector<char>(65536);
  // Compares `n` received bytes, at offset `off` of message (id, seq), with what was sent.
  void check(const char* p, std::size_t n, std::uint64_t id, std::uint64_t seq, std::size_t off) {
    fill_message(want.data(), off + n, id, seq, off);
    for (std::size_t i = 0; i < n; ++i) bad_bytes += p[i] != want[i];
    bytes_checked += n;
  }
};

void phase_hold(const Options& o) {
  const std::string P = "hold";
  Server s = start_server(o, "echo_server");
  ::usleep(200000);
  // The stats line's first SIGUSR2 runs code (and formatting) the server has not run
  // yet: asked once before the first RSS reading, so that its pages are not counted
  // as the connections'.
  (void)s.stats();
  const Server::Stats st0 = s.stats();
  const long rss0 = rss_kb(s.pid), fds0 = fd_count(s.pid);
  const long anon0 = status_field_kb(s.pid, "RssAnon");
  const SockStat ss0 = sockstat();
  const long long slab0 = socket_slab_bytes();
  out(P, "connections", static_cast<double>(o.hold_conns));
  out(P, "message_bytes", static_cast<double>(o.msg_size), "bytes");
  out(P, "rss_start_kb", static_cast<double>(rss0), "kB");

  const std::size_t N = o.hold_conns, S = o.msg_size;
  std::vector<HoldConn> c(N);
  Epoll ep;
  EchoCheck chk;
  Histogram hist;
  std::vector<char> msg(S), rbuf(65536);
  std::size_t opened = 0, echoed_once = 0, failed = 0;

  auto send_next = [&](std::size_t i) {
    HoldConn& h = c[i];
    fill_message(msg.data(), S, i, h.seq);
    h.sent_ns = now_ns();
    h.got = 0;
    h.waiting = true;
    send_all_now(h.fd, msg.data(), S);
  };
  // Handles the events of one epoll_wait; returns false on a connection lost.
  auto handle = [&](int n) {
    for (int k = 0; k < n; ++k) {
      const std::size_t i = ep.events[k].data.u64;
      HoldConn& h = c[i];
      if (!h.connected) {
        if (!connect_finished_ok(h.fd)) {
          failed++;
          continue;
        }
        h.connected = true;
        ep.mod(h.fd, EPOLLIN, i);
        send_next(i);
        continue;
      }
      const ssize_t r = ::recv(h.fd, rbuf.data(), S - h.got, 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        die("hold: the server closed connection " + std::to_string(i) + (r < 0 ? std::string(": ") + std::strerror(errno) : ""));
      }
      if (!h.waiting) {
        chk.bad_bytes += static_cast<std::uint64_t>(r);  // bytes nobody sent
        continue;
      }
      chk.check(rbuf.data(), static_cast<std::size_t>(r), i, h.seq, h.got);
      h.got += static_cast<std::uint32_t>(r);
      if (h.got == S) {
        h.waiting = false;
        chk.messages++;
        if (h.seq == 0) {
          echoed_once++;
        } else {
          hist.add(static_cast<double>(now_ns() - h.sent_ns) / 1e3);
        }
        h.seq++;
      }
    }
  };

  // Open all connections, at most 256 not yet echoed at a time (the backlog is 1,024).
  const double open_start = now_s();
  while (echoed_once + failed < N) {
    while (opened < N && opened - echoed_once - failed < 256) {
      c[opened].fd = tcp_socket();
      if (!start_connect(c[opened].fd, s.port)) die_errno("connect");
      ep.add(c[opened].fd, EPOLLOUT, opened);
      opened++;
    }
    handle(ep.wait(100));
    if (now_s() - open_start > 300) die("hold: connections not all open and echoed after 300 s");
  }
  if (failed) die("hold: " + std::to_string(failed) + " connects failed");
  out(P, "open_seconds", now_s() - open_start, "s");
  // Let the server park every connection again, then measure.
  const double settle = now_s() + 1.0;
  while (now_s() < settle) handle(ep.wait(50));
  const long rss1 = rss_kb(s.pid), fds1 = fd_count(s.pid);
  const long anon1 = status_field_kb(s.pid, "RssAnon");
  const Server::Stats st1 = s.stats();
  const SockStat ss1 = sockstat();
  const long long slab1 = socket_slab_bytes();
  out(P, "rss_after_one_echo_kb", static_cast<double>(rss1), "kB");
  out(P, "rss_per_conn_bytes", std::round(static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(N)), "bytes");
  // Of it, anonymous memory (stacks and heap); the rest is file pages (code run for
  // the first time: the accept path, say), shared with other processes.
  out(P, "rss_anon_per_conn_bytes", std::round(static_cast<double>(anon1 - anon0) * 1024.0 / static_cast<double>(N)), "bytes");
  out(P, "server_fds_per_conn", static_cast<double>(fds1 - fds0) / static_cast<double>(N));
  out(P, "green_threads_start", static_cast<double>(st0.green_threads));
  out(P, "green_threads_with_conns", static_cast<double>(st1.green_threads));
  out(P, "kernel_tcp_buffer_bytes", static_cast<double>((ss1.mem_pages - ss0.mem_pages) * 4096), "bytes");
  if (slab0 >= 0 && slab1 >= 0) {
    // Both ends of each loopback connection are counted here: per socket is / 2N.
    out(P, "kernel_socket_slab_per_socket_bytes", std::round(static_cast<double>(slab1 - slab0) / (2.0 * static_cast<double>(N))), "bytes");
  }
  expect(st1.green_threads - st0.green_threads == static_cast<long>(N),
         "hold: " + std::to_string(st1.green_threads - st0.green_threads) + " green threads for " + std::to_string(N) + " connections");

  // Each connection sends every interval, spread evenly over it.
  std::uint64_t late = 0;
  const double t0 = now_s();
  const double t_end = t0 + o.hold_seconds;
  std::uint64_t cursor = 0;  // message number over all connections, in send order
  Sampler smp(&s, std::max(o.sample_ms / 1000.0, 1.0), t0);
  auto due = [&](std::uint64_t k) {
    return t0 + (static_cast<double>(k / N) + static_cast<double>(k % N) / static_cast<double>(N)) * o.hold_interval;
  };
  while (true) {
    const double t = now_s();
    if (t >= t_end) break;
    while (due(cursor) <= t && due(cursor) < t_end) {
      const std::size_t i = cursor % N;
      if (c[i].waiting) {
        late++;  // its previous echo has not come back: skip this turn
      } else {
        send_next(i);
      }
      cursor++;
    }
    smp.tick(t);
    const double wait_s = std::min(due(cursor), t_end) - now_s();
    handle(ep.wait(std::max(0, static_cast<int>(wait_s * 1000))));
  }
  // The last echoes.
  const double drain_until = now_s() + 5;
  auto in_flight = [&] { return std::any_of(c.begin(), c.end(), [](const HoldConn& h) { return h.waiting; }); };
  while (in_flight() && now_s() < drain_until) handle(ep.wait(50));
  const long rss2 = rss_kb(s.pid);
  out(P, "seconds", o.hold_seconds, "s");
  out(P, "messages", static_cast<double>(chk.messages));
  out(P, "bytes_checked", static_cast<double>(chk.bytes_checked), "bytes");
  out(P, "bad_bytes", static_cast<double>(chk.bad_bytes), "bytes");
  out(P, "late_sends", static_cast<double>(late));
  out(P, "unanswered", in_flight() ? 1 : 0);
  out(P, "p50_us", hist.pct(0.50), "us");
  out(P, "p99_us", hist.pct(0.99), "us");
  out(P, "max_us", hist.max_us, "us");
  const auto [first, last] = smp.tenths();
  out(P, "rss_first_tenth_kb", std::round(first), "kB");
  out(P, "rss_last_tenth_kb", std::round(last), "kB");
  out(P, "rss_end_kb", static_cast<double>(rss2), "kB");
  expect(chk.bad_bytes == 0, "hold: " + std::to_string(chk.bad_bytes) + " echoed bytes differ from what was sent");
  expect(!in_flight(), "hold: echoes missing at the end");

  for (HoldConn& h : c) ::close(h.fd);
  wait_server_idle(s);
  ::usleep(200000);
  const Server::Stats st3 = s.stats();
  const long fds3 = fd_count(s.pid);
  out(P, "rss_after_close_kb", static_cast<double>(rss_kb(s.pid)), "kB");
  out(P, "fds_start", static_cast<double>(fds0));
  out(P, "fds_end", static_cast<double>(fds3));
  out(P, "green_threads_end", static_cast<double>(st3.green_threads));
  out(P, "stats_lines_missed", static_cast<double>(s.stats_missed));
  expect(fds3 == fds0, "hold: server fds " + std::to_string(fds0) + " at start, " + std::to_string(fds3) + " at end");
  expect(st3.green_threads == st0.green_threads, "hold: green threads " + std::to_string(st0.green_threads) +
                                                    " at start, " + std::to_string(st3.green_threads) + " at end");
  s.stop();
}

// ---------------------------------------------------------------------------
// Phase echo: open/close cycles and persistent ping-pong, at the same time.

struct EchoConn {
  int fd = -1;
  bool churn = false;      // one message, then close and reconnect
  bool connected = false;
  std::uint64_t id = 0;    // message identity: unique per connection ever opened
  std::uint64_t seq = 0;
  std::uint32_t got = 0;
  std::int64_t sent_ns = 0;
};

void report_flatness(const Options& o, const std::string& P, const Sampler& smp, long fds0, long fds1, long g0, long g1) {
  const auto [first, last] = smp.tenths();
  out(P, "stats_lines_missed", static_cast<double>(smp.server->stats_missed));
  out(P, "samples", static_cast<double>(smp.samples.size()));
  out(P, "rss_first_tenth_kb", std::round(first), "kB");
  out(P, "rss_last_tenth_kb", std::round(last), "kB");
  const double ratio = first > 0 ? last / first : 0;
  out(P, "rss_last_over_first", ratio);
  out(P, "fds_start", static_cast<double>(fds0));
  out(P, "fds_max", static_cast<double>(smp.fds_max));
  out(P, "fds_end", static_cast<double>(fds1));
  out(P, "green_threads_start", static_cast<double>(g0));
  out(P, "green_threads_max", static_cast<double>(smp.green_max));
  out(P, "green_threads_end", static_cast<double>(g1));
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: RSS last tenth / first tenth = %.3f, outside 1 +- %.2f", P.c_str(), ratio, o.rss_tolerance);
  expect(smp.samples.size() >= 2 && std::fabs(ratio - 1.0) <= o.rss_tolerance, buf);
  expect(fds0 == fds1, P + ": server fds " + std::to_string(fds0) + " at start, " + std::to_string(fds1) + " at end");
  expect(g0 == g1, P + ": green threads " + std::to_string(g0) + " at start, " + std::to_string(g1) + " at end");
}

void phase_echo(const Options& o) {
  const std::string P = "echo";
  Server s = start_server(o, "echo_server");
  ::usleep(200000);
  const long fds0 = fd_count(s.pid);
  const long g0 = s.stats().green_threads;
  const std::size_t S = o.msg_size;
  const std::size_t n_msg = o.messages ? o.msg_conns : 0, n_churn = o.cycles ? o.churn_conns : 0;
  std::vector<EchoConn> c(n_msg + n_churn);
  Epoll ep;
  EchoCheck chk;
  Histogram hist;
  std::vector<char> msg(S), rbuf(65536);
  std::uint64_t next_id = 0, cycles = 0, cycles_started = 0, messages = 0, messages_sent = 0;

  auto send_next = [&](std::size_t i) {
    EchoConn& e = c[i];
    fill_message(msg.data(), S, e.id, e.seq);
    e.got = 0;
    e.sent_ns = now_ns();
    send_all_now(e.fd, msg.data(), S);
  };
  auto open = [&](std::size_t i) {
    EchoConn& e = c[i];
    e.fd = tcp_socket();
    e.id = next_id++;
    e.seq = 0;
    e.connected = false;
    if (!start_connect(e.fd, s.port)) die_errno("echo: connect");
    ep.add(e.fd, EPOLLOUT, i);
  };
  for (std::size_t i = 0; i < c.size(); ++i) {
    c[i].churn = i >= n_msg;
    if (c[i].churn) cycles_started++;
    else messages_sent++;
    open(i);
  }
  std::size_t active = c.size();
  const double t0 = now_s();
  Sampler smp(&s, o.sample_ms / 1000.0, t0 + o.warmup_seconds);
  bool out_of_time = false;
  while (active > 0) {
    const double t = now_s();
    smp.tick(t);
    if (o.max_seconds > 0 && t - t0 > o.max_seconds) out_of_time = true;
    const int n = ep.wait(10);
    for (int k = 0; k < n; ++k) {
      const std::size_t i = ep.events[k].data.u64;
      EchoConn& e = c[i];
      if (e.fd < 0) continue;
      if (!e.connected) {
        if (!connect_finished_ok(e.fd)) die("echo: connect failed");
        e.connected = true;
        ep.mod(e.fd, EPOLLIN, i);
        send_next(i);
        continue;
      }
      const ssize_t r = ::recv(e.fd, rbuf.data(), S - e.got, 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        die("echo: the server closed a connection" + (r < 0 ? std::string(": ") + std::strerror(errno) : std::string()));
      }
      chk.check(rbuf.data(), static_cast<std::size_t>(r), e.id, e.seq, e.got);
      e.got += static_cast<std::uint32_t>(r);
      if (e.got < S) continue;
      chk.messages++;
      hist.add(static_cast<double>(now_ns() - e.sent_ns) / 1e3);
      if (e.churn) {
        cycles++;
        ::close(e.fd);  // epoll forgets it with its last reference
        e.fd = -1;
        if (cycles_started < o.cycles && !out_of_time) {
          cycles_started++;
          open(i);
        } else {
          active--;
        }
      } else {
        messages++;
        e.seq++;
        if (messages_sent < o.messages && !out_of_time) {
          messages_sent++;
          send_next(i);
        } else {
          ::close(e.fd);
          e.fd = -1;
          active--;
        }
      }
    }
  }
  const double secs = now_s() - t0;
  smp.tick(now_s() + 1e9);  // one sample at the end of the load
  wait_server_idle(s);
  ::usleep(200000);
  const long fds1 = fd_count(s.pid);
  const long g1 = s.stats().green_threads;
  out(P, "seconds", secs, "s");
  out(P, "cycles", static_cast<double>(cycles));
  out(P, "cycles_target", static_cast<double>(o.cycles));
  out(P, "cycles_per_sec", std::round(static_cast<double>(cycles) / secs), "/s");
  out(P, "messages", static_cast<double>(messages));
  out(P, "messages_target", static_cast<double>(o.messages));
  out(P, "messages_per_sec", std::round(static_cast<double>(messages) / secs), "/s");
  if (cycles < o.cycles || messages < o.messages) {
    // Each half alone at its measured rate (they shared the CPUs here).
    const double tc = cycles ? static_cast<double>(o.cycles) * secs / static_cast<double>(cycles) : 0;
    const double tm = messages ? static_cast<double>(o.messages) * secs / static_cast<double>(messages) : 0;
    out(P, "full_counts_extrapolated_seconds", std::round(std::max(tc, tm)), "s");
  }
  out(P, "bytes_checked", static_cast<double>(chk.bytes_checked), "bytes");
  out(P, "bad_bytes", static_cast<double>(chk.bad_bytes), "bytes");
  out(P, "p50_us", hist.pct(0.50), "us");
  out(P, "p99_us", hist.pct(0.99), "us");
  out(P, "max_us", hist.max_us, "us");
  expect(chk.bad_bytes == 0, "echo: " + std::to_string(chk.bad_bytes) + " echoed bytes differ from what was sent");
  report_flatness(o, P, smp, fds0, fds1, g0, g1);
  s.stop();
}

// ---------------------------------------------------------------------------
// Phase kv: random commands, each reply known in advance from a model of the keys.

struct KvModel {
  // Keys k % 3 == 0: counters; 1: strings; 2: lists. Absent: not in the map.
  std::map<std::size_t, std::string> strings;
  std::map<std::size_t, std::deque<std::string>> lists;
};

// `type` and the number, then CRLF (appended, not "x" + ..., which GCC 12 warns about).
std::string resp_line(char type, long long v) {
  std::string s(1, type);
  s += std::to_string(v);
  s += "\r\n";
  return s;
}
std::string resp_command(std::initializer_list<std::string_view> args) {
  std::string s = resp_line('*', static_cast<long long>(args.size()));
  for (std::string_view a : args) {
    s += resp_line('$', static_cast<long long>(a.size()));
    s += a;
    s += "\r\n";
  }
  return s;
}
std::string resp_bulk(std::string_view v) {
  std::string s = resp_line('$', static_cast<long long>(v.size()));
  s += v;
  s += "\r\n";
  return s;
}
std::string resp_int(long long v) { return resp_line(':', v); }

struct KvConn {
  int fd = -1;
  std::size_t id = 0;
  KvModel model;
  std::string expected;     // replies still to come, in order
  std::size_t expected_off = 0;
  std::size_t in_flight = 0;
  std::deque<std::int64_t> sent_ns;
  std::deque<std::size_t> reply_len;  // the length of each reply in flight
  std::size_t reply_got = 0;
  std::mt19937_64 rng;
};

// One random request for connection `c`, its expected reply appended to `want`.
std::string kv_request(KvConn& c, std::size_t keys, std::string& want) {
  std::mt19937_64& r = c.rng;
  const std::size_t k = r() % keys;
  std::string key(1, 'c');
  key += std::to_string(c.id);
  key += ":k";
  key += std::to_string(k);
  const unsigned op = static_cast<unsigned>(r() % 100);
  auto random_value = [&] {
    std::string v(1 + r() % 48, 'x');
    for (char& ch : v) ch = static_cast<char>('a' + r() % 26);
    return v;
  };
  if (op < 4) {  // DEL on any kind
    const bool had = c.model.strings.erase(k) + c.model.lists.erase(k) > 0;
    want += resp_int(had);
    return resp_command({"DEL", key});
  }
  if (op < 8) {  // EXISTS
    want += resp_int(c.model.strings.count(k) + c.model.lists.count(k));
    return resp_command({"EXISTS", key});
  }
  if (op < 11) {  // TYPE
    want += c.model.strings.count(k) ? "+string\r\n" : c.model.lists.count(k) ? "+list\r\n" : "+none\r\n";
    return resp_command({"TYPE", key});
  }
  if (k % 3 == 0) {  // counter
    auto it = c.model.strings.find(k);
    long long v = it == c.model.strings.end() ? 0 : std::stoll(it->second);
    if (op < 40) {
      want += it == c.model.strings.end() ? std::string("$-1\r\n") : resp_bulk(it->second);
      return resp_command({"GET", key});
    }
    if (op < 60) {
      c.model.strings[k] = std::to_string(v + 1);
      want += resp_int(v + 1);
      return resp_command({"INCR", key});
    }
    if (op < 75) {
      c.model.strings[k] = std::to_string(v - 1);
      want += resp_int(v - 1);
      return resp_command({"DECR", key});
    }
    const long long d = static_cast<long long>(r() % 2001) - 1000;
    c.model.strings[k] = std::to_string(v + d);
    want += resp_int(v + d);
    return resp_command({"INCRBY", key, std::to_string(d)});
  }
  if (k % 3 == 1) {  // string
    auto it = c.model.strings.find(k);
    if (op < 55) {
      want += it == c.model.strings.end() ? std::string("$-1\r\n") : resp_bulk(it->second);
      return resp_command({"GET", key});
    }
    if (op < 90) {
      const std::string v = random_value();
      c.model.strings[k] = v;
      want += "+OK\r\n";
      return resp_command({"SET", key, v});
    }
    // LPUSH on a string: the error a client gets, and nothing changes.
    if (it != c.model.strings.end()) {
      want += "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
      return resp_command({"LPUSH", key, "x"});
    }
    want += "$-1\r\n";
    return resp_command({"GET", key});
  }
  // list: pushes while short, pops, lengths, ranges.
  auto it = c.model.lists.find(k);
  const std::size_t len = it == c.model.lists.end() ? 0 : it->second.size();
  if (op < 45 && len < 16) {
    const std::string v = random_value();
    const bool left = op % 2;
    auto& l = c.model.lists[k];
    if (left) l.push_front(v);
    else l.push_back(v);
    want += resp_int(static_cast<long long>(l.size()));
    return resp_command({left ? "LPUSH" : "RPUSH", key, v});
  }
  if (op < 75) {
    const bool left = op % 2;
    if (len == 0) {
      want += "$-1\r\n";
    } else {
      auto& l = it->second;
      want += resp_bulk(left ? l.front() : l.back());
      if (left) l.pop_front();
      else l.pop_back();
      if (l.empty()) c.model.lists.erase(it);
    }
    return resp_command({left ? "LPOP" : "RPOP", key});
  }
  if (op < 88) {
    want += resp_int(static_cast<long long>(len));
    return resp_command({"LLEN", key});
  }
  want += resp_line('*', static_cast<long long>(len));
  if (len) for (const std::string& v : it->second) want += resp_bulk(v);
  return resp_command({"LRANGE", key, "0", "-1"});
}

void phase_kv(const Options& o) {
  const std::string P = "kv";
  Server s = start_server(o, "kv_server");
  ::usleep(200000);
  const long fds0 = fd_count(s.pid);
  const long g0 = s.stats().green_threads;
  std::vector<KvConn> c(o.kv_conns);
  Epoll ep;
  Histogram hist;
  std::uint64_t sent = 0, done = 0, bad = 0, checked = 0;
  std::vector<char> rbuf(65536);
  std::size_t active = 0;

  auto top_up = [&](KvConn& k) {
    std::string batch;
    while (k.in_flight < o.kv_pipeline && sent < o.kv_requests) {
      const std::size_t before = k.expected.size();
      batch += kv_request(k, o.kv_keys, k.expected);
      k.reply_len.push_back(k.expected.size() - before);
      k.sent_ns.push_back(now_ns());
      k.in_flight++;
      sent++;
    }
    if (!batch.empty()) send_all_now(k.fd, batch.data(), batch.size());
  };
  for (std::size_t i = 0; i < c.size(); ++i) {
    KvConn& k = c[i];
    k.id = i;
    k.rng.seed(0x5eed0000 + i);
    k.fd = tcp_socket();
    int flags = ::fcntl(k.fd, F_GETFL);
    ::fcntl(k.fd, F_SETFL, flags & ~O_NONBLOCK);  // a blocking connect here: simpler
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(s.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(k.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die_errno("kv: connect");
    ::fcntl(k.fd, F_SETFL, flags);
    ep.add(k.fd, EPOLLIN, i);
    active++;
  }
  const double t0 = now_s();
  Sampler smp(&s, o.sample_ms / 1000.0, t0 + o.warmup_seconds);
  bool out_of_time = false;
  std::uint64_t limit = o.kv_requests;
  for (KvConn& k : c) top_up(k);
  while (active > 0) {
    const double t = now_s();
    smp.tick(t);
    if (!out_of_time && o.max_seconds > 0 && t - t0 > o.max_seconds) {
      out_of_time = true;
      limit = sent;
    }
    const int n = ep.wait(10);
    for (int e = 0; e < n; ++e) {
      KvConn& k = c[ep.events[e].data.u64];
      const ssize_t r = ::recv(k.fd, rbuf.data(), rbuf.size(), 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        die("kv: the server closed a connection");
      }
      const std::size_t got = static_cast<std::size_t>(r);
      const std::size_t want_left = k.expected.size() - k.expected_off;
      const std::size_t cmp = std::min(got, want_left);
      for (std::size_t i = 0; i < cmp; ++i) bad += rbuf[i] != k.expected[k.expected_off + i];
      bad += got - cmp;  // more than was asked for
      checked += got;
      k.expected_off += cmp;
      k.reply_got += cmp;
      while (!k.reply_len.empty() && k.reply_got >= k.reply_len.front()) {
        k.reply_got -= k.reply_len.front();
        k.reply_len.pop_front();
        hist.add(static_cast<double>(now_ns() - k.sent_ns.front()) / 1e3);
        k.sent_ns.pop_front();
        k.in_flight--;
        done++;
      }
      if (k.expected_off > 65536) {
        k.expected.erase(0, k.expected_off);
        k.expected_off = 0;
      }
      if (!out_of_time) top_up(k);
      if (k.in_flight == 0 && (sent >= limit || out_of_time)) {
        ::close(k.fd);
        k.fd = -1;
        active--;
      }
    }
  }
  const double secs = now_s() - t0;
  smp.tick(now_s() + 1e9);
  wait_server_idle(s);
  ::usleep(200000);
  const long fds1 = fd_count(s.pid);
  const long g1 = s.stats().green_threads;
  out(P, "seconds", secs, "s");
  out(P, "requests", static_cast<double>(done));
  out(P, "requests_target", static_cast<double>(o.kv_requests));
  out(P, "requests_per_sec", std::round(static_cast<double>(done) / secs), "/s");
  if (done < o.kv_requests && done > 0) {
    out(P, "full_count_extrapolated_seconds", std::round(static_cast<double>(o.kv_requests) * secs / static_cast<double>(done)), "s");
  }
  out(P, "reply_bytes_checked", static_cast<double>(checked), "bytes");
  out(P, "bad_bytes", static_cast<double>(bad), "bytes");
  out(P, "p50_us", hist.pct(0.50), "us");
  out(P, "p99_us", hist.pct(0.99), "us");
  out(P, "max_us", hist.max_us, "us");
  expect(bad == 0, "kv: " + std::to_string(bad) + " reply bytes differ from what the model says");
  report_flatness(o, P, smp, fds0, fds1, g0, g1);
  s.stop();
}

// ---------------------------------------------------------------------------
// Phase burst: bench/soak/soak_burst in a process of its own; its lines relayed.

void phase_burst(const Options& o) {
  const std::string exe = o.build + "/bench/soak/soak_burst";
  if (::access(exe.c_str(), X_OK) != 0) die(exe + " is not there (build it: ninja -C " + o.build + " bench/soak/soak_burst)");
  const std::string cmd = exe + " --threads " + std::to_string(o.burst_threads);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) die_errno("popen soak_burst");
  char line[512];
  double before = 0, after = 0;
  while (std::fgets(line, sizeof line, p)) {
    std::fputs(line, stdout);
    std::sscanf(line, "burst_rss_before_kb: %lf", &before);
    std::sscanf(line, "burst_rss_after_kb: %lf", &after);
  }
  std::fflush(stdout);
  const int st = ::pclose(p);
  expect(st == 0, "burst: soak_burst failed");
  char buf[160];
  std::snprintf(buf, sizeof buf, "burst: RSS %.0f kB after, %.0f kB before: more than %.0f %% above", after, before,
                o.burst_tolerance * 100);
  expect(before > 0 && after <= before * (1 + o.burst_tolerance), buf);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (has_phase(o, "hold") && (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < o.hold_conns + 64)) {
    die("hold: " + std::to_string(o.hold_conns) + " connections need more open files than RLIMIT_NOFILE allows (" +
        std::to_string(rl.rlim_cur) + ")");
  }
  const bool two_cpus = ::sysconf(_SC_NPROCESSORS_ONLN) >= 2;
  if (two_cpus) pin_to(0, o.client_cpu);
  std::printf("soak_profile: %s\n", o.short_run ? "short" : "full");
  std::printf("soak_pinning: %s\n", two_cpus ? "server and client on different CPUs" : "one CPU: not pinned");
  std::fflush(stdout);
  const double t0 = now_s();
  if (has_phase(o, "hold")) phase_hold(o);
  if (has_phase(o, "echo")) phase_echo(o);
  if (has_phase(o, "kv")) phase_kv(o);
  if (has_phase(o, "burst")) phase_burst(o);
  out("soak_seconds", now_s() - t0, "s");
  for (const std::string& f : failures) std::printf("FAIL: %s\n", f.c_str());
  std::printf("soak_failures: %zu\n", failures.size());
  return o.check && !failures.empty() ? 1 : 0;
}
