// raw_epoll_server.cpp: the baseline echo server, a bare level-triggered epoll loop
// on one thread: per message one epoll_wait (shared), one read, one write.
//
//   echo_raw_epoll --port P [--host 127.0.0.1]
//       [--conn-state | --conn-page-line | --conn-page-line-colored | --conn-dense-line]
//       [--slot-pages N]                                     (prints "listening on H:P")
//
// --conn-state is an experiment, not a peer: the same loop, but each connection owns
// memory laid out like a green thread's stack in grove (an 80 KiB slot per fd: 64 KiB
// of stack plus the 16 KiB guard, in one mapping), and each message touches what an
// echo green thread touches there: it is read into a 2 KiB buffer near the top of the
// slot, and four other cache lines of that top page (control block, frames) are
// updated. It measures what per-connection memory alone costs at many connections.
// --conn-page-line touches one cache line of each connection's slot (the least a
// stack per connection can touch: the saved context) and reads into the static
// buffer (--conn-page-line-colored: at an offset that varies by connection, so the
// lines fall in different cache sets); --conn-dense-line touches one line per
// connection in a dense array (what a callback loop's per-connection watcher costs).
// --slot-pages sets the slot's size in pages (default 20, grove's stack plus guard).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  std::size_t kSlot = 80 * 1024;
  bool conn_state = false, page_line = false, dense_line = false, colored = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--conn-state")) conn_state = true;
    else if (!std::strcmp(argv[i], "--conn-page-line")) page_line = true;
    else if (!std::strcmp(argv[i], "--conn-dense-line")) dense_line = true;
    else if (!std::strcmp(argv[i], "--conn-page-line-colored")) page_line = colored = true;
    else if (i + 1 < argc && !std::strcmp(argv[i], "--slot-pages")) kSlot = 4096 * std::strtoul(argv[++i], nullptr, 10);
    else if (i + 1 < argc && !std::strcmp(argv[i], "--port")) port = std::atoi(argv[++i]);
    else if (i + 1 < argc && !std::strcmp(argv[i], "--host")) host = argv[++i];
  }
  constexpr int kMaxFd = 1 << 16;
  char* slots = nullptr;
  if (kSlot < 4096) {
    std::fprintf(stderr, "echo_raw_epoll: --slot-pages must be at least 1\n");
    return 2;
  }
  if (conn_state || page_line || dense_line) {
    // Reserved, not touched: a connection's page is faulted in by its first message.
    void* m = ::mmap(nullptr, kSlot * kMaxFd, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (m == MAP_FAILED) {
      std::perror("mmap");
      return 1;
    }
    slots = static_cast<char*>(m);
  }
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::listen(lfd, 1024) < 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof sa;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
  std::printf("listening on %s:%d\n", host.c_str(), ntohs(sa.sin_port));
  std::fflush(stdout);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static char buf[16384];
  epoll_event evs[1024];
  for (;;) {
    const int n = ::epoll_wait(ep, evs, 1024, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      char* in = buf;
      std::size_t cap = sizeof buf;
      if (page_line && fd < kMaxFd) {
        const std::size_t color = colored ? (static_cast<std::size_t>(fd) % 56) * 64 : 0;
        auto* line =
            reinterpret_cast<volatile long*>(slots + (static_cast<std::size_t>(fd) + 1) * kSlot - 0x380 - color);
        *line = *line + 1;
      } else if (dense_line && fd < kMaxFd) {
        auto* line = reinterpret_cast<volatile long*>(slots + static_cast<std::size_t>(fd) * 64);
        *line = *line + 1;
      } else if (slots && fd < kMaxFd) {
        char* top = slots + (static_cast<std::size_t>(fd) + 1) * kSlot;  // the slot's top page
        // The lines an echo green thread touches per message, as offsets below its
        // stack top (measured with valgrind's lackey on samples/echo_server).
        for (std::size_t off : {std::size_t{0x180}, std::size_t{0x3c0}, std::size_t{0xc40}, std::size_t{0xc80}}) {
          auto* line = reinterpret_cast<volatile long*>(top - off);
          *line = *line + 1;
        }
        in = top - 0xc00;  // the echo sample's 2 KiB buffer, between those lines
        cap = 2048;
      }
      const ssize_t r = ::read(fd, in, cap);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        ::close(fd);
        continue;
      }
      ssize_t off = 0;
      while (off < r) {  // the echo is small; a full send buffer is not expected here
        const ssize_t w = ::send(fd, in + off, static_cast<std::size_t>(r - off), MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EAGAIN) continue;
          break;
        }
        off += w;
      }
    }
  }
}
