// buffered_line_test.cpp: BufferedStream::read_line_stripped (a line without its
// terminator, std::nullopt at end of file) and telling end of file from an error.
#include <optional>
#include <string>

#include <grove/net/buffered_stream.hpp>

#include "net_test.hpp"

using namespace net_test;
using grove::net::BufferedStream;

GROVE_TEST("read_line_stripped drops \"\\n\" and \"\\r\\n\", keeps empty lines, then gives nullopt at EOF") {
  auto [a, b] = Socket::pair();
  a.sendall("one\r\ntwo\n\nthree\r\n\r\nlast");
  a.close();
  BufferedStream io(b, 64);
  CHECK(io.read_line_stripped(100) == "one");
  CHECK(io.read_line_stripped(100) == "two");
  CHECK(io.read_line_stripped(100) == "");  // an empty line is not end of file
  CHECK(io.read_line_stripped(100) == "three");
  CHECK(io.read_line_stripped(100) == "");
  CHECK(io.read_line_stripped(100) == "last");  // end of file ends the last line
  CHECK(io.read_line_stripped(100) == std::nullopt);
  CHECK(io.read_line_stripped(100) == std::nullopt);
}

GROVE_TEST("read_line_stripped strips only a \"\\r\" right before the \"\\n\"") {
  auto [a, b] = Socket::pair();
  a.sendall("a\rb\n\r\r\nend\r");
  a.close();
  BufferedStream io(b, 64);
  CHECK(io.read_line_stripped(100) == "a\rb");
  CHECK(io.read_line_stripped(100) == "\r");
  CHECK(io.read_line_stripped(100) == "end");  // as Go's ScanLines: a final "\r" goes too
  CHECK(io.read_line_stripped(100) == std::nullopt);
}

GROVE_TEST("read_line_stripped finds a \"\\r\\n\" split across recvs") {
  auto [a, b] = Socket::pair();
  BufferedStream io(b, 64);
  auto g = grove::spawn([&] { return io.read_line_stripped(100); });
  a.sendall("split\r");
  grove::sleep(5ms);
  a.sendall("\nnext\n");
  CHECK(g.get() == "split");
  CHECK(io.read_line_stripped(100) == "next");
}

GROVE_TEST("read_line_stripped's maximum counts the line without its terminator") {
  auto [a, b] = Socket::pair();
  a.sendall("12345\r\n12345\n123456\n");
  BufferedStream io(b, 64);
  CHECK(io.read_line_stripped(5) == "12345");
  CHECK(io.read_line_stripped(5) == "12345");
  std::error_code ec;
  CHECK(io.read_line_stripped(5, ec) == std::nullopt);
  CHECK(ec == std::errc::message_size);
  // Nothing was taken: the long line can still be read some other way.
  CHECK(io.read_line(100) == "123456\n");
  // A line of exactly the maximum, its "\r\n" split across recvs, is not too long.
  auto g = grove::spawn([&] { return io.read_line_stripped(5); });
  a.sendall("12345\r");
  grove::sleep(5ms);
  a.sendall("\n");
  CHECK(g.get() == "12345");
}

GROVE_TEST("a line longer than the maximum is an error, not a piece that looks like a line") {
  auto [a, b] = Socket::pair();
  a.sendall(std::string(300, 'x'));  // no newline yet: too long as soon as it is over the maximum
  BufferedStream io(b, 64);
  std::error_code ec;
  CHECK(io.read_line_stripped(100, ec) == std::nullopt);
  CHECK(ec == std::errc::message_size);
  CHECK(io.buffered() >= 101);
  CHECK(io.buffered() < 100 + 2 * 64);  // it read no further than it needed to
  try {
    (void)io.read_line_stripped(100);
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::message_size);
    CHECK(std::string(e.what()).find("longer than 100 bytes") != std::string::npos);
  }
  // The same at end of file: the unterminated rest is too long as well.
  auto [c, d] = Socket::pair();
  c.sendall("0123456789");
  c.close();
  BufferedStream io2(d, 64);
  CHECK(io2.read_line_stripped(9, ec) == std::nullopt);
  CHECK(ec == std::errc::message_size);
  CHECK(io2.read_line_stripped(10) == "0123456789");
  CHECK(io2.read_line_stripped(10) == std::nullopt);
}

GROVE_TEST("read_line_stripped tells end of file from an error, and keeps the partial line") {
  auto [a, b] = Socket::pair();
  a.sendall("partial");
  b.settimeout(20ms);
  BufferedStream io(b, 64);
  std::error_code ec;
  CHECK(io.read_line_stripped(100, ec) == std::nullopt);
  CHECK(ec == std::errc::timed_out);
  CHECK(io.buffered() == 7);
  try {
    (void)io.read_line_stripped(100);
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::timed_out);
    CHECK(std::string(e.what()).find("read_line_stripped") != std::string::npos);
  }
  a.sendall(" line\r\n");
  CHECK(io.read_line_stripped(100, ec) == "partial line");
  CHECK_FALSE(ec);
  a.close();
  CHECK(io.read_line_stripped(100, ec) == std::nullopt);
  CHECK_FALSE(ec);  // end of file: no line and no error
}

GROVE_TEST("with read_line's error_code form, \"\" is end of file only when ec is clear") {
  // The pattern docs/guide.md shows: check ec first, then the empty string.
  auto [a, b] = Socket::pair();
  b.settimeout(20ms);
  BufferedStream io(b, 64);
  std::error_code ec;
  std::string line = io.read_line(100, ec);
  CHECK(line.empty());
  CHECK(ec == std::errc::timed_out);  // "" here is an error, not end of file
  a.close();
  line = io.read_line(100, ec);
  CHECK(line.empty());
  CHECK_FALSE(ec);  // end of file
}
