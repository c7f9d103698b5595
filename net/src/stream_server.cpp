// stream_server.cpp: StreamServer: binding, starting and stopping its shards (one per
// hub, stream_shard.hpp) and, with options.hubs > 1, its hub threads (server_hubs.hpp).
#include <grove/net/stream_server.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include <grove/detail/observer.hpp>
#include <grove/detail/thread_owner.hpp>
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/scheduler.hpp>

#include "endpoint.hpp"
#include "hub.hpp"
#include "reuseport_group.hpp"
#include "server_hubs.hpp"
#include "stop_handlers.hpp"
#include "stream_shard.hpp"

namespace grove::net {

namespace {

using grove::detail::Hub;

struct WakeOnNotify final : grove::detail::Observer {
  WakeOnNotify(Hub& h, grove::detail::GreenThreadState* g) : hub(h), gt(g) {}
  void notify() noexcept override { hub.wake(gt); }
  Hub& hub;
  grove::detail::GreenThreadState* gt;
};

// a + b, without overflowing (stop(Duration::max())).
Duration saturating_add(Duration a, Duration b) {
  if (b > Duration::zero() && a > Duration::max() - b) return Duration::max();
  return a + b;
}

}  // namespace

// The server object's state, on the server's hub. The shards (one per hub) hold what
// their handlers need, so a handler still unwinding after the server was destroyed
// (its destroyer interrupted while stopping) never touches freed state.
struct StreamServer::Impl {
  Address want;
  Socket listener;  // passed in, until start() hands it to the server's shard
  std::shared_ptr<detail::StreamCommon> common;
  std::shared_ptr<detail::StreamShard> local;                // on the server's hub
  std::vector<std::shared_ptr<detail::StreamShard>> remote;  // on `hubs` (hubs > 1)
  detail::ServerHubs hubs;
  grove::detail::ObserverList stop_waiters;  // serve_forever()
  grove::detail::ThreadOwner owner;
  bool started = false;
  bool stopped = false;
  bool unlink_at_stop = false;  // the listener is a Unix socket file start() made

  Impl(Handler h, StreamServerOptions o) : common(std::make_shared<detail::StreamCommon>()) {
    detail::check_hubs_option(o.hubs, o.pool != nullptr, "grove::net::StreamServer");
    common->handler = std::move(h);
    common->opts = std::move(o);
  }
  const StreamServerOptions& opts() const { return common->opts; }
  void start();
};

StreamServer::StreamServer(const Address& address, Handler handler, StreamServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(handler), std::move(options))) {
  impl_->want = address;
}

StreamServer::StreamServer(std::string_view endpoint, Handler handler, StreamServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(handler), std::move(options))) {
  // A name is looked up here, not at start(): nothing of the server exists yet while
  // this parks, so a kill or the server's destruction cannot catch it half-started.
  const auto ep = detail::Endpoint::parse(endpoint, detail::Endpoint::Use::kListen);
  impl_->want = ep.listen_address("grove::net::StreamServer");
}

StreamServer::StreamServer(Socket listener, Handler handler, StreamServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(handler), std::move(options))) {
  impl_->listener = std::move(listener);
}

StreamServer::~StreamServer() {
  try {
    stop(Duration::zero());
  } catch (...) {
    // A kill or Timeout of the destroying green thread interrupted the stop: make
    // sure the acceptor and the handlers end. They hold their shard, so they may
    // finish after this object is gone. The hub threads are told to stop, and joined
    // as the state goes (ServerHubs).
    Impl& im = *impl_;
    im.listener.close();
    try {
      im.hubs.request_stop(Duration::zero());
      if (detail::StreamShard* sh = im.local.get()) {
        sh->listener.close();
        const GreenThreadHandle self = grove::current();
        if (sh->acceptor && !(sh->acceptor == self)) sh->acceptor.kill_nowait();
        for (const auto& h : sh->conns) {
          if (!(h == self)) h.kill_nowait();
        }
      }
    } catch (...) {
    }
  }
}

void StreamServer::Impl::start() {
  const StreamServerOptions& o = opts();
  const std::size_t n = o.hubs;
  const bool bound_here = !listener.is_open();
  std::vector<Socket> group;  // hubs > 1 on an IP address: a listener per hub
  Socket first;
  if (bound_here && n > 1 && want.family() != Family::kUnix) {
    group = detail::bind_reuseport_group(want, SocketType::kStream, n, o.reuse_address, o.backlog);
    first = std::move(group[0]);
  } else if (bound_here) {
    Socket s(want.family(), SocketType::kStream);
    if (want.family() != Family::kUnix) {
      if (o.reuse_address) s.set_reuse_address(true);
      if (o.reuse_port) s.set_reuse_port(true);
    }
    s.bind(want);
    s.listen(o.backlog);
    first = std::move(s);
  } else {
    // A listener passed in must be a listening stream socket, or every accept fails.
    std::error_code ec;
    const int accepting = listener.get_option(SOL_SOCKET, SO_ACCEPTCONN, ec);
    if (ec || !accepting || listener.type() != SocketType::kStream) {
      throw UsageError("grove::net::StreamServer::start: the listener passed in is not a listening stream "
                       "socket (bind and listen() it first)");
    }
    first = std::move(listener);
  }
  const Address bound = first.local_address();
  // A Unix socket file the server made itself is removed at stop(), as Go's listener
  // does, so that a new server can bind the same path.
  const bool unlink_path = bound_here && bound.family() == Family::kUnix && !bound.host().empty() &&
                           bound.host()[0] != '@';
  // Nothing of the server runs yet: a failure below closes what was made (a listener
  // passed in goes back to the server, as when the check above refuses it).
  struct Undo {
    Impl& im;
    Socket& first;
    const Address& bound;
    bool bound_here, unlink_path, done = false;
    ~Undo() {
      if (done) return;
      if (im.local && im.local->listener.is_open()) first = std::move(im.local->listener);
      if (!bound_here) im.listener = std::move(first);
      if (unlink_path) ::unlink(bound.host().c_str());
      im.local.reset();
      im.remote.clear();
      im.common->bound = Address();
    }
  } undo{*this, first, bound, bound_here, unlink_path};

  common->bound = bound;
  common->cap = o.max_connections == 0 ? 0 : (o.max_connections + n - 1) / n;  // each hub's share
  local = std::make_shared<detail::StreamShard>(common);
  local->listener = std::move(first);
  if (n > 1) {
    const bool handoff = group.empty();  // one listener for all hubs
    std::vector<std::shared_ptr<detail::HubPart>> parts;
    for (std::size_t i = 1; i < n; ++i) {
      auto sh = std::make_shared<detail::StreamShard>(common);
      if (!handoff) sh->listener_fd = detail::FdOwner(group[i].release());
      remote.push_back(sh);
      parts.push_back(sh);
    }
    if (handoff) {
      auto h = std::make_unique<detail::Handoff>();
      if (common->cap > 0) h->signal = std::make_shared<detail::SlotSignal>();
      // Its own shard without a reference (the shard owns the Handoff: no cycle).
      h->shards.push_back(std::shared_ptr<detail::StreamShard>(std::shared_ptr<detail::StreamShard>(), local.get()));
      for (const auto& sh : remote) h->shards.push_back(sh);
      for (const auto& sh : h->shards) {
        sh->counted_across = true;
        sh->slot_signal = h->signal;
      }
      local->handoff = std::move(h);
    }
    hubs.start(std::move(parts), o.name);  // publishes the shards to their hub threads
    if (handoff) {
      local->handoff->hubs.emplace_back();
      for (std::size_t i = 0; i < hubs.size(); ++i) local->handoff->hubs.push_back(hubs.hub(i));
    }
  }
  try {
    local->spawn_acceptor();
  } catch (...) {
    hubs.reset();  // stops and joins them
    throw;
  }
  undo.done = true;
  unlink_at_stop = unlink_path;
  started = true;
}

void StreamServer::start() {
  Impl& im = *impl_;
  im.owner.check("grove::net::StreamServer::start");
  if (im.started) throw UsageError("grove::net::StreamServer::start: already started");
  im.start();
}

void StreamServer::serve_forever() {
  const std::shared_ptr<Impl> keep = impl_;  // the server may be destroyed while this parks
  Impl& im = *keep;
  im.owner.check("grove::net::StreamServer::serve_forever");
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
  im.owner.check("grove::net::StreamServer::stop");
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
  detail::StreamShard& local = *im.local;
  const StreamServerOptions& o = im.opts();
  if (!im.stopped) {
    im.stopped = true;
    // The other hubs stop in parallel with this one, each within timeout + grace.
    im.hubs.request_stop(timeout);
    const std::string path = im.unlink_at_stop ? im.common->bound.host() : std::string();
    local.stopped = true;
    local.listener.close();  // the acceptor wakes with ECANCELED and returns
    if (!path.empty()) ::unlink(path.c_str());
    local.acceptor.kill();  // in case it was sleeping (out of fds) or below the cap
  }
  // A killed handler gives its slot back as it ends, started or not (ConnectionSlot);
  // one still unwinding after the grace is left running with its shard.
  detail::stop_handlers(local.conns, timeout, o.stop_grace, local.killing, o.name);
  // The first stop() joins the hub threads (each ends within timeout + grace of the
  // request above); a later one waits for it as long as its own stop may take.
  im.hubs.join(saturating_add(timeout > Duration::zero() ? timeout : Duration::zero(), o.stop_grace));
}

bool StreamServer::started() const noexcept { return impl_->started; }
Address StreamServer::address() const { return impl_->common->bound; }

std::size_t StreamServer::connection_count() const noexcept {
  const Impl& im = *impl_;
  if (!im.local) return 0;
  std::size_t n = im.local->running.load(std::memory_order_relaxed);
  for (const auto& sh : im.remote) n += sh->running.load(std::memory_order_relaxed);
  return n;
}

}  // namespace grove::net
