// connection.hpp: one HTTP/1.1 connection, served in its own green thread.
//
// The loop, in blocking style:
//
//   read what the client sent -> feed it to http_parser -> at each complete request,
//   append its response to the output buffer -> when the bytes read are used up,
//   send the output buffer (one send for every response they asked for) -> read again
//
// so a keep-alive `GET /` costs one recv and one send, and a burst of pipelined
// requests costs one send for the whole burst. http_parser calls back into this class
// from C code; the callbacks never park or throw. Where work must park (sending
// "100 Continue", opening a file, streaming it), the callback pauses the parser
// (http_parser_pause) and the loop does the work outside the parser, then resumes it.
//
// Nothing is allocated per request: the buffers and the parser state live in the
// Connection, allocated once per connection.
#pragma once

#include <http_parser.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "config.hpp"
#include "response.hpp"
#include "transport.hpp"

namespace http {

class Connection {
 public:
  // Over `io`: the accepted socket, or a TLS stream over it (transport.hpp).
  Connection(Transport io, const Config& cfg) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Serves requests until the client closes, a timeout passes, an error, or a request
  // that ends the connection; then returns (the StreamServer closes the socket;
  // under TLS, tls_handler sends close_notify first).
  void serve();

 private:
  // What made the parser pause.
  enum class Event : std::uint8_t { kNone, kContinue, kMessage };
  // The header whose value is being read.
  enum class Header : std::uint8_t { kOther, kHost, kExpect, kTransferEncoding };

  static constexpr std::size_t kReadBuffer = 16384;
  static constexpr std::size_t kWriteBuffer = 32768;
  // Files up to this size are read whole by the worker that opens them and sent with
  // the other responses in one write; bigger ones go out with sendfile.
  static constexpr std::size_t kInlineFile = 16384;
  static_assert(kWriteBuffer >= kMaxHead + kInlineFile);

  // http_parser callbacks (the parser's `data` is the Connection).
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t len);
  static int on_header_field(http_parser* p, const char* at, std::size_t len);
  static int on_header_value(http_parser* p, const char* at, std::size_t len);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t len);
  static int on_message_complete(http_parser* p);
  static const http_parser_settings kSettings;

  // Stops the parser with `status` as the answer; returns the callback's error value.
  int reject(int status) noexcept {
    error_status_ = status;
    return -1;
  }

  bool fill();                         // reads more; false: end of file, error or timeout
  void set_read_timeout();             // the socket's timeout for the next read
  // For writes: the idle timeout, or (with --idle-timeout-ms 0) a day, i.e. none.
  grove::Duration write_timeout() const noexcept {
    return cfg_.idle_timeout == grove::Duration::zero() ? grove::Duration(std::chrono::hours(24)) : cfg_.idle_timeout;
  }
  bool flush();                        // sends the output buffer; false on error or timeout
  bool check_chunk_crlf(const char* from);  // checks the pending CRLF in [from, rbuf_+rlen_)
  bool make_room(std::size_t n);       // flushes unless n bytes fit
  bool respond();                      // answers the request just parsed; false: close
  bool serve_file(std::size_t rel_len, bool trailing_slash, std::string_view raw_path, bool head_only,
                  bool keep_alive);
  void fail(int status);               // answers `status`, then closes (lingering)
  void linger_close();
  bool send_file_through_stream(int file_fd, std::uint64_t size);  // the TLS path: no sendfile

  Transport io_;
  const Config& cfg_;
  http_parser parser_;
  Event event_ = Event::kNone;
  int error_status_ = 0;
  // Sending a response failed (a write error or timeout, a file that shrank): it is
  // lost, so the close does not linger (that would hold a client that stopped
  // reading for a second write timeout).
  bool write_failed_ = false;

  // Timing: the head of the next request must be complete by head_deadline_, which
  // starts at the first read after the previous request (deadline_stale_).
  std::chrono::steady_clock::time_point head_deadline_;
  bool deadline_stale_ = true;

  // The request being parsed.
  std::size_t target_len_ = 0;
  std::size_t header_bytes_ = 0;
  std::size_t header_count_ = 0;
  int host_count_ = 0;
  int transfer_encoding_count_ = 0;
  // After a chunk's data RFC 9112 7.1 wants CRLF; http_parser (not built strict) skips
  // any two bytes there, so they are checked here: the index in "\r\n" of the next
  // byte still to check, 2 when none is pending (the CRLF may span two reads).
  std::uint8_t chunk_crlf_next_ = 2;
  bool in_field_ = false;  // the last callback was a header name
  bool headers_done_ = false;
  bool expect_continue_ = false;
  bool keep_alive_ = false;
  std::uint8_t method_ = 0;
  Header header_ = Header::kOther;
  std::size_t name_len_ = 0;
  char name_[24];  // long enough for "transfer-encoding"
  std::size_t value_len_ = 0;
  char value_[16];
  std::uint64_t body_bytes_ = 0;
  std::uint32_t body_crc_ = 0;

  // Bytes read but not yet parsed: rbuf_[rpos_, rlen_).
  std::size_t rpos_ = 0;
  std::size_t rlen_ = 0;
  OutBuffer out_;

  // The request target as received, and its decoded path relative to the root (with
  // room for "/index.html" and the NUL).
  char target_[Config::kMaxRequestTarget];
  char path_[Config::kMaxRequestTarget + 32];
  char rbuf_[kReadBuffer];
  char wbuf_[kWriteBuffer];
};

}  // namespace http
