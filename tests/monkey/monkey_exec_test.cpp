// monkey_exec_test.cpp: O_NONBLOCK belongs to the file description, which a child
// process shares. monkey must not leave it set where the user did not: sockets and
// pipes are driven non-blocking per call, and what grove must set (a listener's
// accept) is cleared for a program the process execs, except in a fork() child, whose
// parent shares the description and still accepts on it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstddef>
#include <cstdio>
#include <string>
#include <thread>

#include <grove/monkey.hpp>

#include "monkey_util.hpp"

using namespace std::chrono_literals;
using grove::test::Listener;

namespace {

const bool g_patched_at_start = [] {
  grove::monkey::patch_all();
  grove::current();
  return true;
}();

// Set in the copy of this program that the last test runs: it never reaches doctest.
constexpr const char* kExecRoleEnv = "GROVE_MONKEY_EXEC_TEST_ROLE";

// That copy: a green thread accepts once on a listener (grove sets O_NONBLOCK for
// it), then the process execs sh, which prints the listener's description flags.
const bool g_exec_role = [] {
  if (!std::getenv(kExecRoleEnv)) return false;
  const int l = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 8) != 0 ||
      ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::_exit(2);
  }
  int got = -1;
  auto g = grove::spawn([&] { got = ::accept(l, nullptr, nullptr); });
  grove::sleep(std::chrono::milliseconds(10));
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::_exit(3);
  g.join();
  if (got < 0) ::_exit(4);
  const bool nb = static_cast<int>(::syscall(SYS_fcntl, l, F_GETFL)) & O_NONBLOCK;
  char script[96];
  std::snprintf(script, sizeof script, "echo before-exec nonblocking=%d; grep ^flags: /proc/self/fdinfo/%d", nb ? 1 : 0, l);
  ::execlp("sh", "sh", "-c", script, static_cast<char*>(nullptr));
  ::_exit(5);
}();

// The description's own flags, past monkey's fcntl hook.
int real_flags(int fd) { return static_cast<int>(::syscall(SYS_fcntl, fd, F_GETFL)); }
bool really_nonblocking(int fd) { return real_flags(fd) & O_NONBLOCK; }

struct Child {
  std::string out;
  int status = -1;
};

// Runs `sh -c script` with `stdin_fd` as its stdin; returns what it wrote to stdout
// (read by a parking green read) and its exit status. Bounded: 5 s.
Child run_child(int stdin_fd, const char* script) {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(stdin_fd, 0);
    ::dup2(out[1], 1);
    ::execlp("sh", "sh", "-c", script, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  Child c;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) c.out.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  for (int i = 0; i < 5000; ++i) {
    if (::waitpid(pid, &c.status, WNOHANG) == pid) return c;
    grove::sleep(1ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &c.status, 0);
  FAIL("the child did not finish in 5 s");
  return c;
}

// The child prints its stdin's file-description flags (octal, from /proc), then
// copies stdin to stdout and says how cat ended.
constexpr const char* kReport = "grep ^flags: /proc/self/fdinfo/0; cat; echo \" cat=$?\"";

bool child_saw_nonblocking(const Child& c) {
  const auto at = c.out.find("flags:");
  REQUIRE(at != std::string::npos);
  return std::strtol(c.out.c_str() + at + 6, nullptr, 8) & O_NONBLOCK;
}

}  // namespace

GROVE_TEST("a socket a green thread waited on is not left non-blocking for a child (MSG_DONTWAIT per call)") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(::write(sv[0], "x", 1) == 1);  // a write that cannot block, from a green thread
  char c = 0;
  auto g = grove::spawn([&] { return ::read(sv[0], &c, 1); });  // and a read that parks
  grove::sleep(10ms);
  REQUIRE(::write(sv[1], "y", 1) == 1);
  CHECK(g.get() == 1);
  CHECK(c == 'y');
  CHECK_FALSE(really_nonblocking(sv[0]));
  CHECK((::fcntl(sv[0], F_GETFL) & O_NONBLOCK) == 0);
  REQUIRE(::write(sv[1], "data", 4) == 4);
  REQUIRE(::shutdown(sv[1], SHUT_WR) == 0);
  const Child child = run_child(sv[0], kReport);
  CHECK_FALSE(child_saw_nonblocking(child));
  CHECK(child.out.find("data cat=0") != std::string::npos);
  CHECK(WIFEXITED(child.status));
  ::close(sv[0]);
  ::close(sv[1]);
}

GROVE_TEST("a pipe a green thread waited on is not left non-blocking for a child") {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  char c = 0;
  auto g = grove::spawn([&] { return ::read(p[0], &c, 1); });
  grove::sleep(10ms);
  REQUIRE(::write(p[1], "y", 1) == 1);
  CHECK(g.get() == 1);
  CHECK((::fcntl(p[0], F_GETFL) & O_NONBLOCK) == 0);
  REQUIRE(::write(p[1], "data", 4) == 4);
  ::close(p[1]);
  const Child child = run_child(p[0], kReport);
  CHECK_FALSE(child_saw_nonblocking(child));
  CHECK(child.out.find("data cat=0") != std::string::npos);
  ::close(p[0]);
}

GROVE_TEST("a green connect leaves the socket as the user made it: blocking") {
  Listener l;
  const int c = l.connect_blocking();  // from the root green thread: the connect is cooperative
  CHECK_FALSE(really_nonblocking(c));
  CHECK((::fcntl(c, F_GETFL) & O_NONBLOCK) == 0);
  ::close(c);
}

GROVE_TEST("a fork() child's exec leaves a listener grove accepts on as the parent needs it: the parent keeps accepting cooperatively") {
  Listener l;
  int got = -1;
  auto g = grove::spawn([&] { got = ::accept(l.fd, nullptr, nullptr); });
  grove::sleep(10ms);
  const int c = l.connect_blocking();
  g.join();
  REQUIRE(got >= 0);
  CHECK((::fcntl(l.fd, F_GETFL) & O_NONBLOCK) == 0);  // the user's view
  REQUIRE(really_nonblocking(l.fd));                   // what grove needs for accept
  // An exec that fails leaves grove's flag as it was.
  CHECK(::execl("/nonexistent/grove-monkey-test", "x", static_cast<char*>(nullptr)) == -1);
  CHECK(errno == ENOENT);
  CHECK(really_nonblocking(l.fd));
  // A child of fork() that execs shares the description: the flag stays (the program
  // sees it, as docs/monkey.md says) ...
  const Child child = run_child(l.fd, "grep ^flags: /proc/self/fdinfo/0");
  CHECK(child_saw_nonblocking(child));
  REQUIRE(really_nonblocking(l.fd));
  // ... and the parent's next accept parks only its green thread while another runs.
  int ticks = 0;
  bool accepting = true;
  auto ticker = grove::spawn([&] {
    for (int i = 0; i < 1000 && accepting; ++i) {
      ++ticks;
      grove::sleep(1ms);
    }
  });
  std::thread late = grove::monkey::real_thread([&] {
    std::this_thread::sleep_for(100ms);
    ::close(l.connect_blocking());
  });
  const int got2 = ::accept(l.fd, nullptr, nullptr);
  accepting = false;
  late.join();
  ticker.join();
  CHECK(got2 >= 0);
  CHECK(ticks >= 20);  // the OS thread was not blocked in accept for those 100 ms
  ::close(got2);
  ::close(got);
  ::close(c);
}

GROVE_TEST("a process that execs without forking clears grove's O_NONBLOCK on a listener for the new program") {
  // A fresh copy of this program (not a fork() child of it) accepts on a listener with
  // a green thread, then execs sh to print the listener's flags.
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::setenv(kExecRoleEnv, "1", 1);
    ::execl("/proc/self/exe", "monkey_exec_test", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string got;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = -1;
  for (int i = 0; i < 5000 && ::waitpid(pid, &status, WNOHANG) != pid; ++i) grove::sleep(1ms);
  INFO(got);
  REQUIRE(got.find("before-exec nonblocking=1") != std::string::npos);
  Child c;
  c.out = got.substr(got.find("flags:"));
  CHECK_FALSE(child_saw_nonblocking(c));
  CHECK(WIFEXITED(status));
}

GROVE_TEST("O_NONBLOCK the user set stays set, in the view and for a child") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  REQUIRE(::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK) == 0);
  char c;
  CHECK(::read(sv[0], &c, 1) == -1);
  CHECK(errno == EAGAIN);
  CHECK(really_nonblocking(sv[0]));
  CHECK((::fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0);
  ::close(sv[1]);
  const Child child = run_child(sv[0], "grep ^flags: /proc/self/fdinfo/0");
  CHECK(child_saw_nonblocking(child));
  ::close(sv[0]);
}

namespace {

// Makes preadv2 / pwritev2 fail with EOPNOTSUPP in the calling thread, as a kernel
// without RWF_NOWAIT for pipes does. False where this test does not know the arch.
bool refuse_rwf_nowait() {
#if defined(__x86_64__)
  constexpr unsigned kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr unsigned kArch = AUDIT_ARCH_AARCH64;
#else
  return false;
#endif
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_preadv2, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pwritev2, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EOPNOTSUPP & SECCOMP_RET_DATA)),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

}  // namespace

GROVE_TEST("on a kernel without RWF_NOWAIT for pipes, a pipe falls back to grove's O_NONBLOCK and still parks") {
  // In a child process (the fallback is process-wide), on a new OS thread with a hub
  // of its own (the child's copy of this thread's hub shares our epoll set).
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 10;
    std::thread t = grove::monkey::real_thread([&] {
      if (!refuse_rwf_nowait()) {
        code = 0;  // unknown arch: nothing to check
        return;
      }
      int p[2];
      if (::pipe(p) != 0) return;
      char c = 0;
      bool other_ran = false, parked = false;
      auto g = grove::spawn([&] {
        const ssize_t n = ::read(p[0], &c, 1);
        parked = n == 1 && other_ran;
      });
      grove::sleep(10ms);
      other_ran = true;
      if (::write(p[1], "z", 1) != 1) return;
      g.join();
      code = !parked ? 11 : c != 'z' ? 12 : !really_nonblocking(p[0]) ? 13
             : (::fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0 ? 14 : 0;
    });
    t.join();
    ::_exit(code);
  }
  int status = 0;
  bool reaped = false;
  for (int i = 0; i < 5000 && !(reaped = ::waitpid(pid, &status, WNOHANG) == pid); ++i) grove::sleep(1ms);
  if (!reaped) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  REQUIRE(reaped);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
