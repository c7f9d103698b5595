// buffered_pipe_test.cpp: BufferedStream over a PipeStream: a plain pipe pair, and a
// child process's stdin and stdout (`cat`). Built into net_process_test, whose cases
// check that no child is left behind.
#include <string>

#include <grove/net/buffered_stream.hpp>
#include <grove/net/pipe_stream.hpp>
#include <grove/net/process.hpp>

#include "net_test.hpp"

using namespace net_test;
using grove::net::BufferedStream;
using grove::net::PipeStream;
using grove::net::Process;
using grove::net::ProcessOptions;
using grove::net::Stdio;

namespace {
std::string binary_block(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + i / 251) & 0xff);
  return s;
}
}  // namespace

GROVE_TEST("BufferedStream over a pipe pair: lines, read_exactly and end of file") {
  auto [r, w] = PipeStream::pipe();
  r.settimeout(10s);
  w.settimeout(10s);
  const std::string block = binary_block(100000);  // more than a pipe holds: the writer parks
  auto writer = grove::spawn([&, &w = w] {
    BufferedStream out(w, 64);
    out.write("first\r\n");
    out.write("second\n");
    out.flush();
    out.write(std::to_string(block.size()) + "\n");
    out.write(block);  // well over `chunk`: write() sends it itself
    CHECK(out.pending_write() == 0);
    out.write("tail without newline");
    CHECK(out.pending_write() > 0);
    out.flush();
    CHECK(out.pending_write() == 0);
    w.close();
  });
  BufferedStream in(r, 64);
  CHECK(in.read_line_stripped(100) == "first");
  CHECK(in.read_line(100) == "second\n");
  const std::size_t n = std::stoul(in.read_line(100));
  CHECK(in.read_exactly(n) == block);
  CHECK(in.read_line(100) == "tail without newline");
  CHECK(in.read_line(100) == "");  // end of file: every writer closed its end
  CHECK(in.read_line_stripped(100) == std::nullopt);
  writer.join();
}

GROVE_TEST("BufferedStream over a pipe reports the pipe's errors: a timeout, then EPIPE") {
  auto [r, w] = PipeStream::pipe();
  r.settimeout(50ms);
  BufferedStream in(r, 64);
  std::error_code ec;
  CHECK(in.read_line(100, ec) == "");
  CHECK(ec == std::errc::timed_out);  // not end of file
  w.sendall("late\n");
  CHECK(in.read_line(100) == "late\n");  // and reading may go on
  r.close();
  BufferedStream out(w, 64);
  out.write("to nobody", ec);
  CHECK_FALSE(ec);
  out.flush(ec);
  CHECK(ec == std::errc::broken_pipe);  // no SIGPIPE: the test is still running
  CHECK(out.pending_write() == 9);
}

GROVE_TEST("BufferedStream writes a child's stdin and reads its stdout (cat)") {
  ProcessOptions o;
  o.in = Stdio::pipe();
  o.out = Stdio::pipe();
  Process p({"cat"}, o);
  p.stdin_pipe().settimeout(20s);
  p.stdout_pipe().settimeout(20s);
  constexpr int kLines = 5000;  // about 60 KiB each way, so both sides park on full pipes
  auto writer = grove::spawn([&] {
    BufferedStream to(p.stdin_pipe(), 512);
    for (int i = 0; i < kLines; ++i) to.write("line " + std::to_string(i) + "\r\n");
    to.write(binary_block(3000));
    to.flush();
    p.stdin_pipe().close();  // cat sees end of file, writes the rest and exits
  });
  BufferedStream from(p.stdout_pipe(), 512);
  int matched = 0;
  for (int i = 0; i < kLines; ++i) matched += from.read_line_stripped(100) == "line " + std::to_string(i);
  CHECK(matched == kLines);
  CHECK(from.read_exactly(3000) == binary_block(3000));
  CHECK(from.read_exactly(10) == "");  // fewer (none) only at end of file
  CHECK(from.read_line_stripped(100) == std::nullopt);
  writer.join();
  CHECK(p.wait(10s).success());
}
