// chat_server.cpp: a classic thread-per-connection chat server, written with
// std::thread, std::mutex and std::condition_variable and nothing of grove's. Built
// without grove; tests/monkey/programs/run_chat.py runs it natively and under
// LD_PRELOAD=libgrove_monkey.so GROVE_MONKEY=...,threads and compares.
//
//   chat_server CLIENTS     listens on 127.0.0.1, an ephemeral port, prints "PORT <n>";
//                           serves until CLIENTS clients have come and gone, then
//                           prints "served <clients> clients, <lines> lines".
//
// Each client gets a reader thread (its lines go to every client's queue) and a writer
// thread (waits on its queue's condition variable, writes). A client is sent
// "welcome\n" once it is in the room, so it knows it will see every line sent after.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace {

struct Client {
  int fd;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> out;
  bool closing = false;
};

std::mutex g_room_mu;
std::set<std::shared_ptr<Client>> g_room;
std::condition_variable g_done_cv;
int g_finished = 0;
long g_lines = 0;

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void writer(std::shared_ptr<Client> c) {
  std::unique_lock<std::mutex> lk(c->mu);
  for (;;) {
    c->cv.wait(lk, [&] { return !c->out.empty() || c->closing; });
    if (c->out.empty()) return;
    std::string batch;
    while (!c->out.empty()) {
      batch += c->out.front();
      c->out.pop_front();
    }
    lk.unlock();
    const bool ok = write_all(c->fd, batch);
    lk.lock();
    if (!ok) return;
  }
}

void broadcast(const std::string& line) {
  std::lock_guard<std::mutex> room(g_room_mu);
  ++g_lines;
  for (const auto& c : g_room) {
    {
      std::lock_guard<std::mutex> g(c->mu);
      c->out.push_back(line);
    }
    c->cv.notify_one();
  }
}

void serve(int fd) {
  auto c = std::make_shared<Client>();
  c->fd = fd;
  std::thread w(writer, c);
  {
    std::lock_guard<std::mutex> room(g_room_mu);
    g_room.insert(c);
    std::lock_guard<std::mutex> g(c->mu);
    c->out.push_back("welcome\n");
  }
  c->cv.notify_one();
  std::string pending;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      broadcast(pending.substr(start, nl + 1 - start));
    }
    pending.erase(0, start);
  }
  {
    std::lock_guard<std::mutex> room(g_room_mu);
    g_room.erase(c);
  }
  {
    std::lock_guard<std::mutex> g(c->mu);
    c->closing = true;
  }
  c->cv.notify_one();
  w.join();
  ::close(fd);
  {
    std::lock_guard<std::mutex> room(g_room_mu);
    ++g_finished;
  }
  g_done_cv.notify_all();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: chat_server CLIENTS\n");
    return 2;
  }
  const int clients = std::atoi(argv[1]);
  const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1024) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("listen");
    return 1;
  }
  std::printf("PORT %d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  for (int i = 0; i < clients; ++i) {
    const int fd = ::accept(ls, nullptr, nullptr);
    if (fd < 0) {
      std::perror("accept");
      return 1;
    }
    std::thread(serve, fd).detach();
  }
  ::close(ls);
  std::unique_lock<std::mutex> lk(g_room_mu);
  g_done_cv.wait(lk, [&] { return g_finished == clients; });
  std::printf("served %d clients, %ld lines\n", clients, g_lines);
  return 0;
}
