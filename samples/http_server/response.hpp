// response.hpp: formatting responses into a connection's output buffer.
//
// Every response carries `Server: grove`, `Date`, `Content-Type`, `Content-Length`
// and `Connection: keep-alive` / `close`, like nginx's. Nothing here allocates: heads
// are written into a fixed buffer, and the Date header is formatted once a second.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>

namespace http {

// A fixed-capacity byte buffer that responses are appended to until the connection
// sends them in one write. The caller checks room() before appending (a head is at
// most kMaxHead bytes).
class OutBuffer {
 public:
  OutBuffer(char* data, std::size_t capacity) noexcept : data_(data), cap_(capacity) {}

  char* data() noexcept { return data_; }
  std::size_t size() const noexcept { return len_; }
  std::size_t room() const noexcept { return cap_ - len_; }
  char* end() noexcept { return data_ + len_; }
  void clear() noexcept { len_ = 0; }
  void grow(std::size_t n) noexcept { len_ += n; }  // after writing at end()

  void put(std::string_view s) noexcept {
    if (s.empty()) return;  // an empty view's data() may be null, which memcpy must not get
    std::memcpy(data_ + len_, s.data(), s.size());
    len_ += s.size();
  }
  void put_uint(std::uint64_t v) noexcept;
  void put_hex8(std::uint32_t v) noexcept;

 private:
  char* data_;
  std::size_t cap_;
  std::size_t len_ = 0;
};

// Upper bound of a head written by write_head() with `extra` headers of up to
// kMaxExtra bytes.
inline constexpr std::size_t kMaxExtra = 8192 + 64;
inline constexpr std::size_t kMaxHead = 512 + kMaxExtra;

// Appends "HTTP/1.1 <status> <reason>" and grove's headers, then `extra` (whole
// header lines, each ending in CRLF), then the blank line.
void write_head(OutBuffer& out, int status, std::string_view content_type, std::uint64_t content_length,
                bool keep_alive, std::string_view extra = {});

// Appends a complete short response whose body is "<status> <reason>\n"
// (text/plain); the body is left out for HEAD.
void write_status_page(OutBuffer& out, int status, bool keep_alive, bool head_only, std::string_view extra = {});

// The whole keep-alive response to `GET /` (or its head, for HEAD): prebuilt, with
// only the Date patched in when the second changes.
std::string_view hello_response(bool head_only);
inline constexpr std::string_view kHelloBody = "Hello, World!";

// The current time as an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT"), formatted at
// most once a second.
std::string_view http_date_now();
// `t` as an HTTP date, into `buf` (at least 30 bytes); returns its 29 characters.
std::string_view format_http_date(std::time_t t, char* buf);

}  // namespace http
