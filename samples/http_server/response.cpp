// response.cpp: response heads, the Date cache and the prebuilt `GET /` response.
#include "response.hpp"

#include <http_parser.h>

#include <cstdio>

namespace http {

void OutBuffer::put_uint(std::uint64_t v) noexcept {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) data_[len_++] = tmp[--n];
}

void OutBuffer::put_hex8(std::uint32_t v) noexcept {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 28; shift >= 0; shift -= 4) data_[len_++] = kDigits[(v >> shift) & 0xf];
}

std::string_view format_http_date(std::time_t t, char* buf) {
  std::tm tm;
  ::gmtime_r(&t, &tm);
  // The C locale's day and month names are the ones HTTP wants (grove never calls
  // setlocale).
  const std::size_t n = std::strftime(buf, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string_view(buf, n);
}

namespace {

// One cache per OS thread, so per hub (--hubs N serves on N of them, each formatting
// its own responses): no locking, and no cache line shared between hubs.
struct DateCache {
  std::time_t second = -1;
  char text[32];
  std::size_t len = 0;
};
thread_local DateCache g_date;

// "HTTP/1.1 200 OK\r\n...Date: <29 chars>\r\n...\r\n\r\nHello, World!"
struct HelloCache {
  std::time_t second = -1;
  char text[256];
  std::size_t head_len = 0;  // up to and including the blank line
  std::size_t len = 0;
};
thread_local HelloCache g_hello;

}  // namespace

std::string_view http_date_now() {
  const std::time_t now = std::time(nullptr);  // the vDSO: no system call
  if (now != g_date.second) {
    g_date.second = now;
    g_date.len = format_http_date(now, g_date.text).size();
  }
  return std::string_view(g_date.text, g_date.len);
}

void write_head(OutBuffer& out, int status, std::string_view content_type, std::uint64_t content_length,
                bool keep_alive, std::string_view extra) {
  out.put("HTTP/1.1 ");
  out.put_uint(static_cast<std::uint64_t>(status));
  out.put(" ");
  out.put(http_status_str(static_cast<http_status>(status)));
  out.put("\r\nServer: grove\r\nDate: ");
  out.put(http_date_now());
  out.put("\r\nContent-Type: ");
  out.put(content_type);
  out.put("\r\nContent-Length: ");
  out.put_uint(content_length);
  out.put(keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n");
  out.put(extra);
  out.put("\r\n");
}

void write_status_page(OutBuffer& out, int status, bool keep_alive, bool head_only, std::string_view extra) {
  const std::string_view reason = http_status_str(static_cast<http_status>(status));
  // "404 Not Found\n"
  write_head(out, status, "text/plain", 3 + 1 + reason.size() + 1, keep_alive, extra);
  if (head_only) return;
  out.put_uint(static_cast<std::uint64_t>(status));
  out.put(" ");
  out.put(reason);
  out.put("\n");
}

std::string_view hello_response(bool head_only) {
  http_date_now();  // refreshes g_date
  if (g_hello.second != g_date.second) {
    g_hello.second = g_date.second;
    OutBuffer b(g_hello.text, sizeof g_hello.text);
    write_head(b, 200, "text/plain", kHelloBody.size(), true);
    g_hello.head_len = b.size();
    b.put(kHelloBody);
    g_hello.len = b.size();
  }
  return std::string_view(g_hello.text, head_only ? g_hello.head_len : g_hello.len);
}

}  // namespace http
