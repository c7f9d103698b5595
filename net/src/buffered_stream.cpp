// buffered_stream.cpp: BufferedStream, the makefile()-like reader/writer.
#include <grove/net/buffered_stream.hpp>

#include <algorithm>
#include <stdexcept>

#include <grove/errors.hpp>
#include <grove/net/pipe_stream.hpp>
#include <grove/net/tls_stream.hpp>

namespace grove::net {

namespace {
[[noreturn]] void fail(const char* op, std::error_code ec) {
  throw std::system_error(ec, std::string("grove::net::BufferedStream::") + op);
}

// recv_into / sendall of the stream below, behind a plain function pointer each.
template <class S>
std::size_t recv_into_of(void* stream, void* buf, std::size_t len, std::error_code& ec) {
  return static_cast<S*>(stream)->recv_into(buf, len, ec);
}
template <class S>
std::size_t sendall_of(void* stream, const void* data, std::size_t len, std::error_code& ec) {
  return static_cast<S*>(stream)->sendall(data, len, ec);
}
}  // namespace

BufferedStream::BufferedStream(Socket& socket, std::size_t chunk)
    : stream_(&socket), recv_into_(&recv_into_of<Socket>), sendall_(&sendall_of<Socket>),
      chunk_(std::max<std::size_t>(chunk, 64)) {}

BufferedStream::BufferedStream(TlsStream& tls, std::size_t chunk)
    : stream_(&tls), recv_into_(&recv_into_of<TlsStream>), sendall_(&sendall_of<TlsStream>),
      chunk_(std::max<std::size_t>(chunk, 64)) {}

BufferedStream::BufferedStream(PipeStream& pipe, std::size_t chunk)
    : stream_(&pipe), recv_into_(&recv_into_of<PipeStream>), sendall_(&sendall_of<PipeStream>),
      chunk_(std::max<std::size_t>(chunk, 64)) {}

bool BufferedStream::fill(std::error_code& ec) {
  if (rpos_ > 0 && rpos_ == rbuf_.size()) {
    rbuf_.clear();
    rpos_ = 0;
  } else if (rpos_ > chunk_) {
    rbuf_.erase(0, rpos_);
    rpos_ = 0;
  }
  const std::size_t old = rbuf_.size();
  rbuf_.resize(old + chunk_);
  std::size_t n = 0;
  try {
    n = recv_into_(stream_, rbuf_.data() + old, chunk_, ec);
  } catch (...) {
    rbuf_.resize(old);  // a kill or Timeout: drop the unfilled room, keep what was read
    throw;
  }
  rbuf_.resize(old + n);
  return n > 0 && !ec;
}

std::string BufferedStream::take(std::size_t n) {
  std::string out = rbuf_.substr(rpos_, n);
  rpos_ += out.size();
  return out;
}

std::string BufferedStream::read_until(std::string_view delim, std::size_t max, std::error_code& ec) {
  ec.clear();
  if (delim.empty()) throw UsageError("grove::net::BufferedStream::read_until: empty delimiter");
  // A zero maximum could only return "", which means end of file to the caller.
  if (max == 0) throw UsageError("grove::net::BufferedStream::read_until / read_line: max must be at least 1");
  std::size_t searched = 0;  // bytes already known not to start a delimiter
  for (;;) {
    const std::string_view have(rbuf_.data() + rpos_, rbuf_.size() - rpos_);
    const std::size_t from = searched >= delim.size() ? searched - delim.size() + 1 : 0;
    const std::size_t at = have.find(delim, from);
    if (at != std::string_view::npos && at + delim.size() <= max) return take(at + delim.size());
    if (have.size() >= max) return take(max);
    searched = have.size();
    if (!fill(ec)) return ec ? std::string() : take(buffered());
  }
}

std::string BufferedStream::read_until(std::string_view delim, std::size_t max) {
  std::error_code ec;
  std::string s = read_until(delim, max, ec);
  if (ec) fail("read_until", ec);
  return s;
}

std::string BufferedStream::read_line(std::size_t max, std::error_code& ec) { return read_until("\n", max, ec); }

std::string BufferedStream::read_line(std::size_t max) {
  std::error_code ec;
  std::string s = read_until("\n", max, ec);
  if (ec) fail("read_line", ec);
  return s;
}

std::optional<std::string> BufferedStream::read_line_stripped(std::size_t max, std::error_code& ec) {
  ec.clear();
  std::size_t searched = 0;  // bytes already known to hold no newline
  for (;;) {
    const std::string_view have(rbuf_.data() + rpos_, rbuf_.size() - rpos_);
    const std::size_t nl = have.find('\n', searched);
    // The line so far without its terminator ("\r\n" may yet be split across recvs).
    std::string_view line = nl == std::string_view::npos ? have : have.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max) {
      ec = std::make_error_code(std::errc::message_size);  // nothing taken
      return std::nullopt;
    }
    if (nl != std::string_view::npos) {
      std::string out(line);
      rpos_ += nl + 1;
      return out;
    }
    searched = have.size();
    if (!fill(ec)) {  // `have` and `line` may point into freed memory from here on
      if (ec || buffered() == 0) return std::nullopt;  // an error, or end of file
      std::string out = take(buffered());  // end of file ends the last line
      if (out.back() == '\r') out.pop_back();
      return out;
    }
  }
}

std::optional<std::string> BufferedStream::read_line_stripped(std::size_t max) {
  std::error_code ec;
  std::optional<std::string> line = read_line_stripped(max, ec);
  if (ec == std::errc::message_size) {
    std::string what = "grove::net::BufferedStream::read_line_stripped: a line longer than ";
    what.append(std::to_string(max)).append(" bytes");
    throw std::system_error(ec, what);
  }
  if (ec) fail("read_line_stripped", ec);
  return line;
}

std::string BufferedStream::read_exactly(std::size_t n, std::error_code& ec) {
  ec.clear();
  while (buffered() < n) {
    if (!fill(ec)) {
      if (ec) return {};
      break;
    }
  }
  return take(n);
}

std::string BufferedStream::read_exactly(std::size_t n) {
  std::error_code ec;
  std::string s = read_exactly(n, ec);
  if (ec) fail("read_exactly", ec);
  return s;
}

std::string BufferedStream::read_some(std::size_t max, std::error_code& ec) {
  ec.clear();
  if (max == 0) throw UsageError("grove::net::BufferedStream::read_some: max must be at least 1");
  if (buffered() == 0 && !fill(ec)) return {};
  return take(max);
}

std::string BufferedStream::read_some(std::size_t max) {
  std::error_code ec;
  std::string s = read_some(max, ec);
  if (ec) fail("read_some", ec);
  return s;
}

void BufferedStream::write(std::string_view data, std::error_code& ec) {
  ec.clear();
  wbuf_.append(data);
  if (wbuf_.size() >= chunk_) flush(ec);
}

void BufferedStream::write(std::string_view data) {
  std::error_code ec;
  write(data, ec);
  if (ec) fail("write", ec);
}

void BufferedStream::flush(std::error_code& ec) {
  ec.clear();
  if (wbuf_.empty()) return;
  const std::size_t sent = sendall_(stream_, wbuf_.data(), wbuf_.size(), ec);
  wbuf_.erase(0, sent);
}

void BufferedStream::flush() {
  std::error_code ec;
  flush(ec);
  if (ec) fail("flush", ec);
}

}  // namespace grove::net
