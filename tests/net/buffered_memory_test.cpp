// buffered_memory_test.cpp: BufferedStream over a stream of the caller's (any type with
// Socket's recv_into / sendall error_code calls), here bytes in memory handed out a
// few at a time, as tests/fuzz/buffered_stream_fuzz.cpp drives it.
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

#include <grove/net/buffered_stream.hpp>

#include "net_test.hpp"

using grove::net::BufferedStream;

namespace {

// Hands out `data` in reads of at most `step` bytes; keeps what is sent.
struct MemoryStream {
  std::string_view data;
  std::size_t step;
  std::size_t pos = 0;
  int recvs = 0;
  std::string sent;
  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec) {
    ec.clear();
    ++recvs;
    const std::size_t n = std::min({len, step, data.size() - pos});
    std::memcpy(buf, data.data() + pos, n);
    pos += n;
    return n;
  }
  std::size_t sendall(const void* p, std::size_t len, std::error_code& ec) {
    ec.clear();
    sent.append(static_cast<const char*>(p), len);
    return len;
  }
};

}  // namespace

GROVE_TEST("a BufferedStream over a stream of the caller's reads lines cut anywhere and writes through it") {
  MemoryStream m{"one\r\ntwo\nthree-is-long\nlast\r", 3};
  BufferedStream io(m, 64);
  CHECK(io.read_line_stripped(10) == "one");
  CHECK(io.read_line(100) == "two\n");
  CHECK(io.read_until("-", 100) == "three-");
  CHECK(io.read_line(4) == "is-l");  // the limit: a piece without its newline
  CHECK(io.read_exactly(4) == "ong\n");
  CHECK(io.read_line_stripped(10) == "last");  // end of file ends the line; "\r" dropped
  CHECK(io.read_line_stripped(10) == std::nullopt);
  CHECK(m.pos == m.data.size());
  io.write("reply");
  CHECK(m.sent.empty());  // held until flush() (or a full chunk)
  io.flush();
  CHECK(m.sent == "reply");
}

GROVE_TEST("a line over read_line_stripped's limit is message_size and stays buffered") {
  MemoryStream m{"abcdef\r\nxy\n", 2};
  BufferedStream io(m, 64);
  std::error_code ec;
  CHECK(io.read_line_stripped(5, ec) == std::nullopt);
  CHECK(ec == std::errc::message_size);
  CHECK(io.read_line(3) == "abc");  // nothing was taken
  CHECK(io.read_line_stripped(5) == "def");
  CHECK(io.read_line_stripped(5) == "xy");
}
