// reply.hpp: RESP2 replies appended to a connection's output buffer.
//
// Replies are appended, never sent: the connection sends whatever a batch of
// pipelined requests produced in one send. Appending to a buffer that has the
// capacity allocates nothing.
#pragma once

#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>

namespace kv::reply {

inline void integer_line(std::string& out, char type, long long v) {
  char buf[24];
  buf[0] = type;
  char* end = std::to_chars(buf + 1, buf + sizeof buf - 2, v).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, static_cast<std::size_t>(end - buf));
}

// +OK
inline void simple(std::string& out, std::string_view s) {
  out += '+';
  out += s;
  out += "\r\n";
}
inline void ok(std::string& out) { out.append("+OK\r\n", 5); }

// -ERR ...: `msg` starts with the error code ("ERR", "WRONGTYPE"). CR and LF would
// end the line early, so they become spaces, as redis does.
inline void error(std::string& out, std::string_view msg) {
  out += '-';
  const std::size_t at = out.size();
  out += msg;
  for (std::size_t i = at; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out += "\r\n";
}

// :42
inline void integer(std::string& out, long long v) { integer_line(out, ':', v); }

// $5\r\nhello\r\n
inline void bulk(std::string& out, std::string_view s) {
  integer_line(out, '$', static_cast<long long>(s.size()));
  out += s;
  out += "\r\n";
}

// $-1: a missing value.
inline void nil(std::string& out) { out.append("$-1\r\n", 5); }
// *-1: a missing array (BLPOP's timeout, LPOP key count on a missing key).
inline void nil_array(std::string& out) { out.append("*-1\r\n", 5); }

// *N, followed by N replies.
inline void array(std::string& out, std::size_t n) { integer_line(out, '*', static_cast<long long>(n)); }

// The errors redis words the same way everywhere.
inline constexpr std::string_view kWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kSyntax = "ERR syntax error";

}  // namespace kv::reply
