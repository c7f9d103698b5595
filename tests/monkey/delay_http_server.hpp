// delay_http_server.hpp: a grove-free HTTP/1.1 server on its own OS thread, for the
// libcurl test. Every request is answered after `delay`; it counts how many requests
// were in flight at once. With `gate` > 0 it answers nothing until `gate` requests are
// in flight at once (or 5 s after the first, so a client that never gets there fails
// its check instead of hanging): the count then shows concurrency, not the speed of a
// sanitizer build at starting clients. Written with plain non-blocking epoll so that it behaves the
// same whether or not the process is patched: its thread is a real OS thread
// (grove::monkey::real_thread, even with threads patched) without a hub, so monkey's
// hooks pass its calls straight to libc.
#pragma once

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include <grove/monkey.hpp>

namespace grove::test {

class DelayHttpServer {
 public:
  explicit DelayHttpServer(std::chrono::milliseconds delay, int gate = 0)
      : delay_(delay), gate_(gate), gate_open_(gate <= 0) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(listen_, 1024);
    stop_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    thread_ = grove::monkey::real_thread([this] { run(); });
  }
  ~DelayHttpServer() {
    std::uint64_t one = 1;
    (void)!::write(stop_, &one, sizeof one);
    thread_.join();
    ::close(stop_);
    ::close(listen_);
  }
  int port() const { return port_; }
  int max_in_flight() const { return max_in_flight_; }
  int served() const { return served_; }

 private:
  struct Conn {
    std::string in;
    bool answered_at_set = false;
    std::chrono::steady_clock::time_point answer_at;
  };

  void run() {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    add(ep, listen_);
    add(ep, stop_);
    std::map<int, Conn> conns;
    int in_flight = 0;
    bool any_request = false;
    std::chrono::steady_clock::time_point gate_deadline;
    for (;;) {
      int timeout = -1;
      const auto now = std::chrono::steady_clock::now();
      auto consider = [&](std::chrono::steady_clock::time_point at) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count() + 1;
        if (timeout < 0 || ms < timeout) timeout = static_cast<int>(ms < 0 ? 0 : ms);
      };
      if (!gate_open_ && any_request) consider(gate_deadline);
      for (auto& [fd, c] : conns) {
        if (c.answered_at_set && gate_open_) consider(c.answer_at);
      }
      epoll_event evs[64];
      const int n = ::epoll_wait(ep, evs, 64, timeout);
      for (int i = 0; i < n; ++i) {
        const int fd = evs[i].data.fd;
        if (fd == stop_) {
          for (auto& [cfd, c] : conns) ::close(cfd);
          ::close(ep);
          return;
        }
        if (fd == listen_) {
          int c;
          while ((c = ::accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
            conns[c];
            add(ep, c);
          }
          continue;
        }
        auto it = conns.find(fd);
        if (it == conns.end()) continue;
        char buf[4096];
        const ssize_t r = ::read(fd, buf, sizeof buf);
        if (r <= 0) {
          if (it->second.answered_at_set) --in_flight;
          ::close(fd);
          conns.erase(it);
          continue;
        }
        it->second.in.append(buf, static_cast<std::size_t>(r));
        if (!it->second.answered_at_set && it->second.in.find("\r\n\r\n") != std::string::npos) {
          it->second.answered_at_set = true;
          it->second.answer_at = std::chrono::steady_clock::now() + delay_;
          if (++in_flight > max_in_flight_) max_in_flight_ = in_flight;
          if (!any_request) {
            any_request = true;
            gate_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          }
          if (in_flight >= gate_) gate_open_ = true;
        }
      }
      const auto t = std::chrono::steady_clock::now();
      if (!gate_open_ && any_request && t >= gate_deadline) gate_open_ = true;
      for (auto it = conns.begin(); gate_open_ && it != conns.end();) {
        if (it->second.answered_at_set && it->second.answer_at <= t) {
          static const char kReply[] =
              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
          (void)!::write(it->first, kReply, sizeof kReply - 1);
          ::close(it->first);
          --in_flight;
          ++served_;
          it = conns.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  static void add(int ep, int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }

  std::chrono::milliseconds delay_;
  int gate_ = 0;
  bool gate_open_ = true;
  int listen_ = -1;
  int stop_ = -1;
  int port_ = 0;
  std::atomic<int> max_in_flight_{0};
  std::atomic<int> served_{0};
  std::thread thread_;
};

}  // namespace grove::test
