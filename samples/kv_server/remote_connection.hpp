// remote_connection.hpp: one client of kv_server accepted on a hub other than the
// store hub (--hubs N, N > 1). Its green thread reads, parses and writes; a green
// thread on the store hub (store_session.hpp) executes.
//
// Why one store hub and not a keyspace sharded by hub: redis's promises hold between
// any two keys (MSET / MGET / DEL of several keys are atomic, BLPOP waits on several
// keys at once and is served in blocking order, KEYS and DBSIZE see the whole
// keyspace), and shards would need cross-shard locking or two-phase hand-offs for
// each of them. With one hub executing everything in order, every command behaves
// exactly as with --hubs 1, and the other hubs still take the socket work (recv,
// parsing, send: most of a small request's cost). This is redis 6's I/O-threads shape.
//
// The loop: parse every complete request in the receive buffer into one Batch (their
// arguments copied), hand it to the store session (one cross-hub wake), wait for the
// replies (one wake back), send them in one send, receive more. So pipelined requests
// pay one round trip between hubs per read, not one per request. The batch is copied
// rather than lent: the receive buffer is refilled while a BLPOP waits, and the
// store side must never read memory of a connection that has closed.
//
// While a BLPOP of the batch waits, a watcher green thread reads the socket (what it
// reads stays buffered for after the pop); if the client hangs up it kills the
// session, which leaves the BLPOP without taking an element. A connection that closes
// with a batch in flight (server stop) closes the link and kills the session; the
// batch belongs to the session, so nothing dangles and nothing leaks.
#pragma once

#include <memory>
#include <string>

#include <grove/net/socket.hpp>
#include <grove/spawn_on.hpp>

#include "forward_link.hpp"
#include "input_buffer.hpp"
#include "resp_parser.hpp"
#include "server_state.hpp"

namespace kv {

class RemoteConnection {
 public:
  RemoteConnection(grove::net::Socket& sock, std::shared_ptr<ServerState> server);
  ~RemoteConnection();
  RemoteConnection(const RemoteConnection&) = delete;
  RemoteConnection& operator=(const RemoteConnection&) = delete;

  // Serves requests until the client hangs up, sends a malformed frame, or QUIT.
  void run();

 private:
  // Hands batch_ to the store session and sends every reply it produces. False:
  // close the connection (the client hung up, or the session is gone).
  bool forward();
  bool send(const std::string& bytes);

  grove::net::Socket& sock_;
  std::shared_ptr<ServerState> server_;
  std::shared_ptr<ForwardLink> link_;        // made with the session, at the first batch
  grove::RemoteGreenThread<void> session_;
  bool in_flight_ = false;  // a batch was handed over and its kDone part not received
  InputBuffer in_;
  RequestParser parser_;
  Batch batch_;
  std::string spare_;  // an empty reply buffer, back from the last batch
  bool closing_ = false;
};

}  // namespace kv
