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
  // SO_REUSEPORT, for several servers on one port.
  bool reuse_port = false;
  // Receive buffer in bytes; longer datagrams are truncated.
  std::size_t max_datagram = 65536;
  // Handle each datagram in a green thread of its own, a member of this Pool (which
  // may be shared with other work); nullptr: in the receiving green thread, in order.
  std::shared_ptr<Pool> pool;
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
  // stop() if still running.
  ~DatagramServer();
  DatagramServer(const DatagramServer&) = delete;
  DatagramServer& operator=(const DatagramServer&) = delete;

  // Binds and spawns the receiving green thread. Does not park. std::system_error
  // if bind fails; UsageError if already started.
  void start();
  // start() unless started, then parks until stop() has finished. Errors of
  // start(); GreenletExit / TimeoutError if the caller is interrupted (the server
  // keeps running).
  void serve_forever();
  // Closes the socket (the receiver wakes and ends; handlers running now are given
  // `timeout` to return, then killed, and waited for up to options.stop_grace: it
  // returns within timeout + stop_grace, leaving a handler whose clean-up still
  // parks running, detached, with a warning). Parks. Idempotent. From the handler it
  // does not wait: the receiver ends when the handler returns. If the caller is
  // interrupted meanwhile (GreenletExit / TimeoutError), the socket is closed but the
  // handler may still run; serve_forever() returns either way.
  void stop(Duration timeout = std::chrono::seconds(1));
  // The bound address (real port when bound to port 0). Empty before start().
  Address address() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace grove::net
