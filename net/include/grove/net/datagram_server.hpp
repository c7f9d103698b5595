// grove/net/datagram_server.hpp: a UDP (or Unix datagram) server, like gevent's
// DatagramServer.
//
//   grove::net::DatagramServer server(grove::net::Address::parse("127.0.0.1:9000"),
//       [](grove::net::Socket& sock, std::string_view data, const grove::net::Address& from) {
//         sock.sendto(data.data(), data.size(), from);
//       });
//   server.start();
//
// One green thread receives datagrams and calls the handler for each, in that green
// thread: datagrams are handled in order, and a handler that parks delays the next
// one. With options.pool set, each datagram is handled in a green thread of its own
// in that Pool (gevent's DatagramServer(spawn=pool)), and the receiver waits while
// the pool is full (datagrams wait in the socket's receive buffer). An exception
// escaping the handler is logged and the next datagram is handled.
//
// The Socket& given to the handler belongs to the server: it stays valid while the
// server object exists (stop() closes it; sending then fails with a clear error).
// A green thread the handler spawns by itself must end before the server is
// destroyed; use options.pool instead, whose handlers stop() waits for or kills.
//
// Every core (options.hubs = N > 1, IP addresses only): start() also starts N-1 hub
// threads (grove::HubThread) owned by the server, and binds N sockets to the address
// with SO_REUSEPORT (set automatically; with port 0 the first bind picks the port and
// the others bind the same one), one per hub, each with its own receiving green
// thread. The kernel spreads the datagrams among them by a hash of the sender's
// address and port: datagrams from one sender all go to one hub, in order. The
// handler then runs on N OS threads at once, each call with its own hub's socket: what
// handlers share must be synchronized (std::mutex, std::atomic, grove/mt/*.hpp).
// stop() stops every hub's receiver and handlers in parallel and joins the hub
// threads. A Unix datagram path with hubs > 1 is a UsageError at construction: one
// socket cannot be split between hubs.
//
// A DatagramServer belongs to the OS thread that first calls start(),
// serve_forever() or stop(): those calls from another OS thread are a UsageError (to
// stop it from a handler on another hub, post the call to the server's hub with
// HubRef::post). address() may also be called by the handlers, on any hub.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/pool.hpp>
#include <grove/net/address.hpp>
#include <grove/net/socket.hpp>

namespace grove::net {

// Options for DatagramServer; `{}` gives the defaults.
struct DatagramServerOptions {
  // SO_REUSEADDR (IP addresses).
  bool reuse_address = true;
  // SO_REUSEPORT, for several servers on one port (set anyway with hubs > 1: one
  // socket per hub).
  bool reuse_port = false;
  // Receive buffer in bytes; longer datagrams are truncated.
  std::size_t max_datagram = 65536;
  // Handle each datagram in a green thread of its own, a member of this Pool (which
  // may be shared with other work); nullptr: in the receiving green thread, in order.
  // Only with hubs = 1: a Pool belongs to one hub (UsageError at construction).
  std::shared_ptr<Pool> pool;
  // Hubs receiving, each on its own OS thread: the caller's and hubs - 1 hub threads
  // the server starts at start() and joins at stop() (see the file comment). 0, or
  // more than 1 on a Unix datagram path, is a UsageError at construction. 1 (the
  // default) starts no thread and costs nothing.
  std::size_t hubs = 1;
  // Prefix of the green threads' names and of log lines.
  std::string name = "DatagramServer";
  // How long stop() waits, after its timeout, for the handlers it killed to die; one
  // still unwinding after it (a clean-up that parks with no timeout of its own) is
  // left running, detached, with a warning (as StreamServerOptions::stop_grace).
  Duration stop_grace = std::chrono::seconds(1);
};

// A UDP or Unix datagram server: one green thread receives datagrams and calls the
// handler for each (see the comment at the top of grove/net/datagram_server.hpp).
// Neither copyable nor movable.
class GROVE_API DatagramServer {
 public:
  // Called for each datagram (in the receiving green thread, or with a pool in a
  // green thread of its own), with the server's socket (reply with sendto), the data
  // (valid only during the call) and the sender. It may park; an exception escaping
  // it is logged.
  using Handler = std::function<void(Socket& socket, std::string_view data, const Address& from)>;

  // Binds `address` at start(). Does not park.
  DatagramServer(const Address& address, Handler handler, DatagramServerOptions options = {});
  // Binds `endpoint` at start(), given as a string as for StreamServer: what
  // Address::parse reads, "localhost:9000" (a name: looked up here, so this parks
  // then; the first IPv4 address, else the first), or ":9000" (0.0.0.0). A malformed
  // string is std::invalid_argument quoting it; a name that does not resolve,
  // std::system_error quoting the name.
  DatagramServer(std::string_view endpoint, Handler handler, DatagramServerOptions options = {});
  // stop(0s) if still running (and joins the hub threads).
  ~DatagramServer();
  DatagramServer(const DatagramServer&) = delete;
  DatagramServer& operator=(const DatagramServer&) = delete;

  // Binds and spawns the receiving green thread (with hubs > 1: binds a socket per
  // hub and starts the hub threads, each with its receiver). Does not park (but
  // blocks while each hub thread creates its hub). std::system_error if bind fails or
  // a hub thread cannot start (nothing of the server is left then); UsageError if
  // already started.
  void start();
  // start() unless started, then parks until stop() has finished. Errors of
  // start(); GreenletExit / TimeoutError if the caller is interrupted (the server
  // keeps running).
  void serve_forever();
  // Closes the socket (the receiver wakes and ends; handlers running now are given
  // `timeout` to return, then killed, and waited for up to options.stop_grace: it
  // returns within timeout + stop_grace, leaving a handler whose clean-up still
  // parks running, detached, with a warning). Parks. Idempotent. From the handler it
  // does not wait: the receiver ends when the handler returns. With hubs > 1 every
  // hub does this at the same time, then the hub threads are joined (still within
  // about timeout + stop_grace; from a handler they are joined by a later stop() or
  // the destructor); afterwards no fd, green thread or OS thread of the server is
  // left. If the caller is interrupted meanwhile (GreenletExit / TimeoutError), the
  // socket is closed but the handler may still run; serve_forever() returns either
  // way. UsageError from another OS thread than the server's.
  void stop(Duration timeout = std::chrono::seconds(1));
  // The bound address (real port when bound to port 0). Empty before start().
  Address address() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace grove::net
