// resp_parser.cpp: see resp_parser.hpp.
#include "resp_parser.hpp"

#include <cstring>

namespace kv {

bool parse_ll(const char* p, std::size_t n, long long& out) {
  if (n == 0 || n > 20) return false;
  std::size_t i = 0;
  bool neg = false;
  if (p[0] == '-') {
    neg = true;
    if (++i == n) return false;
  }
  if (p[i] == '0') {
    if (n == 1) {
      out = 0;
      return true;
    }
    return false;
  }
  unsigned long long v = 0;
  for (; i < n; ++i) {
    const unsigned d = static_cast<unsigned char>(p[i]) - '0';
    if (d > 9) return false;
    if (v > (~0ULL - d) / 10) return false;
    v = v * 10 + d;
  }
  if (neg) {
    if (v > static_cast<unsigned long long>(__LONG_LONG_MAX__) + 1) return false;
    out = static_cast<long long>(0 - v);
  } else {
    if (v > static_cast<unsigned long long>(__LONG_LONG_MAX__)) return false;
    out = static_cast<long long>(v);
  }
  return true;
}

namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }

}  // namespace

RequestParser::Status RequestParser::fail(std::string message) {
  error_ = std::move(message);
  inline_ = false;
  argc_ = bulk_ = -1;
  pos_ = 0;
  return Status::kError;
}

RequestParser::Status RequestParser::incomplete(std::size_t needed) {
  needed_ = needed;
  return Status::kIncomplete;
}

RequestParser::Status RequestParser::done(const char* data, std::size_t end) {
  argv_.clear();
  for (const Arg& a : args_) argv_.emplace_back(data + a.offset, a.length);
  args_.clear();
  consumed_ = end;
  inline_ = false;
  argc_ = bulk_ = -1;
  pos_ = 0;
  return Status::kCommand;
}

RequestParser::Status RequestParser::parse(char* data, std::size_t len) {
  if (len == 0) return incomplete(1);
  if (argc_ < 0 && pos_ == 0) inline_ = data[0] != '*';
  return inline_ ? parse_inline(data, len) : parse_multibulk(data, len);
}

// "*N\r\n" then N times "$L\r\n<L bytes>\r\n". Resumes where the last call stopped,
// so a request arriving in many pieces is scanned once.
RequestParser::Status RequestParser::parse_multibulk(char* data, std::size_t len) {
  if (argc_ < 0) {
    const char* cr = static_cast<const char*>(std::memchr(data + 1, '\r', len - 1));
    if (!cr) {
      if (len > kMaxInlineLength) return fail("Protocol error: too big mbulk count string");
      return incomplete(len + 1);
    }
    const std::size_t at = static_cast<std::size_t>(cr - data);
    if (at + 1 >= len) return incomplete(at + 2);
    long long n;
    if (data[at + 1] != '\n' || !parse_ll(data + 1, at - 1, n) || n > kMaxMultibulkLength) {
      return fail("Protocol error: invalid multibulk length");
    }
    pos_ = at + 2;
    if (n <= 0) {  // "*0" or "*-1": an empty request, skipped as redis does
      args_.clear();
      return done(data, pos_);
    }
    argc_ = n;
    args_.clear();
  }
  while (static_cast<long long>(args_.size()) < argc_) {
    if (bulk_ < 0) {
      if (pos_ >= len) return incomplete(pos_ + 1);
      // The line first, then its type, in redis's order (so the errors match).
      const char* cr = static_cast<const char*>(std::memchr(data + pos_, '\r', len - pos_));
      if (!cr) {
        if (len - pos_ > kMaxInlineLength) return fail("Protocol error: too big bulk count string");
        return incomplete(len + 1);
      }
      const std::size_t at = static_cast<std::size_t>(cr - data);
      if (at + 1 >= len) return incomplete(at + 2);
      if (data[pos_] != '$') {
        std::string msg = "Protocol error: expected '$', got '";
        msg += data[pos_];
        msg += '\'';
        return fail(std::move(msg));
      }
      long long n;
      if (data[at + 1] != '\n' || !parse_ll(data + pos_ + 1, at - pos_ - 1, n) || n < 0 ||
          static_cast<unsigned long long>(n) > kMaxBulkLength) {
        return fail("Protocol error: invalid bulk length");
      }
      bulk_ = n;
      pos_ = at + 2;
    }
    const std::size_t blen = static_cast<std::size_t>(bulk_);
    if (len - pos_ < blen + 2) return incomplete(pos_ + blen + 2);
    if (data[pos_ + blen] != '\r' || data[pos_ + blen + 1] != '\n') {
      return fail("Protocol error: expected CRLF after a bulk string");
    }
    args_.push_back(Arg{pos_, blen});
    pos_ += blen + 2;
    bulk_ = -1;
  }
  return done(data, pos_);
}

// One line, split into arguments as redis's sdssplitargs does: blanks separate,
// "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' take
// \'. Unescaping happens in place: an argument never grows, so the write position
// never passes the read position.
RequestParser::Status RequestParser::parse_inline(char* data, std::size_t len) {
  // pos_ remembers how far a previous call searched for the newline.
  const char* nl = static_cast<const char*>(std::memchr(data + pos_, '\n', len - pos_));
  if (!nl) {
    if (len > kMaxInlineLength) return fail("Protocol error: too big inline request");
    pos_ = len;
    return incomplete(len + 1);
  }
  const std::size_t end = static_cast<std::size_t>(nl - data) + 1;
  if (end - 1 > kMaxInlineLength) return fail("Protocol error: too big inline request");
  char* p = data;
  char* const line_end = data + end - 1;
  args_.clear();
  for (;;) {
    while (p < line_end && is_space(*p)) ++p;
    if (p == line_end) break;
    char* out = p;
    char* const start = out;
    bool in_dq = false, in_sq = false;
    for (;;) {
      if (in_dq) {
        if (p == line_end) return fail("Protocol error: unbalanced quotes in request");
        if (*p == '\\' && line_end - p >= 4 && p[1] == 'x' && is_hex(p[2]) && is_hex(p[3])) {
          *out++ = static_cast<char>(hex_value(p[2]) * 16 + hex_value(p[3]));
          p += 4;
        } else if (*p == '\\' && line_end - p >= 2) {
          char c = p[1];
          switch (c) {
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'b': c = '\b'; break;
            case 'a': c = '\a'; break;
            default: break;
          }
          *out++ = c;
          p += 2;
        } else if (*p == '"') {
          // A closing quote must be followed by a blank or the end of the line.
          if (p + 1 < line_end && !is_space(p[1])) return fail("Protocol error: unbalanced quotes in request");
          ++p;
          break;
        } else {
          *out++ = *p++;
        }
      } else if (in_sq) {
        if (p == line_end) return fail("Protocol error: unbalanced quotes in request");
        if (*p == '\\' && line_end - p >= 2 && p[1] == '\'') {
          *out++ = '\'';
          p += 2;
        } else if (*p == '\'') {
          if (p + 1 < line_end && !is_space(p[1])) return fail("Protocol error: unbalanced quotes in request");
          ++p;
          break;
        } else {
          *out++ = *p++;
        }
      } else {
        if (p == line_end || is_space(*p)) break;
        if (*p == '"') {
          in_dq = true;
          ++p;
        } else if (*p == '\'') {
          in_sq = true;
          ++p;
        } else {
          *out++ = *p++;
        }
      }
    }
    args_.push_back(Arg{static_cast<std::size_t>(start - data), static_cast<std::size_t>(out - start)});
  }
  return done(data, end);
}

}  // namespace kv
