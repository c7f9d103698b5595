// config.hpp: http_server's settings, fixed at start-up and shared (read-only) by
// every connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <grove/duration.hpp>

namespace http {

struct Config {
  // --root: an O_PATH descriptor of the directory served, and its canonical path
  // (used only where openat2(2) is missing). -1 / empty: no static files.
  int root_fd = -1;
  std::string root_real;

  // --idle-timeout-ms. A connection must deliver a complete request head within this
  // time of being accepted or of its previous request's end (this bounds both an idle
  // keep-alive connection and a client trickling its headers in, "slowloris"); while
  // a body is read or a response written, each read or write must make progress
  // within it. Past it the connection is closed without a response. Zero: no timeouts
  // (for measuring what they cost; a client that never sends then holds its connection).
  grove::Duration idle_timeout = std::chrono::seconds(30);

  // --max-body-bytes: a larger request body (by Content-Length or by what a chunked
  // body has delivered so far) gets 413 and the connection closes.
  std::uint64_t max_body_bytes = std::uint64_t{64} << 20;

  // A request target longer than this gets 414 (nginx's default buffer is 8 KiB too).
  static constexpr std::size_t kMaxRequestTarget = 8192;
  // Header lines (name, value and 4 bytes of ": " and CRLF each) beyond this many bytes,
  // or more than kMaxHeaders of them, get 431.
  static constexpr std::size_t kMaxHeaderBytes = 32768;
  static constexpr std::size_t kMaxHeaders = 100;
};

}  // namespace http
