// process_test.cpp: grove::net::Process, PipeStream, run / check_output: child
// processes whose pipes and exit park only the calling green thread.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grove/errors.hpp>
#include <grove/hub_thread.hpp>
#include <grove/net/pipe_stream.hpp>
#include <grove/net/process.hpp>
#include <grove/net/process_error.hpp>
#include <grove/net/process_run.hpp>
#include <grove/spawn_on.hpp>

#include "net_test.hpp"

using namespace std::chrono_literals;
using grove::net::ExitStatus;
using grove::net::PipeStream;
using grove::net::Process;
using grove::net::ProcessOptions;
using grove::net::ProcessOutput;
using grove::net::Stdio;

namespace {

// True when this process has no child at all, zombie or running (waitid says ECHILD).
bool no_children() {
  siginfo_t info{};
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

// Waits (parking, at most 5 s) until this process has no child left.
bool children_gone() {
  for (int i = 0; i < 500; ++i) {
    if (no_children()) return true;
    grove::sleep(10ms);
  }
  return no_children();
}

ProcessOptions piped(bool in, bool out, bool err) {
  ProcessOptions o;
  if (in) o.in = Stdio::pipe();
  if (out) o.out = Stdio::pipe();
  if (err) o.err = Stdio::pipe();
  return o;
}

// A temporary directory, removed with what it holds.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/grove-process-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

}  // namespace

GROVE_TEST("Process: 10 MiB each way through cat with communicate") {
  const std::string input = pattern(10 << 20);
  Process p({"cat"}, piped(true, true, false));
  const ProcessOutput r = p.communicate(input, 60s);
  CHECK(r.status.success());
  CHECK(r.out.size() == input.size());
  CHECK(r.out == input);
  CHECK(no_children());
}

GROVE_TEST("Process: communicate with a child that stops reading its stdin early (EPIPE, no SIGPIPE)") {
  const std::string input = pattern(4 << 20);
  Process p({"head", "-c", "10"}, piped(true, true, false));
  const ProcessOutput r = p.communicate(input, 30s);
  CHECK(r.status.success());
  CHECK(r.out == input.substr(0, 10));
}

GROVE_TEST("Process: children started and waited on two hubs at once (a HubThread and this one)") {
  grove::HubThread other;
  auto remote = grove::spawn_on(other.hub(), [] {
    return grove::net::check_output({"sh", "-c", "sleep 0.05; echo other hub"}, {}, 10s);
  });
  CHECK(grove::net::check_output({"sh", "-c", "sleep 0.05; echo this hub"}, {}, 10s) == "this hub\n");
  CHECK(remote.get() == "other hub\n");
  CHECK(no_children());
}

GROVE_TEST("Process: a child writing 4 MiB to stdout and 4 MiB to stderr does not deadlock communicate") {
  Process p({"sh", "-c",
             "for i in 1 2 3 4; do head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; done"},
            piped(false, true, true));
  const ProcessOutput r = p.communicate({}, 60s);
  CHECK(r.status.success());
  CHECK(r.out.size() == 4u << 20);
  CHECK(r.err.size() == 4u << 20);
  CHECK(r.out == std::string(4u << 20, '\0'));
}

GROVE_TEST("Process: a child ignoring SIGTERM survives terminate(), then kill() ends it with SIGKILL") {
  Process p({"sh", "-c", "trap '' TERM; echo ready; exec sleep 30"}, piped(false, true, false));
  char buf[16];
  REQUIRE(p.stdout_pipe().recv_exactly(buf, 6) == 6);  // "ready\n": the trap is set
  p.terminate();
  std::error_code ec;
  p.wait(300ms, ec);
  CHECK(ec == std::errc::timed_out);
  CHECK_FALSE(p.poll().has_value());
  p.kill();
  const ExitStatus st = p.wait(5s);
  CHECK(st.signal == SIGKILL);
  CHECK_FALSE(st.exited());
  CHECK(st.to_string() == "killed by signal SIGKILL (9)");
  CHECK(no_children());
}

GROVE_TEST("Process: exec failures are SpawnError in the parent with the errno and the path") {
  try {
    Process p({"/no/such/program", "x"});
    FAIL("no error");
  } catch (const grove::net::SpawnError& e) {
    CHECK(e.code().value() == ENOENT);
    CHECK(e.path() == "/no/such/program");
    CHECK(std::string(e.what()).find("/no/such/program") != std::string::npos);
  }
  try {
    Process p({"grove-no-such-program-in-path"});
    FAIL("no error");
  } catch (const grove::net::SpawnError& e) {
    CHECK(e.code().value() == ENOENT);
    CHECK(std::string(e.what()).find("grove-no-such-program-in-path") != std::string::npos);
  }
  TempDir dir;
  const std::string plain = dir.file("not-executable");
  std::ofstream(plain) << "#!/bin/sh\nexit 0\n";
  ::chmod(plain.c_str(), 0644);
  try {  // EACCES for root too: execve needs an execute bit, and the file has none
    Process p({plain});
    FAIL("no error");
  } catch (const grove::net::SpawnError& e) {
    CHECK(e.code().value() == EACCES);
    CHECK(e.path() == plain);
    CHECK(std::string(e.what()).find(plain) != std::string::npos);
  }
  try {
    ProcessOptions o;
    o.cwd = dir.file("no-such-dir");
    Process p({"true"}, o);
    FAIL("no error");
  } catch (const grove::net::SpawnError& e) {
    CHECK(e.code().value() == ENOENT);
    CHECK(e.path() == dir.file("no-such-dir"));
  }
  try {
    ProcessOptions o;
    o.in = Stdio::file(dir.file("missing-input"));
    Process p({"cat"}, o);
    FAIL("no error");
  } catch (const grove::net::SpawnError& e) {
    CHECK(e.code().value() == ENOENT);
    CHECK(e.path() == dir.file("missing-input"));
  }
  CHECK(no_children());
}

GROVE_TEST("Process: misuse is a UsageError") {
  CHECK_THROWS_AS(Process(std::vector<std::string>{}), grove::UsageError);
  ProcessOptions o;
  o.out = Stdio::merge_into_stdout();
  CHECK_THROWS_AS(Process({"true"}, o), grove::UsageError);
  Process p({"true"});
  CHECK_THROWS_AS(p.communicate("input without a stdin pipe"), grove::UsageError);
  int refused = 0;
  std::thread([&] {  // another OS thread: the Process belongs to this one's hub
    try {
      p.poll();
    } catch (const grove::UsageError&) {
      ++refused;
    }
    try {
      p.kill();
    } catch (const grove::UsageError&) {
      ++refused;
    }
  }).join();
  CHECK(refused == 2);
  p.wait(5s);
  Process none;
  std::error_code ec;
  none.wait(1s, ec);
  CHECK(ec.value() == ECHILD);
}

GROVE_TEST("Process: a killed child's signal is reported; run() names it, and a non-zero exit status") {
  Process p({"sleep", "30"});
  p.kill(SIGTERM);
  const ExitStatus st = p.wait(5s);
  CHECK(st.signal == SIGTERM);
  CHECK(st.to_string() == "killed by signal SIGTERM (15)");
  try {
    grove::net::run({"sh", "-c", "kill -KILL $$"});
    FAIL("no error");
  } catch (const grove::net::ProcessError& e) {
    CHECK(e.status().signal == SIGKILL);
    CHECK(std::string(e.what()).find("SIGKILL (9)") != std::string::npos);
  }
  try {
    grove::net::check_output({"sh", "-c", "echo some; exit 3"});
    FAIL("no error");
  } catch (const grove::net::ProcessError& e) {
    CHECK(e.status().code == 3);
    CHECK(e.out() == "some\n");
    CHECK(std::string(e.what()).find("exited with status 3") != std::string::npos);
  }
  CHECK(grove::net::check_output({"echo", "hi"}) == "hi\n");
  CHECK(grove::net::run({"cat"}, piped(false, true, false), 5s, "via stdin").out == "via stdin");
}

GROVE_TEST("Process: 100 children at once, each waited by its own green thread, all reaped") {
  std::vector<grove::GreenThread<int>> waiters;
  for (int i = 0; i < 100; ++i) {
    waiters.push_back(grove::spawn([i] {
      Process p({"sh", "-c", "sleep 0.05; exit " + std::to_string(i % 7)});
      return p.wait(30s).code;
    }));
  }
  for (int i = 0; i < 100; ++i) CHECK(waiters[static_cast<std::size_t>(i)].get() == i % 7);
  CHECK(no_children());
}

GROVE_TEST("Process: communicate timeout kills and reaps the child, the partial output is kept") {
  {
    Process p({"sh", "-c", "echo partial; echo err >&2; exec sleep 30"}, piped(false, true, true));
    std::error_code ec;
    const auto t0 = std::chrono::steady_clock::now();
    const ProcessOutput r = p.communicate({}, 300ms, ec);
    CHECK(net_test::elapsed_s(t0) < 5);
    CHECK(ec == std::errc::timed_out);
    CHECK(r.out == "partial\n");
    CHECK(r.err == "err\n");
    CHECK(r.status.signal == SIGKILL);
    CHECK(p.poll().has_value());
    CHECK(no_children());
  }
  try {
    grove::net::run({"sh", "-c", "echo partial; exec sleep 30"}, piped(false, true, false), 200ms);
    FAIL("no error");
  } catch (const grove::net::ProcessTimeout& e) {
    CHECK(e.code() == std::errc::timed_out);
    CHECK(e.output().out == "partial\n");
    CHECK(e.output().status.signal == SIGKILL);
  }
  CHECK(no_children());
}

GROVE_TEST("Process: a green thread killed while waiting leaves no child behind") {
  pid_t pid = -1;
  auto g = grove::spawn([&] {
    Process p({"sleep", "30"});
    pid = p.pid();
    p.wait();
  });
  for (int i = 0; i < 100 && pid < 0; ++i) grove::sleep(1ms);
  REQUIRE(pid > 0);
  grove::sleep(20ms);
  g.kill();
  CHECK(g.dead());
  CHECK(children_gone());
}

GROVE_TEST("Process: destroyed while green threads wait, they wake with ECANCELED; the child is reaped") {
  auto p = std::make_unique<Process>(std::vector<std::string>{"sleep", "30"}, piped(false, true, false));
  std::error_code ec1, ec2;
  auto w1 = grove::spawn([&] { p->wait(std::nullopt, ec1); });
  auto w2 = grove::spawn([&] { p->communicate({}, std::nullopt, ec2); });
  grove::sleep(20ms);
  p.reset();
  w1.join();
  w2.join();
  CHECK(ec1.value() == ECANCELED);
  CHECK(ec2.value() == ECANCELED);
  CHECK(children_gone());
}

GROVE_TEST("Process: kill_on_destroy false leaves the child running, and it is reaped when it exits") {
  pid_t pid;
  {
    ProcessOptions o;
    o.kill_on_destroy = false;
    Process p({"sleep", "0.2"}, o);
    pid = p.pid();
  }
  CHECK(::kill(pid, 0) == 0);  // still running (or a zombie about to be reaped)
  CHECK(children_gone());
}

GROVE_TEST("Process: cwd, environment, stdin from a file, stdout to a file, stderr merged, /dev/null") {
  TempDir dir;
  ProcessOptions o = piped(false, true, false);
  o.cwd = dir.path;
  CHECK(grove::net::run({"pwd"}, o).out == dir.path + "\n");

  o = piped(false, true, false);
  o.env = std::vector<std::string>{"ONLY=1"};
  CHECK(grove::net::run({"/usr/bin/env"}, o).out == "ONLY=1\n");
  o.env_set = {{"ONLY", "2"}, {"MORE", "x"}};
  CHECK(grove::net::run({"/usr/bin/env"}, o).out == "ONLY=2\nMORE=x\n");

  o = piped(false, true, false);
  o.env_set = {{"GROVE_PROCESS_TEST", "added"}};
  CHECK(grove::net::run({"sh", "-c", "echo $GROVE_PROCESS_TEST; echo ${HOME:+home-kept}"}, o).out ==
        std::string("added\n") + (std::getenv("HOME") ? "home-kept\n" : "\n"));

  const std::string in_path = dir.file("in.txt");
  std::ofstream(in_path) << "from a file\n";
  o = piped(false, true, false);
  o.in = Stdio::file(in_path);
  CHECK(grove::net::run({"cat"}, o).out == "from a file\n");

  const std::string out_path = dir.file("out.txt");
  o = {};
  o.out = Stdio::file(out_path);
  o.err = Stdio::merge_into_stdout();
  grove::net::run({"sh", "-c", "echo one; echo two >&2; echo three"}, o);
  CHECK(read_file(out_path) == "one\ntwo\nthree\n");
  o.out = Stdio::file(out_path, /*append=*/true);
  grove::net::run({"sh", "-c", "echo four >&2"}, o);
  CHECK(read_file(out_path) == "one\ntwo\nthree\nfour\n");

  o = piped(false, true, false);
  o.err = Stdio::merge_into_stdout();
  CHECK(grove::net::run({"sh", "-c", "echo out; echo err >&2"}, o).out == "out\nerr\n");

  o = piped(false, true, false);
  o.in = Stdio::null();
  CHECK(grove::net::run({"cat"}, o).out.empty());

  // An fd of the parent as stdout, and swapped stdout / stderr (sources below 3).
  auto [r, w] = PipeStream::pipe();
  o = {};
  o.out = Stdio::fd(w.fd());
  grove::net::run({"echo", "through an fd"}, o);
  w.close();
  CHECK(r.recv_all() == "through an fd\n");
}

GROVE_TEST("Process: fds without close-on-exec are closed in the child unless close_other_fds is false") {
  const int fd = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  REQUIRE(fd >= 3);
  const std::string probe = "[ -e /proc/self/fd/" + std::to_string(fd) + " ]";
  std::error_code ec;
  CHECK(Process({"sh", "-c", probe}).wait(5s).code == 1);
  ProcessOptions o;
  o.close_other_fds = false;
  CHECK(Process({"sh", "-c", probe}, o).wait(5s).code == 0);
  ::close(fd);
}

GROVE_TEST("Process: a new process group or session on request") {
  ProcessOptions o;
  o.new_process_group = true;
  Process p({"sleep", "30"}, o);
  CHECK(::getpgid(p.pid()) == p.pid());
  ProcessOptions s;
  s.new_session = true;
  Process q({"sleep", "30"}, s);
  CHECK(::getsid(q.pid()) == q.pid());
  Process plain({"sleep", "30"});
  CHECK(::getpgid(plain.pid()) == ::getpgrp());
}

GROVE_TEST("Process: other green threads keep running while one waits for a child") {
  int ticks = 0;
  bool stop = false;
  auto ticker = grove::spawn([&] {
    for (int i = 0; i < 1000 && !stop; ++i) {
      ++ticks;
      grove::sleep(5ms);
    }
  });
  Process p({"sleep", "0.3"});
  CHECK(p.wait(10s).success());
  stop = true;
  ticker.join();
  CHECK(ticks >= 20);
}

GROVE_TEST("Process: wait with a timeout lets the child go on; several green threads may wait on one") {
  Process p({"sleep", "0.2"});
  std::error_code ec;
  p.wait(10ms, ec);
  CHECK(ec == std::errc::timed_out);
  std::vector<grove::GreenThread<bool>> ws;
  for (int i = 0; i < 3; ++i) ws.push_back(grove::spawn([&] { return p.wait(10s).success(); }));
  for (auto& w : ws) CHECK(w.get());
  CHECK(p.wait().success());  // reaped already: at once
}

// Not under ASan + UBSan: UBSan's vptr check needs a pipe(2) (see net-emfile in
// tests/net/meson.build).
#if !defined(__SANITIZE_ADDRESS__)
GROVE_TEST("Process: without a pidfd (pidfd_open fails), wait polls and still reaps the child") {
  const std::set<int> fds = grove::test::open_fds();
  int lowest_free = 0;
  while (fds.count(lowest_free)) ++lowest_free;
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(lowest_free);  // no fd number left: pidfd_open fails with EMFILE
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  ExitStatus st;
  std::error_code timed;
  {
    struct Restore {
      rlimit r;
      ~Restore() { ::setrlimit(RLIMIT_NOFILE, &r); }
    } restore{old};
    Process p({"sh", "-c", "sleep 0.1; exit 4"});
    p.wait(10ms, timed);
    st = p.wait(10s);
  }
  CHECK(timed == std::errc::timed_out);
  CHECK(st.code == 4);
  CHECK(no_children());
}
#endif

GROVE_TEST("PipeStream: a write to a pipe without a reader is EPIPE, never SIGPIPE") {
  auto [r, w] = PipeStream::pipe();
  r.close();
  std::error_code ec;
  CHECK(w.sendall("x", 1, ec) == 0);
  CHECK(ec == std::errc::broken_pipe);
  CHECK_THROWS_AS(w.sendall("y"), grove::net::SendallError);
  sigset_t pending;
  ::sigpending(&pending);
  CHECK_FALSE(sigismember(&pending, SIGPIPE));
}

GROVE_TEST("PipeStream: recv parks only its green thread; timeouts and close wake it") {
  auto [r, w] = PipeStream::pipe();
  auto reader = grove::spawn([&r = r] { return r.recv(100); });
  grove::sleep(10ms);
  w.sendall("hello");
  CHECK(reader.get() == "hello");
  r.settimeout(20ms);
  std::error_code ec;
  char c;
  r.recv_into(&c, 1, ec);
  CHECK(ec == std::errc::timed_out);
  r.settimeout(std::nullopt);
  auto parked = grove::spawn([&r = r] {
    std::error_code e;
    char x;
    r.recv_into(&x, 1, e);
    return e.value();
  });
  grove::sleep(10ms);
  r.close();
  CHECK(parked.get() == ECANCELED);
}
