// raw_epoll_server.cpp: the baseline echo server, a bare level-triggered epoll loop
// on one thread: per message one epoll_wait (shared), one read, one write.
//
//   echo_raw_epoll --port P [--host 127.0.0.1]      (prints "listening on H:P")
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
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
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--port")) port = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--host")) host = argv[i + 1];
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
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        ::close(fd);
        continue;
      }
      ssize_t off = 0;
      while (off < r) {  // the echo is small; a full send buffer is not expected here
        const ssize_t w = ::send(fd, buf + off, static_cast<std::size_t>(r - off), MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EAGAIN) continue;
          break;
        }
        off += w;
      }
    }
  }
}
