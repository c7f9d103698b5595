// http_server_fuzz.cpp: samples/http_server's request handling (http::Connection:
// the http_parser glue, the checks, dispatch and responses) over bytes in memory, no
// socket (transport.hpp's MemoryIo), without --root (no files).
//
// Input: one seed byte for the split points (fuzz_support.hpp), then the bytes a
// client sends; the connection reads them, then end of file. Properties:
//   - the output is a sequence of well-formed responses (status line, Content-Length
//     and Connection headers, a body of that length, or none for HEAD and 100);
//   - the connection ends exactly when its last response says "Connection: close"
//     (it shuts its write side down and lingers, or, when the client asked to close
//     and nothing it sent is left unread, returns without reading to end of file),
//     and nothing is sent after that;
//   - the same responses come out whether the bytes arrive at once or in reads cut
//     anywhere (but for which error a request both too big and malformed gets:
//     same_outcome());
//   - a request answered 200 was read as an independent http_parser reads it: a
//     POST's reported size and CRC-32 are its body's, a GET / gets the greeting.
#include <http_parser.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../../samples/http_server/config.hpp"
#include "../../samples/http_server/connection.hpp"
#include "../../samples/http_server/crc32.hpp"
#include "../../samples/http_server/transport.hpp"
#include "fuzz_support.hpp"

namespace {

// The client's bytes in reads of the splitter's sizes; what the connection sends.
class ScriptIo final : public http::MemoryIo {
 public:
  ScriptIo(std::string_view in, fuzz::Splitter split) : in_(in), split_(split) {}
  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec) override {
    ec.clear();
    if (len == 0) return 0;
    if (pos_ == in_.size()) {
      eof_seen_ = true;
      return 0;
    }
    const std::size_t n = std::min(len, split_.next(in_.size() - pos_));
    std::memcpy(buf, in_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  std::size_t sendall(const void* data, std::size_t len, std::error_code& ec) override {
    ec.clear();
    FUZZ_CHECK(!shut_, "nothing is sent after the write side is shut down");
    out_.append(static_cast<const char*>(data), len);
    return len;
  }
  void shutdown_write(std::error_code& ec) override {
    ec.clear();
    FUZZ_CHECK(!shut_, "the write side is shut down once");
    shut_ = true;
  }
  const std::string& out() const noexcept { return out_; }
  bool shut() const noexcept { return shut_; }
  // Whether the connection read on to the client's end of file.
  bool eof_seen() const noexcept { return eof_seen_; }

 private:
  std::string_view in_;
  fuzz::Splitter split_;
  std::size_t pos_ = 0;
  std::string out_;
  bool shut_ = false;
  bool eof_seen_ = false;
};

struct Response {
  int status = 0;
  bool close = false;
  std::string body;
  bool operator==(const Response&) const = default;
};

// Splits the connection's output into responses, checking their form.
std::vector<Response> parse_responses(std::string_view out) {
  std::vector<Response> rs;
  while (!out.empty()) {
    FUZZ_CHECK(out.substr(0, 9) == "HTTP/1.1 " && out.size() >= 13, "a response starts with a status line");
    Response r;
    r.status = (out[9] - '0') * 100 + (out[10] - '0') * 10 + (out[11] - '0');
    FUZZ_CHECK(r.status >= 100 && r.status <= 599 && out[12] == ' ', "a three-digit status");
    const std::size_t head_end = out.find("\r\n\r\n");
    FUZZ_CHECK(head_end != std::string_view::npos, "a response head ends with a blank line");
    const std::string_view head = out.substr(0, head_end + 2);
    out.remove_prefix(head_end + 4);
    if (r.status == 100) {
      FUZZ_CHECK(head == "HTTP/1.1 100 Continue\r\n", "100 Continue is a bare status line");
      rs.push_back(r);
      continue;
    }
    const std::size_t cl = head.find("\r\nContent-Length: ");
    FUZZ_CHECK(cl != std::string_view::npos, "every response has Content-Length");
    const std::size_t length = std::strtoull(std::string(head.substr(cl + 18, 20)).c_str(), nullptr, 10);
    const bool keep = head.find("\r\nConnection: keep-alive\r\n") != std::string_view::npos;
    r.close = head.find("\r\nConnection: close\r\n") != std::string_view::npos;
    FUZZ_CHECK(keep != r.close, "every response says keep-alive or close");
    // A HEAD response has no body: the next response (or the end) follows the head.
    // (No body of grove's starts with "HTTP/1.1 ".)
    if (!out.empty() && out.substr(0, 9) != "HTTP/1.1 ") {
      FUZZ_CHECK(out.size() >= length, "the body is as long as Content-Length says");
      r.body = std::string(out.substr(0, length));
      out.remove_prefix(length);
    }
    rs.push_back(r);
  }
  return rs;
}

struct Served {
  std::vector<Response> responses;
  // The server ended the connection: it shut its write side down, or it returned
  // before the client's end of file (a close without lingering).
  bool shut = false;
};

Served serve(std::string_view in, fuzz::Splitter split) {
  static http::Config cfg = [] {
    http::Config c;
    c.max_body_bytes = 1 << 16;  // within reach of the fuzzer's inputs: 413 too
    return c;
  }();
  ScriptIo io(in, split);
  auto conn = std::make_unique<http::Connection>(http::Transport(io), cfg);
  conn->serve();
  Served s{parse_responses(io.out()), io.shut() || !io.eof_seen()};
  return s;
}

// Whether two runs over the same bytes answered alike. One difference is allowed, in
// the last response only: a request that breaks a limit (414 / 431: the target, the
// header count or size, checked as each piece arrives) and is malformed as well (400)
// gets whichever http_parser reports first, and that depends on where the reads end:
// it hands over a header name piece by piece at each read's end, but at once when the
// whole name is there, so a bad byte inside the 101st name is a 400 (whole) or,
// after that name's first piece was counted, a 431 (split). Either closes the
// connection. (Found by this target: corpus/http_server/limit_or_malformed.)
bool same_outcome(const Served& a, const Served& b) {
  if (a.shut != b.shut || a.responses.size() != b.responses.size()) return false;
  if (a.responses == b.responses) return true;
  const std::size_t last = a.responses.size() - 1;
  for (std::size_t i = 0; i < last; ++i) {
    if (!(a.responses[i] == b.responses[i])) return false;
  }
  auto either = [](int s) { return s == 400 || s == 414 || s == 431; };
  const Response& x = a.responses[last];
  const Response& y = b.responses[last];
  return x.close && y.close && either(x.status) && either(y.status);
}

// The requests as a plain http_parser reads them.
struct Request {
  unsigned method = 0;
  std::string url;
  std::size_t body_len = 0;
  std::uint32_t body_crc = 0;
  bool complete = false;
};

struct RequestReader {
  std::vector<Request> reqs;
  static RequestReader& of(http_parser* p) { return *static_cast<RequestReader*>(p->data); }
  static int begin(http_parser* p) {
    of(p).reqs.emplace_back();
    return 0;
  }
  static int url(http_parser* p, const char* at, std::size_t n) {
    of(p).reqs.back().url.append(at, n);
    return 0;
  }
  static int body(http_parser* p, const char* at, std::size_t n) {
    Request& r = of(p).reqs.back();
    r.body_len += n;
    r.body_crc = http::crc32_update(r.body_crc, at, n);
    return 0;
  }
  static int complete(http_parser* p) {
    Request& r = of(p).reqs.back();
    r.method = p->method;
    r.complete = true;
    return 0;
  }
};

std::vector<Request> read_requests(std::string_view in) {
  static const http_parser_settings settings = {
      &RequestReader::begin, &RequestReader::url, nullptr, nullptr, nullptr, nullptr,
      &RequestReader::body,  &RequestReader::complete, nullptr, nullptr};
  RequestReader rr;
  http_parser p;
  http_parser_init(&p, HTTP_REQUEST);
  p.data = &rr;
  http_parser_execute(&p, &settings, in.data(), in.size());
  return rr.reqs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Served whole = serve(in, fuzz::Splitter(0));
  for (std::size_t i = 0; i < whole.responses.size(); ++i) {
    FUZZ_CHECK(!whole.responses[i].close || i + 1 == whole.responses.size(), "a close response is the last");
  }
  const bool last_close = !whole.responses.empty() && whole.responses.back().close;
  FUZZ_CHECK(whole.shut == last_close, "the connection ends exactly after a close response");

  if (data[0] != 0) {
    const Served split = serve(in, fuzz::Splitter(data[0]));
    if (!same_outcome(whole, split)) {
      for (const Served* s : {&whole, &split}) {
        std::fprintf(stderr, "%s:", s == &whole ? "whole" : "split");
        for (const Response& r : s->responses) std::fprintf(stderr, " %d%s", r.status, r.close ? "(close)" : "");
        std::fprintf(stderr, "%s\n", s->shut ? " shut" : "");
      }
    }
    FUZZ_CHECK(same_outcome(whole, split), "the same responses however the bytes are split");
  }

  // Final responses in order, against the requests an independent parser reads.
  const std::vector<Request> reqs = read_requests(in);
  std::size_t k = 0;
  for (const Response& r : whole.responses) {
    if (r.status == 100) continue;
    const std::size_t idx = k++;
    if (r.status != 200 || idx >= reqs.size()) continue;
    const Request& q = reqs[idx];
    FUZZ_CHECK(q.complete, "a request answered 200 was complete");
    if (q.method == HTTP_POST) {
      char want[64];
      std::snprintf(want, sizeof want, "%zu bytes, crc32 %08x\n", q.body_len, static_cast<unsigned>(q.body_crc));
      FUZZ_CHECK(r.body == want, "POST / reports its body's size and CRC-32");
    } else if (q.method == HTTP_GET && q.url == "/") {
      FUZZ_CHECK(r.body == "Hello, World!", "GET / gets the greeting");
    }
  }
  return 0;
}
