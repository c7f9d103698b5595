// stream_server.cpp: the acceptor loop and the per-connection green threads.
#include <grove/net/stream_server.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <string>
#include <utility>
#include <vector>

#include <grove/detail/observer.hpp>
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/log.hpp>
#include <grove/scheduler.hpp>
#include <grove/wait.hpp>

#include "endpoint.hpp"
#include "hub.hpp"
#include "stop_handlers.hpp"

namespace grove::net {

namespace {

using grove::detail::Hub;

struct WakeOnNotify final : grove::detail::Observer {
  WakeOnNotify(Hub& h, grove::detail::GreenThreadState* g) : hub(h), gt(g) {}
  void notify() noexcept override { hub.wake(gt); }
  Hub& hub;
  grove::detail::GreenThreadState* gt;
};

// accept's errors are errno values. Only value() is used here and strerror for the
// text: with no fd left, UBSan's vptr check of a call on the error_category cannot
// read /proc and reports a false error.
bool out_of_fds(const std::error_code& ec) {
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

// Errors that say the listener cannot accept at all (closed under us, not a socket,
// not listening, not a stream socket).
bool listener_unusable(const std::error_code& ec) {
  const int e = ec.value();
  return e == EBADF || e == ENOTSOCK || e == EINVAL || e == EOPNOTSUPP;
}

}  // namespace

// Shared by the server object, its acceptor and every handler (each holds a
// reference), so a handler still unwinding after the server was destroyed (its
// destroyer interrupted while stopping) never touches freed state.
struct StreamServer::Impl : std::enable_shared_from_this<StreamServer::Impl> {
  Address want;
  Address bound;
  Socket listener;
  Handler handler;
  StreamServerOptions opts;
  GreenThreadHandle acceptor;
  std::list<GreenThreadHandle> conns;
  std::size_t running = 0;  // handlers spawned and not finished (their ConnectionSlots)
  grove::detail::ObserverList slot_waiters;  // the acceptor, waiting below the cap
  grove::detail::ObserverList stop_waiters;  // serve_forever()
  bool started = false;
  bool stopped = false;
  bool unlink_at_stop = false;  // the listener is a Unix socket file start() made
  bool killing = false;  // a stop() has killed the handlers: later ones only wait

  // A handler's connection slot: its entry in `conns` and its place in `running`.
  // Owned by the handler's function object, so it is given back when that object is
  // destroyed: after the handler returns or throws, and also when the handler is
  // killed before it first runs (its body, and anything in it, never runs then).
  struct ConnectionSlot {
    Impl* im;
    std::list<GreenThreadHandle>::iterator it;
    bool held = true;
    ConnectionSlot(Impl* i, std::list<GreenThreadHandle>::iterator t) : im(i), it(t) {}
    ConnectionSlot(ConnectionSlot&& o) noexcept : im(o.im), it(o.it), held(std::exchange(o.held, false)) {}
    ConnectionSlot(const ConnectionSlot&) = delete;
    ConnectionSlot& operator=(const ConnectionSlot&) = delete;
    ~ConnectionSlot();
  };

  void accept_loop();
  void spawn_handler(Accepted a);
};

void StreamServer::Impl::spawn_handler(Accepted a) {
  auto it = conns.emplace(conns.end());
  ++running;
  ConnectionSlot slot(this, it);
  // If spawn throws, the slot (moved into the function object or still here) is
  // given back as the exception leaves.
  *it = grove::spawn(
      SpawnOptions{0, opts.name + " " + a.peer.to_string()},
      [this, self = shared_from_this(), slot = std::move(slot)](Socket sock, Address peer) {
        try {
          handler(sock, peer);
        } catch (const std::exception& e) {
          grove::logger().error("{}: handler for {} failed: {}; closing that connection", opts.name,
                                peer.to_string(), e.what());
        }
      },
      std::move(a.socket), a.peer);
  // accept_loop() saw a free slot just before calling this, and nothing has run since
  // (spawn does not switch), so add() takes it without parking: the handler is a
  // member before it first runs. `h` is a copy: the slot erases *it when it ends.
  if (opts.pool) {
    const GreenThreadHandle h = *it;
    opts.pool->add(h);
  }
}

StreamServer::Impl::ConnectionSlot::~ConnectionSlot() {
  if (!held) return;
  --im->running;
  im->conns.erase(it);
  if (auto* o = im->slot_waiters.pop_front()) o->notify();
}

void StreamServer::Impl::accept_loop() {
  Hub& hub = Hub::get();
  double backoff = 0.005;
  bool starved = false;  // out of fds, logged
  bool failing = false;  // another accept error, logged
  double turn = -1;
  int accepted_this_turn = 0;
  for (;;) {
    while (opts.max_connections > 0 && running >= opts.max_connections) {
      WakeOnNotify w(hub, hub.running());
      slot_waiters.push_back(&w);
      hub.park("StreamServer: waiting below max_connections");
    }
    if (opts.pool) opts.pool->wait_available();
    std::error_code ec;
    Accepted a = listener.accept(ec);
    if (ec) {
      if (!listener.is_open() || ec.value() == ECANCELED) return;  // stop()
      if (out_of_fds(ec)) {
        if (!starved) {
          grove::logger().warn("{}: accept failed: {}; backing off and retrying until fds are free", opts.name,
                               std::strerror(ec.value()));
          starved = true;
        }
        grove::sleep(grove::seconds(backoff));
        backoff = std::min(backoff * 2, 0.5);
        continue;
      }
      if (listener_unusable(ec)) {  // not a listening stream socket: retrying cannot help
        grove::logger().error("{}: accept failed: {}; no longer accepting", opts.name, std::strerror(ec.value()));
        return;
      }
      if (!failing) {  // anything else (ECONNABORTED, EPERM from a firewall): back off
        grove::logger().warn("{}: accept failed: {}; backing off and retrying", opts.name,
                             std::strerror(ec.value()));
        failing = true;
      }
      grove::sleep(grove::seconds(backoff));
      backoff = std::min(backoff * 2, 0.5);
      continue;
    }
    if (starved || failing) {
      grove::logger().warn("{}: accepting connections again", opts.name);
      starved = failing = false;
    }
    backoff = 0.005;
    // Other users of a shared pool may have taken the slot while accept() parked:
    // the accepted connection waits for one (and is closed if stop() ends the wait).
    if (opts.pool) opts.pool->wait_available();
    spawn_handler(std::move(a));
    if (hub.now() != turn) {
      turn = hub.now();
      accepted_this_turn = 0;
    }
    if (++accepted_this_turn >= opts.max_accepts_per_turn) {
      accepted_this_turn = 0;
      grove::yield();  // let the new handlers run before accepting more
    }
  }
}

StreamServer::StreamServer(const Address& address, Handler handler, StreamServerOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->want = address;
  impl_->handler = std::move(handler);
  impl_->opts = std::move(options);
}

StreamServer::StreamServer(std::string_view endpoint, Handler handler, StreamServerOptions options)
    : impl_(std::make_shared<Impl>()) {
  // A name is looked up here, not at start(): nothing of the server exists yet while
  // this parks, so a kill or the server's destruction cannot catch it half-started.
  const auto ep = detail::Endpoint::parse(endpoint, detail::Endpoint::Use::kListen);
  impl_->want = ep.listen_address("grove::net::StreamServer");
  impl_->handler = std::move(handler);
  impl_->opts = std::move(options);
}

StreamServer::StreamServer(Socket listener, Handler handler, StreamServerOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->listener = std::move(listener);
  impl_->handler = std::move(handler);
  impl_->opts = std::move(options);
}

StreamServer::~StreamServer() {
  try {
    stop(Duration::zero());
  } catch (...) {
    // A kill or Timeout of the destroying green thread interrupted the stop: make
    // sure the acceptor and the handlers end. They hold the shared state, so they may
    // finish after this object is gone.
    Impl& im = *impl_;
    im.listener.close();
    const GreenThreadHandle self = grove::current();
    try {
      if (im.acceptor && !(im.acceptor == self)) im.acceptor.kill_nowait();
      for (const auto& h : im.conns) {
        if (!(h == self)) h.kill_nowait();
      }
    } catch (...) {
    }
  }
}

void StreamServer::start() {
  Impl& im = *impl_;
  if (im.started) throw UsageError("grove::net::StreamServer::start: already started");
  const bool bound_here = !im.listener.is_open();
  if (bound_here) {
    Socket s(im.want.family(), SocketType::kStream);
    if (im.want.family() != Family::kUnix) {
      if (im.opts.reuse_address) s.set_reuse_address(true);
      if (im.opts.reuse_port) s.set_reuse_port(true);
    }
    s.bind(im.want);
    s.listen(im.opts.backlog);
    im.listener = std::move(s);
  } else {
    // A listener passed in must be a listening stream socket, or every accept fails.
    std::error_code ec;
    const int accepting = im.listener.get_option(SOL_SOCKET, SO_ACCEPTCONN, ec);
    if (ec || !accepting || im.listener.type() != SocketType::kStream) {
      throw UsageError("grove::net::StreamServer::start: the listener passed in is not a listening stream "
                       "socket (bind and listen() it first)");
    }
  }
  im.bound = im.listener.local_address();
  // A Unix socket file the server made itself is removed at stop(), as Go's listener
  // does, so that a new server can bind the same path.
  im.unlink_at_stop = bound_here && im.bound.family() == Family::kUnix && !im.bound.host().empty() &&
                      im.bound.host()[0] != '@';
  im.acceptor = grove::spawn(SpawnOptions{0, im.opts.name + " acceptor " + im.bound.to_string()},
                             [p = impl_] { p->accept_loop(); });
  im.started = true;
}

void StreamServer::serve_forever() {
  const std::shared_ptr<Impl> keep = impl_;  // the server may be destroyed while this parks
  Impl& im = *keep;
  if (!im.started) start();
  Hub& hub = Hub::get();
  while (!im.stopped) {
    WakeOnNotify w(hub, hub.running());
    im.stop_waiters.push_back(&w);
    hub.park("StreamServer::serve_forever");
  }
}

void StreamServer::stop(Duration timeout) {
  const std::shared_ptr<Impl> keep = impl_;  // the server may be destroyed while this parks
  Impl& im = *keep;
  if (!im.started) {
    im.listener.close();
    return;
  }
  // serve_forever() returns once the first stop() is over, however it ends (even
  // interrupted). A later stop() (another green thread's, the destructor's) still
  // waits for the handlers, with its own timeout, so that none outlives it.
  struct NotifyWaiters {
    Impl* im;
    ~NotifyWaiters() {
      if (im) im->stop_waiters.notify_all();
    }
  } notify{im.stopped ? nullptr : &im};
  if (!im.stopped) {
    im.stopped = true;
    const std::string path = im.unlink_at_stop ? im.bound.host() : std::string();
    im.listener.close();  // the acceptor wakes with ECANCELED and returns
    if (!path.empty()) ::unlink(path.c_str());
    im.acceptor.kill();  // in case it was sleeping (out of fds) or below the cap
  }
  // A killed handler gives its slot back as it ends, started or not (ConnectionSlot);
  // one still unwinding after the grace is left running with `keep`'s state.
  detail::stop_handlers(im.conns, timeout, im.opts.stop_grace, im.killing, im.opts.name);
}

bool StreamServer::started() const noexcept { return impl_->started; }
Address StreamServer::address() const { return impl_->bound; }
std::size_t StreamServer::connection_count() const noexcept { return impl_->running; }

}  // namespace grove::net
