// chat_server: line-based broadcast. Every line a client sends goes to every other
// client. Each client has a bounded outgoing queue drained by a writer green thread
// of its own, so a client that does not read cannot grow the server's memory: when
// its queue is full, the slow client is disconnected.
//
//   chat_server --port N [--host 127.0.0.1] [--queue 64] [--max-line 1024]
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <list>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/buffered_stream.hpp>
#include <grove/net/stream_server.hpp>

#include "../common/args.hpp"
#include "../common/stop_signal.hpp"

namespace {

std::size_t g_queue_cap = 64;
std::size_t g_max_line = 1024;

// A one-shot signal a writer parks on (grove::wait) until a line is queued.
class Doorbell final : public grove::Waitable {
 public:
  bool ready() const override { return rung_; }
  grove::detail::ObserverList& observers() const override { return observers_; }
  void ring() {
    rung_ = true;
    observers_.notify_all();
  }
  void reset() { rung_ = false; }

 private:
  bool rung_ = false;
  mutable grove::detail::ObserverList observers_;
};

// One connected client: its socket and a bounded queue of lines to send.
struct Client {
  grove::net::Socket* sock;
  std::string name;
  std::deque<std::string> queue;
  Doorbell bell;  // rung when a line is queued or the client is dropped
  bool dropped = false;
};

std::list<Client*> g_clients;

// Queues `line` for every client but `from`; drops clients whose queue is full.
void broadcast(const Client* from, const std::string& line) {
  for (Client* c : g_clients) {
    if (c == from || c->dropped) continue;
    if (c->queue.size() >= g_queue_cap) {
      c->dropped = true;  // too slow: disconnect it (its reader and writer wake and end)
      c->sock->close();
      c->bell.ring();
      continue;
    }
    c->queue.push_back(line);
    c->bell.ring();
  }
}

void handle(grove::net::Socket& sock, const grove::net::Address& peer) {
  Client me{&sock, peer.to_string(), {}, {}, false};
  auto it = g_clients.insert(g_clients.end(), &me);
  // The writer drains the queue, parking on the doorbell while it is empty.
  auto writer = grove::spawn([&me] {
    std::error_code ec;
    while (!me.dropped) {
      grove::wait({&me.bell});
      me.bell.reset();
      while (!me.queue.empty()) {
        std::string line = std::move(me.queue.front());
        me.queue.pop_front();
        me.sock->sendall(line.data(), line.size(), ec);
        if (ec) {
          me.dropped = true;
          me.sock->close();  // wakes the reader
          return;
        }
      }
    }
  });
  struct Leave {
    std::list<Client*>::iterator it;
    grove::GreenThreadHandle w;
    ~Leave() {
      g_clients.erase(it);
      w.kill();
    }
  } leave{it, writer};
  broadcast(&me, "* " + me.name + " joined\n");
  grove::net::BufferedStream in(sock);
  std::error_code ec;
  while (!me.dropped) {
    std::string line = in.read_line(g_max_line, ec);
    if (ec || line.empty()) break;
    if (line.back() != '\n') line += '\n';  // an over-long line is cut into pieces
    broadcast(&me, me.name + ": " + line);
    // More lines already buffered: read_line would not park, so let the writers run
    // before queueing the next, or a burst from one client would fill every queue and
    // drop readers that keep up.
    if (in.buffered() > 0) grove::yield();
  }
  broadcast(&me, "* " + me.name + " left\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = -1;
  samples::Args args(argc, argv, "usage: chat_server --port N [--host H] [--queue N] [--max-line N]");
  while (args.next()) {
    if (args.is("--port")) port = args.number(0, 65535);
    else if (args.is("--host")) host = args.text();
    else if (args.is("--queue")) g_queue_cap = static_cast<std::size_t>(args.number(1, 1 << 20));
    else if (args.is("--max-line")) g_max_line = static_cast<std::size_t>(args.number(1, 1 << 24));
    else args.usage();
  }
  if (port < 0) args.usage_missing();
  try {
    samples::install_stop_signals();
    grove::net::StreamServerOptions opts;
    opts.name = "chat_server";
    grove::net::StreamServer server(grove::net::Address::ip(host, static_cast<std::uint16_t>(port)), handle, opts);
    server.start();
    std::printf("chat_server listening on %s\n", server.address().to_string().c_str());
    std::fflush(stdout);
    samples::wait_for_stop_signal();
    server.stop(std::chrono::seconds(1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
