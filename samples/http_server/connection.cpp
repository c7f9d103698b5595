// connection.cpp: the per-connection loop, the http_parser glue, and dispatch. The
// shape of the loop is described in connection.hpp.
#include "connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <grove/thread_pool.hpp>

#include "crc32.hpp"
#include "static_files.hpp"

namespace http {

namespace {

Connection* self(http_parser* p) { return static_cast<Connection*>(p->data); }

bool equals_nocase(const char* s, std::size_t n, std::string_view lower) {
  if (n != lower.size()) return false;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// The characters a Host value may hold (RFC 3986 host ":" port: a name, an IPv4
// address or an [IPv6] literal, percent-encoding allowed). A space or a folded line
// makes it invalid.
bool valid_host_chars(const char* s, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isalnum(c)) continue;
    if (!std::strchr("-._~!$&'()*+,;=:[]%", c) || c == '\0') return false;
  }
  return true;
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

const http_parser_settings Connection::kSettings = {
    &Connection::on_message_begin,
    &Connection::on_url,
    nullptr,  // on_status: responses only
    &Connection::on_header_field,
    &Connection::on_header_value,
    &Connection::on_headers_complete,
    &Connection::on_body,
    &Connection::on_message_complete,
    nullptr,  // on_chunk_header
    nullptr,  // on_chunk_complete
};

Connection::Connection(Transport io, const Config& cfg) noexcept
    : io_(io), cfg_(cfg), out_(wbuf_, sizeof wbuf_) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

// --- http_parser callbacks: record, check limits, never park ---

int Connection::on_message_begin(http_parser* p) {
  Connection& c = *self(p);
  c.target_len_ = 0;
  c.header_bytes_ = 0;
  c.header_count_ = 0;
  c.host_count_ = 0;
  c.transfer_encoding_count_ = 0;
  c.in_field_ = false;
  c.headers_done_ = false;
  c.expect_continue_ = false;
  c.body_bytes_ = 0;
  c.body_crc_ = 0;
  return 0;
}

int Connection::on_url(http_parser* p, const char* at, std::size_t len) {
  Connection& c = *self(p);
  // Called once per piece of the target that arrived: the limit holds however slowly
  // it trickles in.
  if (len > sizeof c.target_ - c.target_len_) return c.reject(414);
  std::memcpy(c.target_ + c.target_len_, at, len);
  c.target_len_ += len;
  return 0;
}

int Connection::on_header_field(http_parser* p, const char* at, std::size_t len) {
  Connection& c = *self(p);
  if (!c.in_field_) {  // a new header line
    c.in_field_ = true;
    c.name_len_ = 0;
    c.header_bytes_ += 4;  // ": " and CRLF
    if (++c.header_count_ > Config::kMaxHeaders) return c.reject(431);
  }
  c.header_bytes_ += len;
  if (c.header_bytes_ > Config::kMaxHeaderBytes) return c.reject(431);
  // http_parser lets "Transfer-Encoding : chunked" through as an unknown header;
  // RFC 9112 5.1 says to reject whitespace in a name (a proxy might read it otherwise).
  if (std::memchr(at, ' ', len) || std::memchr(at, '\t', len)) return c.reject(400);
  // Only short names matter here (host, expect); a longer one just stops matching.
  const std::size_t keep = std::min(len, sizeof c.name_ - std::min(c.name_len_, sizeof c.name_));
  std::memcpy(c.name_ + std::min(c.name_len_, sizeof c.name_), at, keep);
  c.name_len_ += len;
  return 0;
}

int Connection::on_header_value(http_parser* p, const char* at, std::size_t len) {
  Connection& c = *self(p);
  if (c.in_field_) {  // the first piece of this header's value
    c.in_field_ = false;
    c.value_len_ = 0;
    const bool short_name = c.name_len_ <= sizeof c.name_;
    if (short_name && equals_nocase(c.name_, c.name_len_, "host")) {
      c.header_ = Header::kHost;
      ++c.host_count_;
    } else if (short_name && equals_nocase(c.name_, c.name_len_, "expect")) {
      c.header_ = Header::kExpect;
    } else if (short_name && equals_nocase(c.name_, c.name_len_, "transfer-encoding")) {
      c.header_ = Header::kTransferEncoding;
      // Two of them may be read differently by a proxy in front (request smuggling).
      if (++c.transfer_encoding_count_ > 1) return c.reject(400);
    } else {
      c.header_ = Header::kOther;
    }
  }
  c.header_bytes_ += len;
  if (c.header_bytes_ > Config::kMaxHeaderBytes) return c.reject(431);
  if (c.header_ == Header::kHost && !valid_host_chars(at, len)) return c.reject(400);  // RFC 9112 3.2
  if (c.header_ == Header::kExpect) {
    const std::size_t off = std::min(c.value_len_, sizeof c.value_);
    std::memcpy(c.value_ + off, at, std::min(len, sizeof c.value_ - off));
    c.value_len_ += len;
    c.expect_continue_ = c.value_len_ <= sizeof c.value_ && equals_nocase(c.value_, c.value_len_, "100-continue");
  }
  return 0;
}

int Connection::on_headers_complete(http_parser* p) {
  Connection& c = *self(p);
  c.headers_done_ = true;
  if (p->http_major != 1) return c.reject(505);
  // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host header.
  if (p->http_minor >= 1 && c.host_count_ != 1) return c.reject(400);
  if (c.host_count_ > 1) return c.reject(400);
  if (p->method == HTTP_CONNECT) return c.reject(405);  // not a proxy
  const bool has_length = (p->flags & F_CONTENTLENGTH) != 0;
  const bool chunked = (p->flags & F_CHUNKED) != 0;
  // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is "faulty framing".
  if (p->http_minor == 0 && c.transfer_encoding_count_ > 0) return c.reject(400);
  if (has_length && !chunked && p->content_length > c.cfg_.max_body_bytes) return c.reject(413);
  if (c.expect_continue_ && p->http_minor >= 1 && (chunked || (has_length && p->content_length > 0))) {
    // The client waits for "100 Continue" before it sends the body: pause so that
    // the loop sends it (a send may park, which a callback must not).
    c.event_ = Event::kContinue;
    http_parser_pause(p, 1);
  }
  return 0;
}

int Connection::on_body(http_parser* p, const char* at, std::size_t len) {
  Connection& c = *self(p);
  c.body_bytes_ += len;
  if (c.body_bytes_ > c.cfg_.max_body_bytes) return c.reject(413);
  if (p->method == HTTP_POST) c.body_crc_ = crc32_update(c.body_crc_, at, len);
  if ((p->flags & F_CHUNKED) && p->content_length == 0) {  // this chunk's data is complete
    c.chunk_crlf_next_ = 0;
    if (!c.check_chunk_crlf(at + len)) return c.reject(400);
  }
  return 0;
}

bool Connection::check_chunk_crlf(const char* from) {
  const char* const end = rbuf_ + rlen_;
  for (; chunk_crlf_next_ < 2 && from < end; ++from, ++chunk_crlf_next_) {
    if (*from != "\r\n"[chunk_crlf_next_]) return false;
  }
  return true;
}

int Connection::on_message_complete(http_parser* p) {
  Connection& c = *self(p);
  // Read the flags now: they are reset when the next message begins. After an
  // Upgrade the rest of the stream is another protocol, which grove does not speak.
  c.keep_alive_ = http_should_keep_alive(p) != 0 && p->upgrade == 0;
  c.method_ = static_cast<std::uint8_t>(p->method);
  c.event_ = Event::kMessage;
  http_parser_pause(p, 1);
  return 0;
}

// --- the loop ---

void Connection::serve() {
  std::error_code ec;
  io_.set_nodelay(ec);  // responses are whole: never wait to fill a segment
  for (;;) {
    if (rpos_ == rlen_) {
      // Everything read has been answered: send the answers, then wait for more.
      if (!flush() || !fill()) return;
    }
    // The rest of a chunk's CRLF that the previous read cut off.
    if (chunk_crlf_next_ < 2 && !check_chunk_crlf(rbuf_ + rpos_)) return fail(400);
    const std::size_t n = http_parser_execute(&parser_, &kSettings, rbuf_ + rpos_, rlen_ - rpos_);
    rpos_ += n;
    const http_errno err = HTTP_PARSER_ERRNO(&parser_);
    if (err == HPE_PAUSED) {
      http_parser_pause(&parser_, 0);
      const Event ev = event_;
      event_ = Event::kNone;
      if (ev == Event::kContinue) {
        if (!make_room(32)) return;
        out_.put("HTTP/1.1 100 Continue\r\n\r\n");
        if (!flush()) return;
        continue;
      }
      if (!respond()) {
        // The response said "Connection: close". When the client asked for it and
        // nothing it sent is left unread, it sends no more (RFC 9112, 9.6): close
        // without lingering, as nginx does (close_notify, then close; no shutdown(2)
        // and no wait for the client's end of file).
        if (flush() && (keep_alive_ || parser_.upgrade || rpos_ != rlen_)) linger_close();
        return;
      }
      continue;
    }
    if (err == HPE_OK) {
      if (rpos_ != rlen_) return fail(400);  // the parser stopped without saying why
      continue;
    }
    if (error_status_ != 0) return fail(error_status_);
    if (err == HPE_HEADER_OVERFLOW) return fail(header_count_ == 0 && !headers_done_ ? 414 : 431);
    return fail(400);
  }
}

bool Connection::fill() {
  if (cfg_.idle_timeout == grove::Duration::zero()) {  // --idle-timeout-ms 0: no timeouts
    io_.settimeout(std::nullopt);
  } else {
    set_read_timeout();
  }
  std::error_code ec;
  const std::size_t n = io_.recv_into(rbuf_, sizeof rbuf_, ec);
  if (ec || n == 0) return false;
  rpos_ = 0;
  rlen_ = n;
  return true;
}

void Connection::set_read_timeout() {
  const auto now = std::chrono::steady_clock::now();
  grove::Duration timeout = cfg_.idle_timeout;
  if (!headers_done_) {
    // Waiting for (the rest of) a request head: the whole head has one deadline, so a
    // client trickling it in a byte at a time is dropped like an idle one.
    if (deadline_stale_) {
      head_deadline_ = now + cfg_.idle_timeout;
      deadline_stale_ = false;
    }
    // At least 1 ns: a zero timeout would make the socket non-blocking, not expired.
    timeout = std::max(grove::Duration(1), std::chrono::duration_cast<grove::Duration>(head_deadline_ - now));
  }
  io_.settimeout(timeout);
}

bool Connection::flush() {
  if (out_.size() == 0) return true;
  io_.settimeout(write_timeout());
  std::error_code ec;
  io_.sendall(out_.data(), out_.size(), ec);
  out_.clear();
  if (ec) write_failed_ = true;
  return !ec;
}

bool Connection::make_room(std::size_t n) { return out_.room() >= n || flush(); }

void Connection::fail(int status) {
  if (!make_room(kMaxHead)) return;
  write_status_page(out_, status, false, false);
  if (flush()) linger_close();
}

// Closes our side first and reads (and drops) what the client still sends, for a
// short while: closing a socket with unread bytes makes the kernel send a reset,
// which can destroy the response before the client has read it (nginx's lingering
// close, for the same reason). Under TLS, close_notify goes first, and what the client
// still sends is dropped undecrypted (read from the socket under the stream). Not
// after a failed send: there is no response left to protect.
void Connection::linger_close() {
  if (write_failed_) return;
  std::error_code ec;
  io_.shutdown_write(ec);
  if (ec) return;
  const auto limit = std::min<grove::Duration>(write_timeout(), std::chrono::seconds(2));
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::size_t dropped = 0;
  while (dropped < (std::size_t{1} << 20)) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return;
    io_.settimeout(std::chrono::duration_cast<grove::Duration>(deadline - now));
    const std::size_t n = io_.recv_raw(rbuf_, sizeof rbuf_, ec);
    if (ec || n == 0) return;
    dropped += n;
  }
}

// --- dispatch ---

bool Connection::respond() {
  const bool keep_alive = keep_alive_;
  const bool head_only = method_ == HTTP_HEAD;
  const bool get_or_head = method_ == HTTP_GET || head_only;
  headers_done_ = false;
  deadline_stale_ = true;
  const std::string_view target(target_, target_len_);

  // The hot path: a keep-alive `GET /` is one memcpy of a prebuilt response.
  if (keep_alive && get_or_head && target == "/") {
    const std::string_view r = hello_response(head_only);
    if (!make_room(r.size())) return false;
    out_.put(r);
    return true;
  }

  if (!make_room(kMaxHead + 64)) return false;
  const Target t = resolve_target(target, path_, sizeof path_);
  switch (t.kind) {
    case TargetKind::kBad:
      write_status_page(out_, 400, false, head_only);
      return false;
    case TargetKind::kRoot:
      if (get_or_head) {
        write_head(out_, 200, "text/plain", kHelloBody.size(), keep_alive);
        if (!head_only) out_.put(kHelloBody);
      } else if (method_ == HTTP_POST) {
        // The body sink: says how much arrived and its CRC-32, e.g. for clients that
        // test large Content-Length and chunked bodies.
        char text[64];
        OutBuffer body(text, sizeof text);
        body.put_uint(body_bytes_);
        body.put(" bytes, crc32 ");
        body.put_hex8(body_crc_);
        body.put("\n");
        write_head(out_, 200, "text/plain", body.size(), keep_alive);
        out_.put(std::string_view(body.data(), body.size()));
      } else {
        write_status_page(out_, 405, keep_alive, head_only, "Allow: GET, HEAD, POST\r\n");
      }
      return keep_alive;
    case TargetKind::kFile:
      break;
  }
  if (!get_or_head) {
    write_status_page(out_, 405, keep_alive, head_only, "Allow: GET, HEAD\r\n");
    return keep_alive;
  }
  if (cfg_.root_fd < 0) {
    write_status_page(out_, 404, keep_alive, head_only);
    return keep_alive;
  }
  return serve_file(t.len, t.trailing_slash, t.raw_path, head_only, keep_alive);
}

bool Connection::serve_file(std::size_t rel_len, bool trailing_slash, std::string_view raw_path, bool head_only,
                            bool keep_alive) {
  // A small file is read by the same worker that opens it, straight into the output
  // buffer behind room for its head; so it costs one hand-off to the thread pool and
  // goes out with the other pending responses.
  if (!head_only && !make_room(kMaxHead + kInlineFile)) return false;
  char* const inline_buf = head_only ? nullptr : out_.end() + kMaxHead;
  const OpenedFile f = grove::run_in_thread(
      [&] { return open_static(cfg_, path_, rel_len, trailing_slash, inline_buf, kInlineFile); });
  const FdCloser closer{f.fd};
  if (f.is_dir) {
    // As nginx does: "/docs" -> "/docs/", so that relative links inside resolve.
    char loc[kMaxExtra];
    OutBuffer extra(loc, sizeof loc);
    extra.put("Location: ");
    // One leading slash: "//docs/" would name the host "docs" (an open redirect).
    while (raw_path.size() > 1 && raw_path[1] == '/') raw_path.remove_prefix(1);
    extra.put(raw_path.substr(0, kMaxExtra - 16));
    extra.put("/\r\n");
    write_status_page(out_, 301, keep_alive, head_only, std::string_view(extra.data(), extra.size()));
    return keep_alive;
  }
  if (f.fd < 0) {
    write_status_page(out_, status_for_open_error(f.error), keep_alive, head_only);
    return keep_alive;
  }
  char date[32];
  char lm[64];
  OutBuffer extra(lm, sizeof lm);
  extra.put("Last-Modified: ");
  extra.put(format_http_date(f.mtime, date));
  extra.put("\r\n");
  const std::string_view type = content_type_for(std::string_view(path_));
  write_head(out_, 200, type, f.size, keep_alive, std::string_view(extra.data(), extra.size()));
  if (head_only) return keep_alive;
  if (f.inlined) {
    std::memmove(out_.end(), inline_buf, f.size);
    out_.grow(f.size);
    return keep_alive;
  }
  const int fd = io_.sendfile_fd();
  if (fd < 0) {
    if (send_file_through_stream(f.fd, f.size)) return keep_alive;
    write_failed_ = true;
    return false;
  }
  // A big file: the head (and any responses before it) with MSG_MORE, so that the
  // kernel can put the first bytes of the file in the same segment, then sendfile.
  const bool ok = send_all_more(fd, out_.data(), out_.size(), write_timeout()) &&
                  send_file(fd, f.fd, f.size, write_timeout());
  out_.clear();
  if (!ok) write_failed_ = true;
  return ok && keep_alive;
}

// Under TLS the kernel cannot send the file (the bytes are encrypted here): the head
// goes out, then the file in pieces of the write buffer, each read on the thread
// pool (the disk never stalls the hub) and sent through the TLS stream.
bool Connection::send_file_through_stream(int file_fd, std::uint64_t size) {
  if (!flush()) return false;
  std::uint64_t offset = 0;
  while (offset < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof wbuf_, size - offset));
    const ssize_t n = grove::run_in_thread([&]() -> ssize_t {
      for (;;) {
        const ssize_t r = ::pread(file_fd, wbuf_, want, static_cast<off_t>(offset));
        if (r >= 0 || errno != EINTR) return r;
      }
    });
    if (n <= 0) return false;  // an error, or the file shrank: Content-Length cannot be met
    io_.settimeout(write_timeout());
    std::error_code ec;
    io_.sendall(wbuf_, static_cast<std::size_t>(n), ec);
    if (ec) return false;
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace http
