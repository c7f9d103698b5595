// buffered_file.cpp: BufferedFile, lines and buffered writes over a grove::File.
#include <grove/buffered_file.hpp>
#include <grove/errors.hpp>

#include <algorithm>

namespace grove {

namespace {
[[noreturn]] void fail(const char* op, const File& f, std::error_code ec) {
  throw std::system_error(ec, std::string("grove::BufferedFile::") + op + " (" + f.path() + ")");
}
}  // namespace

BufferedFile::BufferedFile(File& file, std::size_t chunk) : file_(file), chunk_(std::max<std::size_t>(chunk, 64)) {}

bool BufferedFile::fill(std::error_code& ec) {
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
    n = file_.read(rbuf_.data() + old, chunk_, ec);
  } catch (...) {
    rbuf_.resize(old);  // a kill or Timeout: keep what was read before
    throw;
  }
  rbuf_.resize(old + n);
  return n > 0 && !ec;
}

std::string BufferedFile::read_line(std::size_t max, std::error_code& ec) {
  ec.clear();
  if (max == 0) throw UsageError("grove::BufferedFile::read_line: max must be at least 1");
  std::size_t searched = 0;  // bytes already known to hold no newline
  for (;;) {
    const std::string_view have(rbuf_.data() + rpos_, rbuf_.size() - rpos_);
    const std::size_t at = have.find('\n', searched);
    std::size_t take = 0;
    if (at != std::string_view::npos && at + 1 <= max) take = at + 1;
    else if (have.size() >= max) take = max;
    if (take == 0) {
      searched = have.size();
      if (!fill(ec)) {
        if (ec) return std::string();
        take = buffered();  // end of file: the unterminated rest ("" at the very end)
      }
    }
    if (take > 0 || buffered() == 0) {
      std::string out = rbuf_.substr(rpos_, take);
      rpos_ += out.size();
      return out;
    }
  }
}

std::string BufferedFile::read_line(std::size_t max) {
  std::error_code ec;
  std::string s = read_line(max, ec);
  if (ec) fail("read_line", file_, ec);
  return s;
}

void BufferedFile::write(std::string_view data, std::error_code& ec) {
  ec.clear();
  if (buffered() > 0) {
    throw UsageError("grove::BufferedFile::write: read data is buffered (the file offset is past it); use one "
                     "BufferedFile for reading and another for writing");
  }
  wbuf_.append(data);
  if (wbuf_.size() >= chunk_) flush(ec);
}

void BufferedFile::write(std::string_view data) {
  std::error_code ec;
  write(data, ec);
  if (ec) fail("write", file_, ec);
}

void BufferedFile::flush(std::error_code& ec) {
  ec.clear();
  if (wbuf_.empty()) return;
  const std::size_t n = file_.write(wbuf_, ec);
  wbuf_.erase(0, n);
}

void BufferedFile::flush() {
  std::error_code ec;
  flush(ec);
  if (ec) fail("flush", file_, ec);
}

}  // namespace grove
