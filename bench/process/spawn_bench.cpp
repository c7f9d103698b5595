// spawn_bench: spawn + wait of /bin/true, N times in a row, four ways in the same run:
//   plain_posix_spawn   posix_spawn + waitpid, no options (the floor)
//   grove               grove::net::Process({"/bin/true"}).wait(): posix_spawn with
//                       closefrom and the signal mask reset, pidfd_open, the pidfd
//                       parked on in the hub's loop, waitpid
//   python_subprocess   python3's subprocess.run(["/bin/true"]) (timed inside python,
//                       its start-up excluded)
//   python_gevent       the same under gevent's monkey patching (python3-gevent), when
//                       a python3 on PATH or /usr/bin/python3 can import gevent
// plain and grove alternate in batches of --batch spawns (--pairs pairs), so that a
// noisy neighbour hits both alike; python (a process per round, --n spawns each) runs
// --rounds times between them. Each figure is the median over batches (rounds) of the
// mean time per spawn + wait; grove_vs_plain is the median of the per-pair ratios.
// Prints `name: value unit`.
//
//   build/bench/process/spawn_bench [--pairs P] [--batch B] [--n N] [--rounds R] [--smoke]
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <grove/grove.hpp>
#include <grove/net/process.hpp>
#include <grove/net/process_run.hpp>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0, int n) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
}

double plain(int n) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    pid_t pid;
    if (::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) std::abort();
    int st;
    while (::waitpid(pid, &st, 0) < 0) {
    }
  }
  return us_since(t0, n);
}

double grove_spawn(int n) {
  const std::vector<std::string> argv{"/bin/true"};
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    grove::net::Process p(argv);
    if (!p.wait().success()) std::abort();
  }
  return us_since(t0, n);
}

const char* kPython = R"(
import sys, time
n = int(sys.argv[1])
if sys.argv[2] == "gevent":
    from gevent import monkey
    monkey.patch_all()
import subprocess
subprocess.run(["/bin/true"], check=True)
t0 = time.perf_counter()
for _ in range(n):
    subprocess.run(["/bin/true"], check=True)
print((time.perf_counter() - t0) / n * 1e6)
)";

// Microseconds per spawn + wait in python3 (`mode`: "plain" or "gevent"), or < 0.
double python(const std::string& exe, int n, const char* mode) {
  grove::net::ProcessOptions o;
  o.out = grove::net::Stdio::pipe();
  o.err = grove::net::Stdio::null();
  try {
    grove::net::ProcessOutput r = grove::net::run({exe, "-c", kPython, std::to_string(n), mode}, o, std::chrono::minutes(5));
    return std::atof(r.out.c_str());
  } catch (const std::exception&) {
    return -1;
  }
}

// A python3 that can import gevent, or "".
std::string gevent_python() {
  for (const char* exe : {"python3", "/usr/bin/python3"}) {
    grove::net::ProcessOptions o;
    o.out = grove::net::Stdio::null();
    o.err = grove::net::Stdio::null();
    try {
      grove::net::run({exe, "-c", "import gevent"}, o, std::chrono::seconds(30));
      return exe;
    } catch (const std::exception&) {
    }
  }
  return "";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int n = 200, rounds = 3, pairs = 40, batch = 25;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--smoke")) {
      n = 10;
      rounds = 1;
      pairs = 2;
      batch = 5;
    } else if (!std::strcmp(argv[i], "--pairs") && i + 1 < argc) {
      pairs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) {
      batch = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--n") && i + 1 < argc) {
      n = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--pairs P] [--batch B] [--n N] [--rounds R] [--smoke]\n", argv[0]);
      return 2;
    }
  }
  const std::string gev = gevent_python();
  std::vector<double> p, g, ratio, py, pg;
  plain(10);  // warm the page cache and glibc's spawn path
  grove_spawn(10);
  const int python_every = std::max(1, pairs / std::max(1, rounds));
  for (int i = 0; i < pairs; ++i) {
    // Which goes first alternates, so neither always follows the python run.
    const bool plain_first = i % 2 == 0;
    const double a = plain_first ? plain(batch) : grove_spawn(batch);
    const double b = plain_first ? grove_spawn(batch) : plain(batch);
    p.push_back(plain_first ? a : b);
    g.push_back(plain_first ? b : a);
    ratio.push_back(g.back() / p.back());
    if (i % python_every == 0 && static_cast<int>(py.size()) < rounds) {
      py.push_back(python("python3", n, "plain"));
      if (!gev.empty()) pg.push_back(python(gev, n, "gevent"));
    }
  }
  const double mp = median(p), mg = median(g);
  std::printf("spawns: %d count\n", pairs * batch);
  std::printf("plain_posix_spawn_wait: %.1f us\n", mp);
  std::printf("grove_process_wait: %.1f us\n", mg);
  std::printf("grove_vs_plain: %.3f ratio\n", median(ratio));
  const double mpy = median(py);
  if (mpy > 0) std::printf("python_subprocess_run: %.1f us\n", mpy);
  const double mpg = median(pg);
  if (mpg > 0) std::printf("python_gevent_subprocess_run: %.1f us\n", mpg);
  if (mpy <= 0) std::fprintf(stderr, "spawn_bench: python3 subprocess.run failed\n");
  if (gev.empty()) std::fprintf(stderr, "spawn_bench: no python3 with gevent (python3-gevent): skipped\n");
  return mpy > 0 ? 0 : 1;
}
