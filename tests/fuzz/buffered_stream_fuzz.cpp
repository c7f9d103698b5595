// buffered_stream_fuzz.cpp: BufferedStream's reads (read_line, read_line_stripped,
// read_until, read_exactly, read_some) and writes over a scripted byte source that
// hands out the data in reads cut at arbitrary points.
//
// Input: a seed byte for the split points (fuzz_support.hpp), a count N (< 32), N
// operations of two bytes (which call, and its size or delimiter), then the data the
// source holds. Each read is checked against a model computed from the data alone,
// so the result cannot depend on where the reads were cut:
//   - every call returns exactly the next bytes of the data (nothing skipped,
//     repeated or read past the data given), what the model says it should;
//   - a line never exceeds its limit; a line or delimited read that stops short of
//     its terminator does so only at the limit or at end of file;
//   - a line that is too long for read_line_stripped is an error and consumes nothing;
//   - the source is never asked past its end after it said end of file, and the
//     bytes returned plus buffered() are what the source gave;
//   - what is written comes out of flush() whole and in order.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <grove/net/buffered_stream.hpp>

#include "fuzz_support.hpp"

namespace {

// The byte source: the data, in reads of the splitter's sizes; and a sink.
class ScriptStream {
 public:
  ScriptStream(std::string_view data, fuzz::Splitter split) : data_(data), split_(split) {}
  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec) {
    ec.clear();
    FUZZ_CHECK(len > 0, "never a 0-byte read (it would look like end of file)");
    FUZZ_CHECK(!eof_seen_, "no read after end of file was reported");
    if (pos_ == data_.size()) {
      eof_seen_ = true;
      return 0;
    }
    const std::size_t n = std::min(len, split_.next(data_.size() - pos_));
    std::memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  std::size_t sendall(const void* data, std::size_t len, std::error_code& ec) {
    ec.clear();
    sent_.append(static_cast<const char*>(data), len);
    return len;
  }
  std::size_t given() const noexcept { return pos_; }
  const std::string& sent() const noexcept { return sent_; }
  // Once it has said end of file, the stream asks again only if it... never does.
  void reset_eof() noexcept { eof_seen_ = false; }

 private:
  std::string_view data_;
  fuzz::Splitter split_;
  std::size_t pos_ = 0;
  bool eof_seen_ = false;
  std::string sent_;
};

using namespace std::string_view_literals;
// Delimiters for read_until: one byte, several, self-overlapping ones, a NUL.
constexpr std::string_view kDelims[] = {"\n"sv, "\r\n"sv, "\r\n\r\n"sv, "--b"sv, "ab"sv, "aab"sv, "\0"sv, "xyz"sv};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* in, std::size_t size) {
  if (size < 2) return 0;
  const fuzz::Splitter split(in[0]);
  const std::size_t nops = in[1] % 32;
  if (size < 2 + 2 * nops) return 0;
  const std::uint8_t* ops = in + 2;
  const std::string_view data(reinterpret_cast<const char*>(in) + 2 + 2 * nops, size - 2 - 2 * nops);

  ScriptStream src(data, split);
  grove::net::BufferedStream io(src, 64 + in[0] % 64);
  std::size_t off = 0;  // the model: how much of the data has been returned
  std::string written;
  std::error_code ec;
  for (std::size_t i = 0; i < nops; ++i) {
    const std::uint8_t op = ops[2 * i] % 7;
    const std::size_t arg = ops[2 * i + 1];
    const std::string_view rest = data.substr(off);
    switch (op) {
      case 0:    // read_line
      case 1: {  // read_until
        const std::string_view delim = op == 0 ? "\n"sv : kDelims[arg % std::size(kDelims)];
        const std::size_t max = 1 + arg % 64 * (op == 0 ? 1 : arg % 3 + 1);
        const std::string got = op == 0 ? io.read_line(max, ec) : io.read_until(delim, max, ec);
        FUZZ_CHECK(!ec, "no error from the source, none reported");
        std::size_t want;
        const std::size_t at = rest.substr(0, max).find(delim);
        if (at != std::string_view::npos && at + delim.size() <= max) {
          want = at + delim.size();
        } else {
          want = std::min(max, rest.size());
        }
        FUZZ_CHECK(got.size() <= max, "a line never exceeds its limit");
        FUZZ_CHECK(got == rest.substr(0, want), "read_line / read_until return what the model says");
        off += got.size();
        break;
      }
      case 2: {  // read_line_stripped
        const std::size_t max = arg % 80;
        const std::optional<std::string> got = io.read_line_stripped(max, ec);
        const std::size_t nl = rest.find('\n');
        std::string_view line = nl == std::string_view::npos ? rest : rest.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > max) {
          FUZZ_CHECK(ec == std::errc::message_size && !got, "a line over the limit is message_size");
          break;  // nothing consumed: checked by the next call
        }
        FUZZ_CHECK(!ec, "no error for a line within the limit");
        if (rest.empty()) {
          FUZZ_CHECK(!got, "std::nullopt at end of file");
          break;
        }
        FUZZ_CHECK(got && *got == line, "read_line_stripped returns the line without its terminator");
        off += nl == std::string_view::npos ? rest.size() : nl + 1;
        break;
      }
      case 3: {  // read_exactly
        const std::size_t n = arg * (arg % 4 + 1);
        const std::string got = io.read_exactly(n, ec);
        FUZZ_CHECK(!ec, "no error");
        FUZZ_CHECK(got == rest.substr(0, n), "read_exactly returns n bytes, fewer only at end of file");
        off += got.size();
        break;
      }
      case 4: {  // read_some
        const std::size_t max = 1 + arg;
        const std::string got = io.read_some(max, ec);
        FUZZ_CHECK(!ec, "no error");
        FUZZ_CHECK(got.size() <= max, "read_some returns at most max");
        FUZZ_CHECK(got.empty() == rest.empty(), "read_some returns something unless at end of file");
        FUZZ_CHECK(got == rest.substr(0, got.size()), "read_some returns the next bytes");
        off += got.size();
        break;
      }
      case 5: {  // write
        const std::string_view w = data.substr(0, arg);
        io.write(w, ec);
        FUZZ_CHECK(!ec, "no error from the sink");
        written.append(w);
        break;
      }
      case 6:  // flush
        io.flush(ec);
        FUZZ_CHECK(!ec && io.pending_write() == 0, "flush sends everything");
        FUZZ_CHECK(src.sent() == written, "what was written comes out whole and in order");
        break;
    }
    FUZZ_CHECK(off + io.buffered() == src.given(), "returned + buffered == what the source gave");
    FUZZ_CHECK(src.given() <= data.size(), "nothing read past the data given");
    src.reset_eof();  // a later call may ask again (each call may see end of file once)
  }
  io.flush(ec);
  FUZZ_CHECK(src.sent() == written, "what was written comes out whole and in order");
  return 0;
}
