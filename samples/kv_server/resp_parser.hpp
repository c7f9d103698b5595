// resp_parser.hpp: the request parser of kv_server (RESP2 multibulk and inline
// commands), incremental and in place.
//
// Why not hiredis's redisReader: it is a reply parser, and requests are arrays of
// bulk strings in the same format, so it could parse them; it was left out because
//   - it copies every byte fed to it into a buffer of its own, then copies each
//     argument again into a redisReply it allocates (or, with custom object
//     functions, into storage of ours, since the reader moves its buffer when it
//     compacts it), while this parser hands out views into the connection's receive
//     buffer: no copy and no allocation per request;
//   - it buffers a bulk string whole before anyone sees it and only checks its length
//     against SIZE_MAX, so a peer announcing `$2000000000` would make it buffer 2 GB;
//     redis refuses bulks over 512 MiB as soon as it reads the header line, and so
//     does this parser;
//   - it accepts reply types a request never has (`+`, `:`, `-`, nested arrays, RESP3
//     maps), each of which would need a check after the fact;
//   - it has no inline commands (`PING\r\n` typed into telnet), which redis and
//     redis-benchmark's PING_INLINE use.
// The tests drive the server with hiredis and redis-cli, so the two parsers meet on
// every request anyway.
//
// Limits, as redis's defaults: a bulk string is at most 512 MiB, an inline request
// or a header line at most 64 KiB, a multibulk at most 1,048,576 arguments. Going
// over one, or any malformed frame, is an error; the caller replies with it and
// closes the connection (redis does the same). One stricter point than redis: a bulk
// string must be followed by "\r\n" (redis skips two bytes unchecked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

inline constexpr std::size_t kMaxBulkLength = std::size_t{512} << 20;
inline constexpr std::size_t kMaxInlineLength = std::size_t{64} << 10;
inline constexpr long long kMaxMultibulkLength = 1024 * 1024;

// Parses a whole decimal integer the way redis's string2ll does: an optional '-',
// no '+', no spaces, no leading zeros, no "-0", within long long.
bool parse_ll(const char* p, std::size_t n, long long& out);
inline bool parse_ll(std::string_view s, long long& out) { return parse_ll(s.data(), s.size(), out); }

class RequestParser {
 public:
  enum class Status : std::uint8_t {
    kCommand,     // argv() holds a request (possibly empty: skip it), consumed() bytes
    kIncomplete,  // more bytes are needed: needed() from the start of the request
    kError,       // malformed or oversized: error() says how, as redis words it
  };

  // Parses the request at the start of `data`. Between calls `data` must keep its
  // bytes (it may move: the parser keeps offsets, not pointers) and only grow at the
  // end, until a kCommand or kError; then the next request starts at
  // data + consumed(). Inline requests are unescaped in place, so `data` is written.
  // Never allocates once argv's capacity suffices.
  Status parse(char* data, std::size_t len);

  // After kCommand: the arguments, views into `data`, valid until it changes.
  const std::vector<std::string_view>& argv() const noexcept { return argv_; }
  std::size_t consumed() const noexcept { return consumed_; }
  // After kIncomplete: the total length `data` must reach before parse() can make
  // progress (at least len + 1; a whole bulk string when its header is read).
  std::size_t needed() const noexcept { return needed_; }
  // After kError: the message, e.g. "Protocol error: invalid bulk length".
  const std::string& error() const noexcept { return error_; }

 private:
  struct Arg {
    std::size_t offset;
    std::size_t length;
  };
  Status parse_inline(char* data, std::size_t len);
  Status parse_multibulk(char* data, std::size_t len);
  Status fail(std::string message);
  Status incomplete(std::size_t needed);
  Status done(const char* data, std::size_t end);

  // State of a request in progress (all offsets from the start of `data`).
  bool inline_ = false;      // the request in progress is an inline one
  long long argc_ = -1;      // arguments announced by "*N"; -1 before the header
  long long bulk_ = -1;      // length announced by the pending "$N"; -1 before it
  std::size_t pos_ = 0;      // where parsing resumes
  std::vector<Arg> args_;    // the bulk strings read so far

  std::vector<std::string_view> argv_;
  std::size_t consumed_ = 0;
  std::size_t needed_ = 0;
  std::string error_;
};

}  // namespace kv
