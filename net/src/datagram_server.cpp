// datagram_server.cpp: the receive loop of DatagramServer.
#include <grove/net/datagram_server.hpp>

#include <cerrno>
#include <string>
#include <vector>

#include <grove/detail/observer.hpp>
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/log.hpp>
#include <grove/scheduler.hpp>

#include "hub.hpp"

namespace grove::net {

namespace {
struct WakeOnNotify final : grove::detail::Observer {
  WakeOnNotify(grove::detail::Hub& h, grove::detail::GreenThreadState* g) : hub(h), gt(g) {}
  void notify() noexcept override { hub.wake(gt); }
  grove::detail::Hub& hub;
  grove::detail::GreenThreadState* gt;
};
}  // namespace

struct DatagramServer::Impl {
  Address want;
  Address bound;
  Socket sock;
  Handler handler;
  DatagramServerOptions opts;
  GreenThreadHandle receiver;
  grove::detail::ObserverList stop_waiters;
  bool started = false;
  bool stopped = false;

  void receive_loop() {
    std::vector<char> buf(opts.max_datagram);
    for (;;) {
      std::error_code ec;
      Address from;
      const std::size_t n = sock.recvfrom(buf.data(), buf.size(), from, ec);
      if (ec) {
        if (!sock.is_open() || ec.value() == ECANCELED) return;
        grove::logger().warn("{}: recvfrom failed: {}", opts.name, ec.message());
        grove::sleep(std::chrono::milliseconds(5));
        continue;
      }
      try {
        handler(sock, std::string_view(buf.data(), n), from);
      } catch (const std::exception& e) {
        grove::logger().error("{}: handler for a datagram from {} failed: {}", opts.name, from.to_string(), e.what());
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

DatagramServer::~DatagramServer() {
  try {
    stop(Duration::zero());
  } catch (...) {
    // The destroying green thread was interrupted while stopping: make sure the
    // receiver ends. It holds the shared state, so it may finish after this object.
    try {
      Impl& im = *impl_;
      if (im.receiver && !(im.receiver == grove::current())) im.receiver.kill_nowait();
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
  Impl& im = *impl_;
  if (!im.started) start();
  auto& hub = grove::detail::Hub::get();
  while (!im.stopped) {
    WakeOnNotify w(hub, hub.running());
    im.stop_waiters.push_back(&w);
    hub.park("DatagramServer::serve_forever");
  }
}

void DatagramServer::stop(Duration timeout) {
  Impl& im = *impl_;
  if (!im.started || im.stopped) return;
  im.stopped = true;
  // serve_forever() returns once stop() is over, however it ends (even interrupted).
  struct NotifyWaiters {
    Impl& im;
    ~NotifyWaiters() { im.stop_waiters.notify_all(); }
  } notify{im};
  im.sock.close();  // a receiver parked in recvfrom wakes with ECANCELED and returns
  if (im.receiver == grove::current()) return;  // from the handler: the loop ends when it returns
  if (!im.receiver.join(timeout)) im.receiver.kill();
}

Address DatagramServer::address() const { return impl_->bound; }

}  // namespace grove::net
