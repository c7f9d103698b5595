// fault_proxy.cpp: the fault-injecting proxy (see fault_proxy.hpp).
#include "fault_proxy.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <utility>

#include <grove/grove.hpp>
#include <grove/net/socket.hpp>
#include <grove/net/stream_server.hpp>

namespace faults {

namespace {

using Clock = std::chrono::steady_clock;
using grove::net::ShutdownHow;
using grove::net::Socket;

constexpr std::size_t kChunk = 16384;     // largest read
constexpr std::size_t kQueuedChunks = 8;  // read ahead of the writer, per direction
constexpr auto kConnectTimeout = std::chrono::seconds(5);

const char* const kDirName[2] = {"up", "down"};

double now_ms() {
  return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
}

void sleep_until(Clock::time_point t) {
  const auto left = t - Clock::now();
  if (left > Clock::duration::zero()) grove::sleep(std::chrono::duration_cast<grove::Duration>(left));
}

// Closing with SO_LINGER {1, 0} sends a RST instead of a FIN.
void close_with_reset(Socket& s) {
  if (!s.is_open()) return;
  struct linger lg{1, 0};
  ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  s.close();
}

struct Chunk {
  std::string data;
  Clock::time_point due;
  bool eof = false;
};

}  // namespace

struct FaultProxy::Impl {
  grove::net::Address target;
  std::vector<FaultSpec> specs;
  EventSink sink;
  std::string host;
  std::vector<std::unique_ptr<grove::net::StreamServer>> servers;
  std::vector<std::uint64_t> accepted;  // per path

  void event(std::size_t path, std::uint64_t conn, std::string what) {
    if (sink) sink(ProxyEvent{now_ms(), path, conn, std::move(what)});
  }
  void serve(std::size_t path, Socket& client);
};

namespace {

// One relayed connection: lives on its handler's stack; the four relay green threads
// are dead before it goes.
class Connection {
 public:
  Connection(FaultProxy::Impl& proxy, std::size_t path, std::uint64_t id, Socket& client)
      : proxy_(proxy), path_(path), id_(id), spec_(proxy.specs[path]), sock_{&client, &upstream_} {}

  void run() {
    event("accept");
    if (spec_.rcvbuf > 0) {
      upstream_ = Socket(proxy_.target.family(), grove::net::SocketType::kStream);
      std::error_code ec;
      upstream_.set_option(SOL_SOCKET, SO_RCVBUF, spec_.rcvbuf, ec);
      sock_[0]->set_option(SOL_SOCKET, SO_RCVBUF, spec_.rcvbuf, ec);
    } else {
      upstream_ = Socket(proxy_.target.family(), grove::net::SocketType::kStream);
    }
    std::error_code ec;
    upstream_.connect(proxy_.target, kConnectTimeout, ec);
    if (ec) {
      event("connect-failed " + ec.message());
      close_with_reset(*sock_[0]);
      upstream_.close();
      return;
    }
    const grove::net::Address local = upstream_.local_address(ec);
    event("connected " + (ec ? std::string("?") : local.to_string()));  // the server's peer
    sock_[0]->set_nodelay(true, ec);
    upstream_.set_nodelay(true, ec);
    try {
      if (spec_.blackhole) {
        group_.spawn([this] { drain(0); });
        group_.spawn([this] { drain(1); });
      } else {
        for (int d = 0; d < 2; ++d) {
          group_.spawn([this, d] { read_loop(d); });
          group_.spawn([this, d] { write_loop(d); });
        }
      }
      finished_.wait();
    } catch (...) {  // killed (the proxy stops): nothing of the connection may outlive it
      finish();
      throw;
    }
    finish();
    event("closed up=" + std::to_string(written_[0]) + " down=" + std::to_string(written_[1]) +
          (reset_ ? " reset" : ""));
  }

 private:
  const DirectionFaults& faults(int d) const { return d == 0 ? spec_.up : spec_.down; }
  Socket& in(int d) { return *sock_[d]; }
  Socket& out(int d) { return *sock_[1 - d]; }
  void event(const std::string& what) { proxy_.event(path_, id_, what); }
  void event(const std::string& what, int d) { event(what + " " + kDirName[d]); }

  // Both sockets closed (with a RST if reset), then every relay green thread killed:
  // those parked on a socket have already returned (ECANCELED).
  void finish() {
    for (Socket* s : sock_) {
      if (reset_) close_with_reset(*s);
      else s->close();
    }
    group_.kill();
  }

  void reset() {
    reset_ = true;
    finished_.set();
  }

  // Direction d has delivered end of file (or dropped the rest after a half-close).
  void direction_done(int d) {
    done_[d] = true;
    if (done_[1 - d] || stopped_[1 - d]) finished_.set();
  }

  void read_loop(int d) {
    const DirectionFaults& f = faults(d);
    DelaySource delays(f, spec_.seed, path_, id_, d);
    Clock::time_point last_due{};
    std::uint64_t total = 0;
    std::string buf(kChunk, '\0');
    for (;;) {
      std::size_t want = kChunk;
      if (f.noread_after) {
        if (total >= *f.noread_after) {
          event("stop-reading", d);
          stopped_[d] = true;
          if (done_[1 - d]) finished_.set();
          watch_other_peer(d);
          return;
        }
        want = std::min<std::uint64_t>(want, *f.noread_after - total);
      }
      std::error_code ec;
      const std::size_t n = in(d).recv_into(buf.data(), want, ec);
      if (ec) {
        if (ec.value() != ECANCELED) {
          event("recv-error " + std::string(kDirName[d]) + " " + ec.message());
          reset();
        }
        return;
      }
      const auto due = std::max(last_due, Clock::now() + std::chrono::milliseconds(delays.next_ms()));
      last_due = due;
      if (n == 0) {
        event("eof", d);
        queue_[d].put(Chunk{{}, due, true});
        return;
      }
      total += n;
      queue_[d].put(Chunk{buf.substr(0, n), due, false});
    }
  }

  // While direction d reads no more, the other peer's reader may be stuck behind a
  // full queue (the stopped peer stops reading in turn) and never see that peer
  // leave: poll its socket for a hang-up every 10 ms, and end the connection when it
  // closes or shuts down its writing. Closing with bytes of the stopped peer unread
  // resets that peer, as the kernel would for a client that stopped reading, then left.
  void watch_other_peer(int d) {
    while (!finished_.wait(std::chrono::milliseconds(10))) {
      pollfd p{in(1 - d).fd(), POLLRDHUP, 0};
      if (p.fd >= 0 && ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        event("peer-gone", 1 - d);
        finished_.set();
      }
    }
  }

  // Acts on the byte thresholds once `written_[d]` bytes are out; false if the
  // writer must stop writing (reset: the connection ends; half-close: drop the rest).
  bool after_written(int d, const DirectionFaults& f) {
    const std::uint64_t w = written_[d];
    if (f.stall_after && w == *f.stall_after) {
      event("stall", d);
      grove::sleep(std::chrono::milliseconds(f.stall_ms));
      event("stall-end", d);
    }
    if (f.reset_after && w == *f.reset_after) {
      event("reset", d);
      reset();
      return false;
    }
    if (f.halfclose_after && w == *f.halfclose_after) {
      std::error_code ec;
      out(d).shutdown(ShutdownHow::kWrite, ec);
      event("halfclose", d);
      dropping_[d] = true;
      return false;
    }
    return true;
  }

  void write_loop(int d) {
    const DirectionFaults& f = faults(d);
    Clock::time_point next_send = Clock::now();
    if (!after_written(d, f) && reset_) return;
    for (;;) {
      Chunk c = queue_[d].get();
      if (dropping_[d]) {  // after a half-close: read on, write nothing
        if (c.eof) return direction_done(d);
        continue;
      }
      sleep_until(c.due);
      if (c.eof) {
        std::error_code ec;
        out(d).shutdown(ShutdownHow::kWrite, ec);
        event("eof-sent", d);
        return direction_done(d);
      }
      std::size_t off = 0;
      while (off < c.data.size()) {
        std::uint64_t piece = c.data.size() - off;
        if (f.split) piece = std::min(piece, f.split);
        if (f.rate) piece = std::min(piece, std::max<std::uint64_t>(1, f.rate / 100));
        for (const auto& t : {f.stall_after, f.reset_after, f.halfclose_after})
          if (t && written_[d] < *t) piece = std::min(piece, *t - written_[d]);
        // With split, every piece after the first waits for a poll at least (if the
        // rate does not make it wait) and lets whoever that poll woke run first, so a
        // reader on the other side can read each piece on its own.
        bool parked = false;
        if (f.rate) {
          const auto now = Clock::now();
          if (next_send > now) {
            sleep_until(next_send);
            parked = true;
          } else {
            next_send = now;
          }
        }
        if (f.split && written_[d] > 0) {
          if (!parked) grove::sleep(std::chrono::microseconds(1));
          grove::yield();
        }
        std::error_code ec;
        out(d).sendall(c.data.data() + off, piece, ec);
        if (ec) {
          if (ec.value() != ECANCELED) {
            event("send-error " + std::string(kDirName[d]) + " " + ec.message());
            reset();
          }
          return;
        }
        off += piece;
        written_[d] += piece;
        if (f.rate)
          next_send += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
              static_cast<double>(piece) / static_cast<double>(f.rate)));
        if (!after_written(d, f)) {
          if (reset_) return;
          break;  // half-closed: drop the rest of this chunk
        }
      }
    }
  }

  // blackhole: read and drop; the client's end of file or error ends the connection,
  // the server's is only reported.
  void drain(int d) {
    std::string buf(kChunk, '\0');
    for (;;) {
      std::error_code ec;
      const std::size_t n = in(d).recv_into(buf.data(), buf.size(), ec);
      if (ec && ec.value() == ECANCELED) return;
      if (ec || n == 0) {
        event(ec ? "recv-error " + std::string(kDirName[d]) + " " + ec.message() : "eof " + std::string(kDirName[d]));
        if (d == 0) finished_.set();
        else upstream_.close();
        return;
      }
    }
  }

  FaultProxy::Impl& proxy_;
  std::size_t path_;
  std::uint64_t id_;
  const FaultSpec& spec_;
  Socket upstream_;
  Socket* sock_[2];  // the client's, the server's
  grove::Queue<Chunk> queue_[2]{grove::Queue<Chunk>(kQueuedChunks), grove::Queue<Chunk>(kQueuedChunks)};
  std::uint64_t written_[2] = {0, 0};
  bool done_[2] = {false, false};
  bool stopped_[2] = {false, false};
  bool dropping_[2] = {false, false};
  bool reset_ = false;
  grove::Event finished_;
  grove::Group group_;
};

}  // namespace

void FaultProxy::Impl::serve(std::size_t path, Socket& client) {
  Connection c(*this, path, ++accepted[path], client);
  c.run();
}

std::string format_event(const ProxyEvent& e) {
  char head[96];
  std::snprintf(head, sizeof head, "event t=%.3f path=%zu conn=%llu ", e.t_ms, e.path,
                static_cast<unsigned long long>(e.conn));
  return head + e.what;
}

FaultProxy::FaultProxy(grove::net::Address target, std::vector<FaultSpec> paths, EventSink sink, std::string host)
    : impl_(std::make_shared<Impl>()) {
  impl_->target = std::move(target);
  impl_->specs = std::move(paths);
  impl_->sink = std::move(sink);
  impl_->host = std::move(host);
  impl_->accepted.assign(impl_->specs.size(), 0);
}

FaultProxy::~FaultProxy() { stop(grove::Duration::zero()); }

void FaultProxy::start() {
  std::vector<std::unique_ptr<grove::net::StreamServer>> servers;
  for (std::size_t i = 0; i < impl_->specs.size(); ++i) {
    grove::net::StreamServerOptions o;
    o.name = "fault_proxy-" + std::to_string(i);
    Impl* impl = impl_.get();
    servers.push_back(std::make_unique<grove::net::StreamServer>(
        grove::net::Address::ip(impl_->host, 0),
        [impl, i](Socket& s, const grove::net::Address&) { impl->serve(i, s); }, o));
    servers.back()->start();  // on failure the ones started are stopped by their destructors
  }
  impl_->servers = std::move(servers);
}

grove::net::Address FaultProxy::address(std::size_t i) const { return impl_->servers.at(i)->address(); }

std::size_t FaultProxy::paths() const { return impl_->specs.size(); }

std::size_t FaultProxy::connection_count() const {
  std::size_t n = 0;
  for (const auto& s : impl_->servers) n += s->connection_count();
  return n;
}

void FaultProxy::stop(grove::Duration timeout) {
  for (auto& s : impl_->servers) s->stop(timeout);
  impl_->servers.clear();
}

}  // namespace faults
