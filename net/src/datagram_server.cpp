// datagram_server.cpp: DatagramServer: binding, starting and stopping its shards (one
// per hub, datagram_shard.hpp) and, with options.hubs > 1, its hub threads.
#include <grove/net/datagram_server.hpp>

#include <string>
#include <utility>
#include <vector>

#include <grove/detail/observer.hpp>
#include <grove/detail/thread_owner.hpp>
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/scheduler.hpp>

#include "datagram_shard.hpp"
#include "endpoint.hpp"
#include "hub.hpp"
#include "reuseport_group.hpp"
#include "server_hubs.hpp"

namespace grove::net {

namespace {

struct WakeOnNotify final : grove::detail::Observer {
  WakeOnNotify(grove::detail::Hub& h, grove::detail::GreenThreadState* g) : hub(h), gt(g) {}
  void notify() noexcept override { hub.wake(gt); }
  grove::detail::Hub& hub;
  grove::detail::GreenThreadState* gt;
};

// a + b, without overflowing (stop(Duration::max())).
Duration saturating_add(Duration a, Duration b) {
  if (b > Duration::zero() && a > Duration::max() - b) return Duration::max();
  return a + b;
}

}  // namespace

// The server object's state, on the server's hub. The shards (one per hub) hold what
// their receivers and handlers need.
struct DatagramServer::Impl {
  Address want;
  std::shared_ptr<detail::DatagramCommon> common;
  std::shared_ptr<detail::DatagramShard> local;                // on the server's hub
  std::vector<std::shared_ptr<detail::DatagramShard>> remote;  // on `hubs` (hubs > 1)
  detail::ServerHubs hubs;
  grove::detail::ObserverList stop_waiters;
  grove::detail::ThreadOwner owner;
  bool started = false;
  bool stopped = false;

  Impl(Handler h, DatagramServerOptions o) : common(std::make_shared<detail::DatagramCommon>()) {
    detail::check_hubs_option(o.hubs, o.pool != nullptr, "grove::net::DatagramServer");
    common->handler = std::move(h);
    common->opts = std::move(o);
  }
  const DatagramServerOptions& opts() const { return common->opts; }

  // A Unix datagram socket is one socket: nothing can spread its datagrams over hubs.
  void check_family() const {
    if (opts().hubs > 1 && want.family() == Family::kUnix) {
      throw UsageError("grove::net::DatagramServer: options.hubs = " + std::to_string(opts().hubs) + " on " +
                       want.to_string() +
                       ": a Unix datagram socket is one socket, which cannot be split between hubs "
                       "(SO_REUSEPORT is for IP addresses); use hubs = 1, or an IP address");
    }
  }
  void start();
};

DatagramServer::DatagramServer(const Address& address, Handler handler, DatagramServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(handler), std::move(options))) {
  impl_->want = address;
  impl_->check_family();
}

DatagramServer::DatagramServer(std::string_view endpoint, Handler handler, DatagramServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(handler), std::move(options))) {
  // A name is looked up here, not at start(): nothing of the server exists yet while
  // this parks, so a kill or the server's destruction cannot catch it half-started.
  const auto ep = detail::Endpoint::parse(endpoint, detail::Endpoint::Use::kListen);
  impl_->want = ep.listen_address("grove::net::DatagramServer");
  impl_->check_family();
}

DatagramServer::~DatagramServer() {
  try {
    stop(Duration::zero());
  } catch (...) {
    // The destroying green thread was interrupted while stopping: make sure the
    // receiver ends. It holds its shard, so it may finish after this object. The hub
    // threads are told to stop, and joined as the state goes (ServerHubs).
    try {
      Impl& im = *impl_;
      im.hubs.request_stop(Duration::zero());
      if (detail::DatagramShard* sh = im.local.get()) {
        const GreenThreadHandle self = grove::current();
        if (sh->receiver && !(sh->receiver == self)) sh->receiver.kill_nowait();
        for (const auto& h : sh->handlers) {
          if (!(h == self)) h.kill_nowait();
        }
      }
    } catch (...) {
    }
  }
}

void DatagramServer::Impl::start() {
  const DatagramServerOptions& o = opts();
  const std::size_t n = o.hubs;
  std::vector<Socket> group;
  if (n > 1) {
    group = detail::bind_reuseport_group(want, SocketType::kDatagram, n, o.reuse_address, 0);
  } else {
    Socket s(want.family(), SocketType::kDatagram);
    if (want.family() != Family::kUnix) {
      if (o.reuse_address) s.set_reuse_address(true);
      if (o.reuse_port) s.set_reuse_port(true);
    }
    s.bind(want);
    group.push_back(std::move(s));
  }
  common->bound = group[0].local_address();
  // Nothing of the server runs yet: a failure below closes what was made.
  struct Undo {
    Impl& im;
    bool done = false;
    ~Undo() {
      if (done) return;
      im.local.reset();
      im.remote.clear();
      im.common->bound = Address();
    }
  } undo{*this};
  local = std::make_shared<detail::DatagramShard>(common);
  local->sock = std::move(group[0]);
  if (n > 1) {
    std::vector<std::shared_ptr<detail::HubPart>> parts;
    for (std::size_t i = 1; i < n; ++i) {
      auto sh = std::make_shared<detail::DatagramShard>(common);
      sh->sock_fd = detail::FdOwner(group[i].release());
      remote.push_back(sh);
      parts.push_back(sh);
    }
    hubs.start(std::move(parts), o.name);  // publishes the shards to their hub threads
  }
  try {
    local->spawn_receiver();
  } catch (...) {
    hubs.reset();  // stops and joins them
    throw;
  }
  undo.done = true;
  started = true;
}

void DatagramServer::start() {
  Impl& im = *impl_;
  im.owner.check("grove::net::DatagramServer::start");
  if (im.started) throw UsageError("grove::net::DatagramServer::start: already started");
  im.start();
}

void DatagramServer::serve_forever() {
  const std::shared_ptr<Impl> keep = impl_;  // the server may be destroyed while this parks
  Impl& im = *keep;
  im.owner.check("grove::net::DatagramServer::serve_forever");
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
  im.owner.check("grove::net::DatagramServer::stop");
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
  // The other hubs stop in parallel with this one, each within timeout + grace.
  im.hubs.request_stop(timeout);
  // From the handler it does not wait: the receiver ends when it returns, and the hub
  // threads are joined by a later stop() or the destructor.
  if (!im.local->stop_local(timeout)) return;
  im.hubs.join(saturating_add(timeout > Duration::zero() ? timeout : Duration::zero(), im.opts().stop_grace));
}

Address DatagramServer::address() const { return impl_->common->bound; }

}  // namespace grove::net
