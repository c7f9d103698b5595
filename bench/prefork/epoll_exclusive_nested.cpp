// epoll_exclusive_nested: why prefork's answer to the thundering herd is not
// EPOLLEXCLUSIVE. N processes wait for one shared listening socket, each blocked in
// epoll_wait; a client makes connections one at a time; the figure is the processes'
// voluntary context switches per connection (how many were woken). Four ways of
// registering the listener:
//   outer            in the set the process sleeps on (libev's, for a grove hub)
//   outer_exclusive  the same with EPOLLEXCLUSIVE: one wake-up per connection
//   nested           in a second epoll set (edge-triggered) that is itself registered in
//                    the first: grove's hub, whose sockets sit in its own set, watched
//                    by libev's
//   nested_exclusive the same with EPOLLEXCLUSIVE: every process still wakes, since
//                    the kernel counts an exclusive wake-up as done only when a task
//                    sleeps in epoll_wait on that very set (ep_poll_callback)
// Prints `name: value unit`. Plain system calls, no grove.
//
//   build/bench/prefork/epoll_exclusive_nested [--procs N] [--conns C]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "proc_status.hpp"

namespace {

[[noreturn]] void waiter(int l, bool nested, bool exclusive) {
  ::alarm(30);
  const int outer = ::epoll_create1(0);
  int inner = -1;
  epoll_event ev{};
  ev.events = EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0u);
  if (!nested) {
    if (::epoll_ctl(outer, EPOLL_CTL_ADD, l, &ev) != 0) ::_exit(1);
  } else {
    inner = ::epoll_create1(0);
    ev.events |= EPOLLET;
    if (::epoll_ctl(inner, EPOLL_CTL_ADD, l, &ev) != 0) ::_exit(1);
    epoll_event in{};
    in.events = EPOLLIN;
    if (::epoll_ctl(outer, EPOLL_CTL_ADD, inner, &in) != 0) ::_exit(1);
  }
  for (;;) {
    epoll_event got[4];
    if (::epoll_wait(outer, got, 4, -1) <= 0) continue;
    if (inner >= 0) ::epoll_wait(inner, got, 4, 0);
    int c;
    while ((c = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) ::close(c);
  }
}

double wakeups_per_conn(int procs, int conns, bool nested, bool exclusive) {
  const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof at;
  if (::bind(l, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(l, 128) != 0 ||
      ::getsockname(l, reinterpret_cast<sockaddr*>(&at), &len) != 0) {
    std::perror("listener");
    std::exit(1);
  }
  std::vector<pid_t> pids;
  for (int i = 0; i < procs; ++i) {
    const pid_t p = ::fork();
    if (p == 0) waiter(l, nested, exclusive);
    pids.push_back(p);
  }
  ::usleep(200000);  // all asleep in epoll_wait
  long before = 0, after = 0;
  for (pid_t p : pids) before += voluntary_switches(p);
  for (int k = 0; k < conns; ++k) {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    ::connect(c, reinterpret_cast<sockaddr*>(&at), sizeof at);
    ::usleep(2000);  // every waiter back asleep before the next one
    ::close(c);
  }
  ::usleep(50000);
  for (pid_t p : pids) after += voluntary_switches(p);
  for (pid_t p : pids) {
    ::kill(p, SIGKILL);
    ::waitpid(p, nullptr, 0);
  }
  ::close(l);
  return static_cast<double>(after - before) / conns;
}

}  // namespace

int main(int argc, char** argv) {
  int procs = 2, conns = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--procs")) procs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--conns")) conns = std::atoi(argv[i + 1]);
  }
  if (procs < 1 || procs > 64 || conns < 1) return 2;
  std::printf("epoll_waiting_processes: %d processes\n", procs);
  std::printf("epoll_outer_wakeups_per_conn: %.2f wakeups\n", wakeups_per_conn(procs, conns, false, false));
  std::printf("epoll_outer_exclusive_wakeups_per_conn: %.2f wakeups\n", wakeups_per_conn(procs, conns, false, true));
  std::printf("epoll_nested_wakeups_per_conn: %.2f wakeups\n", wakeups_per_conn(procs, conns, true, false));
  std::printf("epoll_nested_exclusive_wakeups_per_conn: %.2f wakeups\n", wakeups_per_conn(procs, conns, true, true));
  return 0;
}
