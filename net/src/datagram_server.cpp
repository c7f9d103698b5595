// datagram_server.cpp: the receive loop of DatagramServer.
#include <grove/net/datagram_server.hpp>

#include <cerrno>
#include <list>
#include <string>
#include <utility>
#include <vector>

#include <grove/detail/observer.hpp>
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/log.hpp>
#include <grove/pool.hpp>
#include <grove/wait.hpp>
#include <grove/scheduler.hpp>

#include "endpoint.hpp"
#include "hub.hpp"
#include "stop_handlers.hpp"

namespace grove::net {

namespace {
struct WakeOnNotify final : grove::detail::Observer {
  WakeOnNotify(grove::detail::Hub& h, grove::detail::GreenThreadState* g) : hub(h), gt(g) {}
  void notify() noexcept override { hub.wake(gt); }
  grove::detail::Hub& hub;
  grove::detail::GreenThreadState* gt;
};
}  // namespace

struct DatagramServer::Impl : std::enable_shared_from_this<DatagramServer::Impl> {
  Address want;
  Address bound;
  Socket sock;
  Handler handler;
  DatagramServerOptions opts;
  GreenThreadHandle receiver;
  std::list<GreenThreadHandle> handlers;  // with a pool: each datagram's green thread
  grove::detail::ObserverList stop_waiters;
  bool started = false;
  bool stopped = false;
  bool killing = false;  // a stop() has killed the handlers: later ones only wait

  // Owned by a pooled handler's function object: takes the handler off `handlers`
  // when that object is destroyed, also when it is killed before it first runs.
  struct HandlerEntry {
    Impl* im;
    std::list<GreenThreadHandle>::iterator it;
    bool held = true;
    HandlerEntry(Impl* i, std::list<GreenThreadHandle>::iterator t) : im(i), it(t) {}
    HandlerEntry(HandlerEntry&& o) noexcept : im(o.im), it(o.it), held(std::exchange(o.held, false)) {}
    HandlerEntry(const HandlerEntry&) = delete;
    HandlerEntry& operator=(const HandlerEntry&) = delete;
    ~HandlerEntry() {
      if (held) im->handlers.erase(it);
    }
  };

  void handle(std::string_view data, const Address& from) {
    try {
      handler(sock, data, from);
    } catch (const GreenletExit&) {
      throw;
    } catch (const std::exception& e) {
      grove::logger().error("{}: handler for a datagram from {} failed: {}", opts.name, from.to_string(), e.what());
    } catch (...) {
      grove::logger().error("{}: handler for a datagram from {} failed: an exception not derived from std::exception",
                            opts.name, from.to_string());
    }
  }

  void spawn_handler(std::string data, const Address& from) {
    auto it = handlers.emplace(handlers.end());
    HandlerEntry entry(this, it);
    *it = grove::spawn(SpawnOptions{0, opts.name + " " + from.to_string()},
                       [self = shared_from_this(), entry = std::move(entry), data = std::move(data), from] {
                         self->handle(data, from);
                       });
    // receive_loop() saw a free slot and nothing ran since (spawn does not switch).
    const GreenThreadHandle h = *it;
    opts.pool->add(h);
  }

  void receive_loop() {
    std::vector<char> buf(opts.max_datagram);
    for (;;) {
      if (opts.pool) opts.pool->wait_available();
      std::error_code ec;
      Address from;
      const std::size_t n = sock.recvfrom(buf.data(), buf.size(), from, ec);
      if (ec) {
        if (!sock.is_open() || ec.value() == ECANCELED) return;
        grove::logger().warn("{}: recvfrom failed: {}", opts.name, ec.message());
        grove::sleep(std::chrono::milliseconds(5));
        continue;
      }
      if (opts.pool) {
        opts.pool->wait_available();  // a shared pool's slot may have gone meanwhile
        spawn_handler(std::string(buf.data(), n), from);
      } else {
        handle(std::string_view(buf.data(), n), from);
      }
    }
  }
};

DatagramServer::DatagramServer(const Address& address, Handler handler, DatagramServerOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->want = address;
  impl_->handler = std::move(handler);
  impl_->opts = std::move(options);
}

DatagramServer::DatagramServer(std::string_view endpoint, Handler handler, DatagramServerOptions options)
    : impl_(std::make_shared<Impl>()) {
  // A name is looked up here, not at start(): nothing of the server exists yet while
  // this parks, so a kill or the server's destruction cannot catch it half-started.
  const auto ep = detail::Endpoint::parse(endpoint, detail::Endpoint::Use::kListen);
  impl_->want = ep.listen_address("grove::net::DatagramServer");
  impl_->handler = std::move(handler);
  impl_->opts = std::move(options);
}

DatagramServer::~DatagramServer() {
  try {
    stop(Duration::zero());
  } catch (...) {
    // The destroying green thread was interrupted while stopping: make sure the
    // receiver ends. It holds the shared state, so it may finish after this object.
    try {
      Impl& im = *impl_;
      const GreenThreadHandle self = grove::current();
      if (im.receiver && !(im.receiver == self)) im.receiver.kill_nowait();
      for (const auto& h : im.handlers) {
        if (!(h == self)) h.kill_nowait();
      }
    } catch (...) {
    }
  }
}

void DatagramServer::start() {
  Impl& im = *impl_;
  if (im.started) throw UsageError("grove::net::DatagramServer::start: already started");
  Socket s(im.want.family(), SocketType::kDatagram);
  if (im.want.family() != Family::kUnix) {
    if (im.opts.reuse_address) s.set_reuse_address(true);
    if (im.opts.reuse_port) s.set_reuse_port(true);
  }
  s.bind(im.want);
  im.bound = s.local_address();
  im.sock = std::move(s);
  // The receive buffer lives on the heap: green thread stacks are small.
  im.receiver = grove::spawn(SpawnOptions{0, im.opts.name + " " + im.bound.to_string()}, [p = impl_] { p->receive_loop(); });
  im.started = true;
}

void DatagramServer::serve_forever() {
  const std::shared_ptr<Impl> keep = impl_;  // the server may be destroyed while this parks
  Impl& im = *keep;
  if (!im.started) start();
  auto& hub = grove::detail::Hub::get();
  while (!im.stopped) {
    WakeOnNotify w(hub, hub.running());
    im.stop_waiters.push_back(&w);
    hub.park("DatagramServer::serve_forever");
  }
}

void DatagramServer::stop(Duration timeout) {
  const std::shared_ptr<Impl> keep = impl_;  // the server may be destroyed while this parks
  Impl& im = *keep;
  if (!im.started) return;
  // serve_forever() returns once the first stop() is over, however it ends (even
  // interrupted). A later stop() (another green thread's, the destructor's) still
  // waits for the handlers, with its own timeout, so that none outlives it.
  struct NotifyWaiters {
    Impl* im;
    ~NotifyWaiters() {
      if (im) im->stop_waiters.notify_all();
    }
  } notify{im.stopped ? nullptr : &im};
  im.stopped = true;
  im.sock.close();  // a receiver parked in recvfrom wakes with ECANCELED and returns
  const GreenThreadHandle self = grove::current();
  if (im.receiver == self) return;  // from the handler: the loop ends when it returns
  if (!im.opts.pool) {
    // The receiver runs the handler itself: it is the one handler to stop.
    if (im.receiver.ready() || im.receiver.join(timeout)) return;
    const bool killed_before = std::exchange(im.killing, true);
    if (!killed_before) im.receiver.kill_nowait();
    if (im.opts.stop_grace > Duration::zero() && im.receiver.join(im.opts.stop_grace)) return;
    detail::warn_stragglers(im.opts.name, 1, im.opts.stop_grace);
    return;
  }
  im.receiver.kill();  // it runs no handler itself, and may be waiting for a slot
  // A killed handler leaves `handlers` as it ends, started or not (HandlerEntry).
  detail::stop_handlers(im.handlers, timeout, im.opts.stop_grace, im.killing, im.opts.name);
}

Address DatagramServer::address() const { return impl_->bound; }

}  // namespace grove::net
