// fault_spec.hpp: what a fault path of the test proxy (fault_proxy.hpp) does to each
// connection, and the spec strings that say it.
//
// A spec is a comma-separated list of key=value (or a bare flag); "" or "clean" is a
// path that only relays. "up" is the client-to-server direction, "down" the other.
// A direction key without a prefix applies to both directions; "up." or "down."
// limits it to one. Byte counts count the bytes the proxy has *written* in that
// direction (for noread: *read*), from the start of the connection.
//
//   latency=MS        each chunk is written MS ms after it was read (a one-way delay)
//   jitter=MS         plus a delay drawn uniformly from [-MS, +MS] per chunk (never
//                     below zero; chunks stay in order, a chunk is never written
//                     before the one read before it), from a generator seeded with
//                     seed, the path and the connection's number: deterministic
//   rate=B            at most B bytes a second (pieces of at most B/100 bytes, spaced
//                     so that the average is B; no burst)
//   split=N           written in pieces of at most N bytes, each its own send(2)
//                     (TCP_NODELAY is on: each a segment) after a poll of the
//                     proxy's loop, so a reader can read each on its own; with
//                     rate, spaced out
//   stall=N:MS        after writing N bytes, write nothing for MS ms
//   reset=N           after writing N bytes, reset the connection: both sockets are
//                     closed with SO_LINGER {1, 0}, so client and server get a RST
//   halfclose=N       after writing N bytes, shutdown(SHUT_WR) toward that peer (it
//                     reads end of file); what comes after is read and dropped
//   noread=N          after reading N bytes from that peer, stop reading it (its
//                     writes fill the socket buffers, then block); the connection
//                     ends when the other peer closes or shuts down its writing,
//                     and the stopped peer then gets a RST (its bytes unread)
//   rcvbuf=B          SO_RCVBUF of the proxy's sockets (both sides), so that a
//                     stopped reader fills quickly (no prefix: one setting)
//   blackhole         connect to the server, then relay nothing either way: both
//                     peers see a connection that never answers (what they send is
//                     read and dropped); it ends when the client closes (no prefix)
//   seed=N            the jitter generator's seed (default 1; no prefix)
//
// parse_fault_spec() throws std::invalid_argument naming the key and the spec for an
// unknown key, a missing or malformed number, a prefix on a key that takes none, or
// blackhole with any other fault.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace faults {

// The faults of one direction of a connection.
struct DirectionFaults {
  std::uint64_t latency_ms = 0;
  std::uint64_t jitter_ms = 0;
  std::uint64_t rate = 0;   // bytes a second; 0: no limit
  std::uint64_t split = 0;  // largest piece; 0: whole chunks
  std::optional<std::uint64_t> stall_after;
  std::uint64_t stall_ms = 0;
  std::optional<std::uint64_t> reset_after;
  std::optional<std::uint64_t> halfclose_after;
  std::optional<std::uint64_t> noread_after;

  bool operator==(const DirectionFaults&) const = default;
};

struct FaultSpec {
  DirectionFaults up;    // client -> server
  DirectionFaults down;  // server -> client
  bool blackhole = false;
  int rcvbuf = 0;  // 0: the kernel's default
  std::uint64_t seed = 1;
  std::string text;  // as given (for the log)

  bool operator==(const FaultSpec&) const = default;
};

// Reads a spec string (see the top of this file). std::invalid_argument on bad input.
FaultSpec parse_fault_spec(std::string_view text);

// The per-chunk delays of one direction: latency plus jitter from a splitmix64
// generator (the same sequence on every platform for the same seed, path,
// connection number and direction).
class DelaySource {
 public:
  DelaySource(const DirectionFaults& f, std::uint64_t seed, std::uint64_t path, std::uint64_t conn, int direction);
  // The next chunk's delay in milliseconds (latency +- jitter, at least 0).
  std::int64_t next_ms();

 private:
  std::uint64_t next_u64();
  std::int64_t latency_;
  std::int64_t jitter_;
  std::uint64_t state_;
};

}  // namespace faults
