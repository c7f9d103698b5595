// grove/net/prefork.hpp: a pre-forking server, as gunicorn's arbiter with gevent
// workers: one listening socket, N worker processes each serving it on a hub of its
// own, and a parent that supervises them.
//
//   grove::net::prefork("0.0.0.0:8000", [](grove::net::PreforkWorker& w) {
//     grove::net::StreamServer server(std::move(w.listener()), handler);
//     server.start();
//     w.wait_for_stop();          // parks until the parent asks this worker to stop
//     server.stop(5s);            // in-flight requests finish
//   }, {.workers = 4});
//
// The parent (the process that calls prefork() or PreforkSupervisor::run()) binds the
// listener (or is given one), then forks `workers` processes. Each one runs the worker
// function in the green thread that called run() (its stack), on that OS thread's hub:
// after the fork the hub goes on in the child with a loop of its own; the parent's
// other green threads never run there; the thread pool and the blocked-hub monitor
// start anew when first needed (core/src/fork.cpp).
//
// The parent supervises, in the green thread that called run() (other green threads
// of its hub keep running: it parks on a self-pipe fed by signal handlers):
//   - A worker that ends (returns: status 0; throws: status 1, logged; dies of any
//     signal, SIGKILL included) is replaced in its slot (same index()), and its end
//     is logged. So is one whose hub has stopped turning for heartbeat_timeout (a
//     green thread that never yields, or blocks its OS thread): its process lives
//     but serves nobody, so the parent SIGKILLs it (logged: which worker, how long
//     it was silent) and replaces it. Each worker's hub stamps a heartbeat in memory
//     shared with the parent (mmap'd before the first fork), from a timer every
//     heartbeat_timeout / 4, idle or not; a green thread that parks (a long
//     request waiting on I/O or grove::sleep) does not stop it.
//     One that dies less than 1 s after it started is restarted after a
//     back-off: 100 ms, doubling with each such death of that slot in a row, up to
//     restart_backoff_max; from the second in a row the log line is an error ("crash
//     loop"). One that lived longer is restarted at once.
//   - SIGTERM or SIGINT (or stop()): a graceful stop. Every worker gets SIGTERM (its
//     wait_for_stop() returns), the parent waits up to stop_timeout for them to exit,
//     SIGKILLs the rest, reaps them all, closes the listener and returns.
//   - SIGHUP (or restart()): a rolling restart, one slot at a time: a new worker is
//     forked for the slot; once it is ready (its first wait_for_stop() call, which a
//     worker makes once its server is started; or stop_timeout after its fork if it
//     never calls it) the old one is stopped as above (SIGTERM, SIGKILL after
//     stop_timeout); the next slot starts once the old worker has exited. A new
//     worker that dies before it is ready is restarted with the back-off while the old
//     one goes on serving. The listener stays open throughout, so connections made
//     meanwhile are accepted by one of the workers or wait in the listen backlog: none
//     is refused.
// The listener. By default every worker watches the one listening socket, so each
// connection wakes every idle worker and all but one go back to sleep (the thundering
// herd: with 2 workers, up to one more wake-up per connection, bench/README.md). It is
// not EPOLLEXCLUSIVE's to fix: a worker's listener sits in its hub's own epoll set,
// nested in libev's, where the kernel wakes every exclusive waiter anyway.
// PreforkOptions::reuse_port gives each worker slot a socket of its own in one
// SO_REUSEPORT group instead (one wake-up per connection; see its comment for what it
// costs). Either way connections made while a worker restarts wait in a listen queue
// and are not refused.
//
// Every child is reaped (waitpid of its pid: children the process has of its own are
// left alone); when run() returns, no worker is alive and the parent's listener is
// closed (a Unix socket file bound by the endpoint constructor is removed). If the
// green thread in run() is killed (or a grove::Timeout fires there), every worker is
// SIGKILLed and reaped before the exception goes on.
//
// Signals. While run() runs, the parent has handlers for SIGCHLD, SIGTERM, SIGINT and
// SIGHUP (sigaction, any OS thread may take them); the previous dispositions come back
// when it returns. Only one supervisor may run in a process at a time. In a worker the
// parent's handlers are undone before the worker function runs: SIGTERM and SIGINT ask
// it to stop (a handler writes a self-pipe that wait_for_stop() waits on; a Ctrl-C on
// the terminal reaches the workers too and stops them gracefully), SIGCHLD and SIGHUP
// are back to what they were before run(), and the signal mask is the caller's. A
// worker gets SIGKILL if the parent dies (PR_SET_PDEATHSIG, and a getppid() check
// right after the fork for a parent that died before that): with the parent gone,
// nothing would enforce a stop.
//
// How a worker process ends: after the worker function returns or throws, stdio is
// flushed and the process leaves with _exit(), never exit(): its atexit handlers and
// static destructors are the parent's copies (a static object that joins threads would
// wait forever for threads the child does not have; one that flushes a file would
// write the parent's data twice). The parent flushes stdio before each fork, so no
// buffered output is inherited and written twice.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/net/address.hpp>
#include <grove/net/socket.hpp>

namespace grove::net {

namespace detail {
struct PreforkWorkerAccess;
}

// Options for prefork() and PreforkSupervisor; `{}` gives the defaults.
struct PreforkOptions {
  // Worker processes; 0: one per online CPU. More than 1024 is a UsageError.
  std::size_t workers = 0;
  // How long a graceful stop (SIGTERM, stop(), and each old worker of a rolling
  // restart) waits for a worker to exit before it is SIGKILLed. Not negative.
  Duration stop_timeout = std::chrono::seconds(10);
  // The longest back-off before a worker that keeps dying at start (within 1 s) is
  // started again; the first is 100 ms, doubling. Not negative.
  Duration restart_backoff_max = std::chrono::seconds(10);
  // gunicorn's --timeout: a worker whose hub has not run its loop for this long (a
  // green thread that never yields: a CPU loop, or a blocking call on the OS thread)
  // serves nobody while its process lives; it is SIGKILLed (logged, with how long it
  // was silent) and replaced. Each worker's hub stamps a heartbeat in memory shared
  // with the parent every heartbeat_timeout / 4, from a timer; an idle worker beats
  // too, and so does one whose green threads park (a slow request waiting on I/O).
  // Silence counts from the fork: a start-up that blocks the hub longer is killed
  // too. Zero: off. Not negative.
  Duration heartbeat_timeout = std::chrono::seconds(30);
  // listen(2) backlog, when the supervisor binds the listener itself (endpoint), and
  // of each slot's socket with reuse_port.
  int backlog = 128;
  // A listening socket per worker slot instead of one shared by all (nginx's
  // `listen ... reuseport`): run() binds workers - 1 more sockets to the listener's
  // address with SO_REUSEPORT, the kernel spreads connections over them by a hash of
  // the addresses, and each worker watches only its slot's socket. One worker wakes per
  // connection; with one shared listener every idle worker wakes and all but one find
  // nothing to accept (the thundering herd; bench/README.md has the figures). The cost:
  // the hash ignores load, so a busy or stuck worker keeps getting its share; those
  // connections wait in its socket (the parent keeps every socket open) until it
  // accepts them or its replacement does (after a crash, a heartbeat_timeout, or the
  // restart back-off of a crash loop), where a shared listener would have let another
  // worker take them. None is reset by a worker's death. IP only: a Unix listener is a
  // UsageError; a listener passed in must have SO_REUSEPORT set before its bind (the
  // endpoint constructor sets it), or UsageError.
  bool reuse_port = false;
  // Prefix of log lines.
  std::string name = "prefork";
};

// What the worker function gets, in its worker process. Neither copyable nor movable.
class GROVE_API PreforkWorker {
 public:
  PreforkWorker(const PreforkWorker&) = delete;
  PreforkWorker& operator=(const PreforkWorker&) = delete;

  // The worker's slot, 0 to workers - 1; a replacement (restart, rolling restart) gets
  // the slot of the worker it replaces.
  std::size_t index() const noexcept { return index_; }
  // The listening socket, shared with the other workers (with reuse_port: this slot's
  // own, shared only with a replacement in a rolling restart); move it into a
  // StreamServer.
  Socket& listener() noexcept { return listener_; }
  // Parks the calling green thread (only it) until the parent asks this worker to stop
  // (SIGTERM or SIGINT to this process) or `timeout` passes (nullopt: no limit).
  // Returns true if a stop was asked, at once if it was asked already; false on
  // timeout. Any number of green threads may wait. GreenletExit / TimeoutError unwind
  // as from any parking call. The first call also tells the parent that this worker
  // is ready (serves): call it once the server is started.
  bool wait_for_stop(std::optional<Duration> timeout = std::nullopt);
  // True once the parent asked this worker to stop. Never parks.
  bool stop_requested() const noexcept;

 private:
  friend struct detail::PreforkWorkerAccess;
  PreforkWorker(std::size_t index, Socket listener, int stop_fd, int ready_fd) noexcept
      : index_(index), listener_(std::move(listener)), stop_fd_(stop_fd), ready_fd_(ready_fd) {}
  std::size_t index_;
  Socket listener_;
  int stop_fd_;   // the read end of this process's stop pipe
  int ready_fd_;  // the parent's pipe, until the first wait_for_stop() says "ready"
};

// The parent side (see the file comment). Neither copyable nor movable.
class GROVE_API PreforkSupervisor {
 public:
  // Runs in each worker process; its end ends the process (see the file comment).
  using Worker = std::function<void(PreforkWorker& worker)>;

  // Supervises workers serving `listener`, which must be a bound, listening stream
  // socket. UsageError (nothing forked) for a listener that is not listening, an
  // empty `worker`, workers > 1024, or a negative duration; std::system_error if the
  // self-pipe cannot be made. Does not park.
  PreforkSupervisor(Socket listener, Worker worker, PreforkOptions options = {});
  // Binds and listens on `endpoint` here (SO_REUSEADDR for IP; options.backlog),
  // read as StreamServer's endpoint constructor reads it ("127.0.0.1:8000",
  // ":8000", "localhost:8000", "unix:/run/app.sock"): a host name is looked up, so
  // this parks then. Errors of that constructor, of bind/listen (std::system_error,
  // e.g. EADDRINUSE), and the ones above.
  PreforkSupervisor(std::string_view endpoint, Worker worker, PreforkOptions options = {});
  // Closes the listener if run() never ran. Must not be destroyed while run() runs.
  ~PreforkSupervisor();
  PreforkSupervisor(const PreforkSupervisor&) = delete;
  PreforkSupervisor& operator=(const PreforkSupervisor&) = delete;

  // Forks the workers and supervises them until a graceful stop (SIGTERM, SIGINT or
  // stop()) has ended every one of them; then closes the listener and returns. Parks
  // the calling green thread (not the hub: UsageError). UsageError if called twice,
  // or while another supervisor runs in this process. A fork that fails (EAGAIN) is
  // logged and retried with the back-off.
  void run();
  // Asks run() for a graceful stop, as SIGTERM does; before run(), run() then returns
  // at once without forking. From any green thread or OS thread; never parks.
  void stop() noexcept;
  // Asks run() for a rolling restart, as SIGHUP does. Never parks.
  void restart() noexcept;
  // The listener's address (with the real port when it was bound to port 0).
  const Address& address() const noexcept;
  // The pids of the workers serving now (not those being stopped), in slot order; a
  // slot waiting for its restart has none, one in a rolling restart may have two (the
  // old worker and its replacement). From run()'s OS thread.
  std::vector<int> worker_pids() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// PreforkSupervisor(listener, worker, options).run().
GROVE_API void prefork(Socket listener, PreforkSupervisor::Worker worker, PreforkOptions options = {});
// PreforkSupervisor(endpoint, worker, options).run().
GROVE_API void prefork(std::string_view endpoint, PreforkSupervisor::Worker worker, PreforkOptions options = {});

}  // namespace grove::net
