// datagram_shard.hpp: one hub's share of a DatagramServer: its socket, its receiving
// green thread and (with a pool) the green threads handling datagrams.
//
// A server with options.hubs = 1 has one shard, on the hub that started it. With
// hubs = N > 1 (IP addresses only) it has N, one per hub (the server's own and N-1
// hub threads, see server_hubs.hpp), each with a socket of its own bound to the same
// address with SO_REUSEPORT (reuseport_group.hpp): the kernel spreads the datagrams
// among them by a hash of the sender's address and port, and each hub receives and
// answers its own. A shard is touched only on its hub.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <grove/duration.hpp>
#include <grove/green_thread.hpp>
#include <grove/net/datagram_server.hpp>

#include "fd_owner.hpp"
#include "server_hubs.hpp"

namespace grove::net::detail {

// What every shard of one server reads. Fixed before the first shard starts.
struct DatagramCommon {
  DatagramServer::Handler handler;
  DatagramServerOptions opts;
  Address bound;
};

// One hub's share of a DatagramServer (see the file comment).
struct DatagramShard final : HubPart, std::enable_shared_from_this<DatagramShard> {
  explicit DatagramShard(std::shared_ptr<const DatagramCommon> c) : common(std::move(c)), opts(common->opts) {}

  const std::shared_ptr<const DatagramCommon> common;
  const DatagramServerOptions& opts;
  // The handlers' Socket&: the object stays while the server does (closed at stop).
  Socket sock;
  FdOwner sock_fd;  // on a hub thread, until begin() adopts it there
  GreenThreadHandle receiver;
  std::list<GreenThreadHandle> handlers;  // with a pool: each datagram's green thread
  bool killing = false;  // a stop has killed the handlers: later ones only wait

  // Owned by a pooled handler's function object: takes the handler off `handlers`
  // when that object is destroyed, also when it is killed before it first runs.
  struct HandlerEntry {
    DatagramShard* sh;
    std::list<GreenThreadHandle>::iterator it;
    bool held = true;
    HandlerEntry(DatagramShard* s, std::list<GreenThreadHandle>::iterator t) : sh(s), it(t) {}
    HandlerEntry(HandlerEntry&& o) noexcept : sh(o.sh), it(o.it), held(std::exchange(o.held, false)) {}
    HandlerEntry(const HandlerEntry&) = delete;
    HandlerEntry& operator=(const HandlerEntry&) = delete;
    ~HandlerEntry() {
      if (held) sh->handlers.erase(it);
    }
  };

  void handle(std::string_view data, const Address& from);
  void spawn_handler(std::string data, const Address& from);
  void receive_loop();
  void spawn_receiver();
  // Closes the socket (the receiver wakes and ends), gives the handlers `timeout`,
  // kills the rest and waits up to the grace. Returns false at once, without
  // waiting, when called from the handler run by the receiver itself.
  bool stop_local(Duration timeout);

  // HubPart, on a hub thread: adopt the socket and receive; stop.
  void begin() override;
  void end(Duration timeout) override;
};

}  // namespace grove::net::detail
