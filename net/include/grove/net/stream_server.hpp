// grove/net/stream_server.hpp: a TCP (or Unix stream) server with one green thread
// per connection, like gevent's StreamServer.
//
//   grove::net::StreamServer server(grove::net::Address::parse("127.0.0.1:7000"),
//       [](grove::net::Socket& sock, const grove::net::Address& peer) {
//         char buf[4096];
//         while (std::size_t n = sock.recv_into(buf, sizeof buf)) sock.sendall(buf, n);
//       });
//   server.serve_forever();     // until server.stop() from another green thread
//
// The handler runs in a green thread of its own for each accepted connection; the
// socket is closed when the handler returns, throws or is killed. An exception that
// escapes a handler is logged (grove::logger(), error level) and closes that
// connection only. Running out of fds at accept (EMFILE, ENFILE, ENOBUFS, ENOMEM) is
// logged once, then the acceptor backs off (5 ms doubling to 500 ms) and retries:
// the connections it has keep being served and no CPU is burnt; accepting resumes
// (and is logged) once fds are free. Other accept errors back off the same way; one
// that says the listener cannot accept at all (EBADF, ENOTSOCK, EINVAL, EOPNOTSUPP)
// is logged and ends accepting (the handlers keep running until stop()).
//
// It may also be given the address as a string, with a host name as Go's
// net.Listen("tcp", "localhost:7000") and gevent's StreamServer(("localhost", 7000)):
//
//   grove::net::StreamServer server("localhost:7000", handler);   // resolved here
//
// Every core (options.hubs = N > 1): start() also starts N-1 hub threads
// (grove::HubThread) owned by the server, and the caller's hub and those N-1 serve.
//
//   grove::net::StreamServerOptions o;
//   o.hubs = 4;
//   grove::net::StreamServer server("127.0.0.1:7000", handler, o);
//
// Green threads never migrate: each connection's green thread runs on one hub for its
// whole life, but the handler runs on N OS threads at once, so what handlers share
// (a map, a counter, a log file) must be synchronized (std::mutex, std::atomic, or
// grove/mt/*.hpp to park only the green thread); what a handler makes for itself
// needs nothing. Hub-bound objects (grove::Event, grove::Queue, a Pool, a Socket)
// made on one hub cannot be used by handlers on the others.
//   - An IP address the server binds itself: N listeners bound to it with
//     SO_REUSEPORT (set automatically), one per hub; the kernel spreads new
//     connections among them (by a hash of the client's address and port), and each
//     hub accepts and serves its own. With port 0 the first bind picks the port and
//     the others bind the same one: address() gives it.
//   - A Unix socket path, or a listener passed in (one socket, which SO_REUSEPORT
//     cannot split): the caller's hub accepts for all and hands the accepted
//     connections to the N hubs in turn (round-robin, itself included) through each
//     hub's inbox (HubRef::post's way); the hub wraps the fd in a Socket there and
//     serves it. A connection handed to a hub that is stopping or has exited is
//     closed, never leaked.
// stop() stops every hub's part in parallel and joins the hub threads (see stop()).
//
// A StreamServer belongs to the OS thread that first calls start(), serve_forever()
// or stop() (the server's hub): those calls from any other OS thread are a
// UsageError. To stop it from a handler on another hub, post the call to the
// server's hub: `server_hub.post([&] { server.stop(); })` with server_hub =
// grove::this_hub() taken where it was started. connection_count() and address() may
// also be called by the handlers, on any hub. Neither copyable nor movable.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/pool.hpp>
#include <grove/net/address.hpp>
#include <grove/net/socket.hpp>

namespace grove::net {

// Options for StreamServer; `{}` gives the defaults.
struct StreamServerOptions {
  // listen(2) backlog (when the server binds the listener itself).
  int backlog = 128;
  // SO_REUSEADDR (IP listeners the server binds itself).
  bool reuse_address = true;
  // SO_REUSEPORT, for several listeners on one port (set anyway with hubs > 1 on an
  // IP address: one listener per hub).
  bool reuse_port = false;
  // Cap on concurrent handlers; 0: no cap. At the cap the acceptor stops accepting
  // (the kernel's backlog queues the rest) until a handler ends. With hubs = N > 1
  // the cap is shared out: each hub serves at most ceil(max_connections / N) at once
  // (so at most N * that in all). With one listener per hub, a hub at its share stops
  // accepting while the others go on; with the hand-off (a Unix path, a listener
  // passed in) the acceptor skips the hubs at their share and stops accepting while
  // every hub is at it.
  std::size_t max_connections = 0;
  // Run the handlers as members of this Pool (gevent's StreamServer(spawn=pool)):
  // while it is full the acceptor stops accepting. The pool may be shared with other
  // work and with other servers; max_connections, if also set, applies as well.
  // Only with hubs = 1: a Pool belongs to one hub (UsageError at construction).
  std::shared_ptr<Pool> pool;
  // Hubs serving, each on its own OS thread: the caller's and hubs - 1 hub threads
  // the server starts at start() and joins at stop() (see the file comment). 0 is a
  // UsageError at construction. 1 (the default) starts no thread and costs nothing.
  std::size_t hubs = 1;
  // Accepts in a row before the acceptor yields to let the new handlers run.
  int max_accepts_per_turn = 64;
  // How long stop() waits, after its timeout, for the handlers it killed to die (as
  // gevent's stop() waits 1 s after its kill). A kill is not raised while a handler
  // unwinds, so one whose clean-up parks with no timeout of its own (a plain recv in a
  // destructor) can outlive it: stop() then returns anyway, leaving it running,
  // detached, with a warning naming how many; it keeps the server's state alive and
  // ends on its own (its connection closes then). A Timeout made in the clean-up
  // (with_timeout(50ms, ...)) does fire there, so a timed goodbye never needs this.
  Duration stop_grace = std::chrono::seconds(1);
  // Prefix of log lines, and the name of each connection's green thread (the
  // acceptor's is "NAME acceptor ADDRESS"). Up to 15 characters it is stored in the
  // green thread's own stack; a longer one costs each connection a heap block.
  std::string name = "StreamServer";
};

// A TCP or Unix stream server with one green thread per connection (see the file
// comment). Neither copyable nor movable.
class GROVE_API StreamServer {
 public:
  // Called in the connection's own green thread. It may park, throw, or be killed.
  using Handler = std::function<void(Socket& socket, const Address& peer)>;

  // Binds and listens on `address` at start(). Does not park.
  StreamServer(const Address& address, Handler handler, StreamServerOptions options = {});
  // Binds and listens on `endpoint` at start(): what Address::parse reads
  // ("127.0.0.1:7000", "[::1]:7000", "unix:/tmp/app.sock"), a host name and a port
  // ("localhost:7000"), or ":7000" (every IPv4 interface, 0.0.0.0, as gevent's
  // ('', 7000); "[::]:7000" for IPv6). A name is looked up here with
  // grove::net::resolve, so this constructor parks then (only then); of several
  // addresses the server will bind the first IPv4 one, else the first (Go's rule for
  // net.Listen). A malformed string (no port, ...) is std::invalid_argument quoting
  // it; a name that does not resolve, std::system_error quoting the name; a kill or
  // Timeout during the lookup, GreenletExit / TimeoutError.
  StreamServer(std::string_view endpoint, Handler handler, StreamServerOptions options = {});
  // Serves on `listener`, already bound and listening (start() checks: UsageError
  // otherwise). Does not park.
  StreamServer(Socket listener, Handler handler, StreamServerOptions options = {});
  // stop(0s) if still running: kills the handlers (parks until they are dead, at
  // most options.stop_grace) and joins the hub threads.
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  // Binds and listens (if needed) and spawns the acceptor green thread; with hubs > 1
  // also starts the hub threads, each with its acceptor or ready for connections
  // handed to it. Does not park (but blocks while each hub thread creates its hub).
  // Throws std::system_error if bind/listen fail (e.g. EADDRINUSE; for a Unix socket
  // path that exists, the message says whether a server listens on it or it is a file
  // left over) or a hub thread cannot start; UsageError if already started. On an
  // error nothing of the server is left: no listener it bound, no hub thread (a
  // listener passed in stays with the server).
  void start();
  // start() unless started, then parks until stop() has finished (called by another
  // green thread, for example one waiting for a signal). Errors of start();
  // GreenletExit / TimeoutError if the caller is interrupted (the server keeps
  // running).
  void serve_forever();
  // Stops accepting (closes the listeners; a Unix socket file the server made is
  // removed), lets running handlers finish for up to `timeout`, then kills the rest
  // and waits up to options.stop_grace for them to die; so it returns within
  // timeout + stop_grace, whatever the handlers do. With hubs > 1 every hub does this
  // for its own handlers at the same time, then the hub threads are joined: it still
  // returns within about timeout + stop_grace. Afterwards no fd of this server is open
  // and no green thread or OS thread of it is left, except handlers still unwinding
  // after the grace (a clean-up that parks with no timeout): they are left running,
  // detached, and logged (see StreamServerOptions::stop_grace); on a hub thread they
  // are abandoned when it exits. Parks. A second call (another green thread's, the
  // destructor's) while the first still waits does the same with its own timeout,
  // without killing again. A handler on the server's hub may call it: every other
  // handler is stopped, and the caller's own connection closes when it returns. If
  // the caller is interrupted meanwhile (GreenletExit / TimeoutError), the listeners
  // are closed but handlers not killed yet keep running (a later stop() or the
  // destructor finishes the work). UsageError from another OS thread than the server's.
  void stop(Duration timeout = std::chrono::seconds(1));

  // True once start() succeeded (it stays true after stop()).
  bool started() const noexcept;
  // The listening address (with the real port when it was bound to port 0). Empty
  // before start().
  Address address() const;
  // Handlers running now, on every hub (a sum of relaxed atomic counters: from another
  // thread than the server's, an answer that may be a moment old).
  std::size_t connection_count() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace grove::net
