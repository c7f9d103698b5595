// fault_proxy.hpp: a TCP proxy that injects network faults, for tests (Debian 12's
// kernel has no netem). Each path is a listener on a port of its own with a
// FaultSpec (fault_spec.hpp): a client picks its faults by the port it connects to,
// and every connection accepted there is relayed to the target with them.
//
//   faults::FaultProxy proxy(grove::net::Address::parse("127.0.0.1:8080"),
//                            {faults::parse_fault_spec("clean"),
//                             faults::parse_fault_spec("latency=20,down.reset=1000")},
//                            [](const faults::ProxyEvent& e) { log(faults::format_event(e)); });
//   proxy.start();
//   proxy.address(1);   // where a client gets the latency and the reset
//
// Per connection: one green thread runs it (a StreamServer handler), plus a reader
// and a writer per direction joined by a bounded queue of chunks (so a stopped
// writer stops the reader: backpressure reaches the sender). The reader stamps each
// chunk with the time it is due (latency and jitter); the writer waits for it and
// writes it in pieces (split, rate), acting on the byte thresholds (stall, reset,
// half-close). A plain relay propagates end of file as shutdown(SHUT_WR), and a
// reset or a failed write as a reset of the other side (SO_LINGER {1, 0}); the
// connection ends when both directions have delivered end of file, when it is reset,
// or when the direction that still runs ends while the other has stopped reading.
// Both sockets are closed then, and every green thread of the connection is dead.
//
// What happens is reported to the event sink, one ProxyEvent each, timed on
// CLOCK_MONOTONIC (steady_clock: the clock of python3's time.monotonic()), so a test
// in another process can time a server's timeout from the proxy's view of it:
//   accept                                 a client came
//   connected H:P, connect-failed MSG      the server accepted (H:P: the proxy's end of
//                                          that connection) or not (the client is reset)
//   eof up|down                            end of file read from the client / server
//   eof-sent up|down                       ... and passed on (shutdown(SHUT_WR))
//   recv-error / send-error up|down MSG    a peer reset (or another error): the
//                                          connection is reset
//   stall up|down, stall-end up|down       stall=N:MS
//   reset up|down                          reset=N
//   halfclose up|down                      halfclose=N
//   stop-reading up|down                   noread=N
//   peer-gone up|down                      ... and the other peer left
//   closed up=N down=N [reset]             bytes written each way
// For one OS thread's hub (the caller's); neither copyable nor movable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grove/duration.hpp>
#include <grove/net/address.hpp>

#include "fault_spec.hpp"

namespace faults {

struct ProxyEvent {
  double t_ms = 0;         // CLOCK_MONOTONIC, milliseconds
  std::size_t path = 0;    // index of the path (its spec)
  std::uint64_t conn = 0;  // the connection's number on that path, from 1
  std::string what;        // "eof down", "closed up=12 down=300", ...
};

// "event t=123.456 path=1 conn=2 eof down": one line (no newline) for logs and tests.
std::string format_event(const ProxyEvent& e);

class FaultProxy {
 public:
  using EventSink = std::function<void(const ProxyEvent&)>;

  // Relays to `target`, one listener per spec on `host` (port 0) once started.
  FaultProxy(grove::net::Address target, std::vector<FaultSpec> paths, EventSink sink,
             std::string host = "127.0.0.1");
  // stop(0s) if still running.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // Binds and listens for every path. Does not park. std::system_error if one fails
  // (nothing is left listening then).
  void start();
  // Where path `i` listens (after start()).
  grove::net::Address address(std::size_t i) const;
  std::size_t paths() const;
  // Connections being relayed now, on every path.
  std::size_t connection_count() const;
  // Stops accepting, gives open connections `timeout` to end, then kills them (their
  // sockets close). Parks.
  void stop(grove::Duration timeout = std::chrono::seconds(1));

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace faults
