// kv_server_fuzz.cpp: samples/kv_server's request parser (RESP multibulk and inline)
// and its command dispatch, over arbitrary bytes.
//
// Input: one seed byte for the split points (fuzz_support.hpp), then the bytes a
// client sends. Properties:
//   - the same requests (or the same error) come out whether the bytes arrive at
//     once or in reads cut anywhere, the parser's contract being followed: the data
//     only grows at its end, and kIncomplete asks for more than it has;
//   - a request's arguments lie inside the bytes it consumed;
//   - a request re-serialised as a multibulk parses back to the same arguments,
//     consuming exactly the serialised bytes;
//   - each request executed appends exactly one well-formed RESP reply, and QUIT
//     ends the connection.
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../../samples/kv_server/client.hpp"
#include "../../samples/kv_server/commands.hpp"
#include "../../samples/kv_server/reply.hpp"
#include "../../samples/kv_server/resp_parser.hpp"
#include "../../samples/kv_server/server_state.hpp"
#include "fuzz_support.hpp"

namespace {

using kv::RequestParser;

// A client whose BLPOP / BRPOP never waits: it answers as a timeout would.
class FuzzClient final : public kv::Client {
 public:
  using Client::Client;
  void block_pop(std::span<const std::string_view>, std::optional<grove::Duration>, bool) override {
    kv::reply::nil_array(out_);
  }
};

// One outcome of parsing: a request's arguments, or an error's message.
struct Outcome {
  bool error = false;
  std::vector<std::string> argv;
  std::string message;
  bool operator==(const Outcome&) const = default;
};

// The length of the one RESP reply at the start of `s` (simple string, error,
// integer, bulk, nil, or an array of those), or 0 if it is not one.
std::size_t reply_length(std::string_view s, int depth = 0) {
  if (s.empty() || depth > 4) return 0;
  const std::size_t eol = s.find("\r\n");
  if (eol == std::string_view::npos) return 0;
  const std::string_view line = s.substr(1, eol - 1);
  long long n = 0;
  switch (s[0]) {
    case '+':
    case '-':
      return line.find_first_of("\r\n") == std::string_view::npos ? eol + 2 : 0;
    case ':':
      return kv::parse_ll(line, n) ? eol + 2 : 0;
    case '$': {
      if (!kv::parse_ll(line, n) || n < -1) return 0;
      if (n == -1) return eol + 2;
      const std::size_t end = eol + 2 + static_cast<std::size_t>(n);
      return end + 2 <= s.size() && s.substr(end, 2) == "\r\n" ? end + 2 : 0;
    }
    case '*': {
      if (!kv::parse_ll(line, n) || n < -1) return 0;
      std::size_t at = eol + 2;
      for (long long i = 0; i < n; ++i) {
        const std::size_t m = reply_length(s.substr(at), depth + 1);
        if (m == 0) return 0;
        at += m;
      }
      return at;
    }
    default:
      return 0;
  }
}

std::vector<std::string> copy_argv(const RequestParser& p) {
  std::vector<std::string> v;
  for (std::string_view a : p.argv()) v.emplace_back(a);
  return v;
}

// Parses `bytes` arriving in one piece; executes each request if `run`; returns
// the outcomes.
std::vector<Outcome> parse_whole(std::string bytes, bool run) {
  std::vector<Outcome> out;
  std::optional<kv::ServerState> server;
  std::optional<FuzzClient> client;
  if (run) client.emplace(server.emplace());
  RequestParser parser;
  std::size_t begin = 0;
  for (;;) {
    char* const data = bytes.data() + begin;
    const std::size_t len = bytes.size() - begin;
    const RequestParser::Status st = parser.parse(data, len);
    if (st == RequestParser::Status::kIncomplete) {
      FUZZ_CHECK(parser.needed() > len, "kIncomplete asks for more than it has");
      break;
    }
    if (st == RequestParser::Status::kError) {
      FUZZ_CHECK(!parser.error().empty(), "an error has a message");
      out.push_back(Outcome{true, {}, parser.error()});
      break;
    }
    FUZZ_CHECK(parser.consumed() > 0 && parser.consumed() <= len, "a request consumes what it was given");
    for (std::string_view a : parser.argv()) {
      FUZZ_CHECK(a.empty() || (a.data() >= data && a.data() + a.size() <= data + parser.consumed()),
                 "arguments lie inside the consumed bytes");
    }
    out.push_back(Outcome{false, copy_argv(parser), {}});
    begin += parser.consumed();
    if (run && !parser.argv().empty()) {
      const std::size_t before = client->out().size();
      kv::execute(*client, parser.argv());
      const std::string_view reply = std::string_view(client->out()).substr(before);
      FUZZ_CHECK(reply_length(reply) == reply.size() && !reply.empty(), "one well-formed reply per request");
      if (client->closing()) {
        FUZZ_CHECK(reply == "+OK\r\n", "QUIT answers +OK");
        break;
      }
    }
  }
  return out;
}

// The same bytes arriving in reads of the splitter's sizes, as a connection feeds
// its buffer: the unconsumed bytes stay, new ones are appended.
std::vector<Outcome> parse_split(std::string_view bytes, fuzz::Splitter split) {
  std::vector<Outcome> out;
  RequestParser parser;
  std::string buf;
  std::size_t begin = 0, fed = 0;
  for (;;) {
    const RequestParser::Status st = parser.parse(buf.data() + begin, buf.size() - begin);
    if (st == RequestParser::Status::kIncomplete) {
      FUZZ_CHECK(parser.needed() > buf.size() - begin, "kIncomplete asks for more than it has");
      if (fed == bytes.size()) break;
      const std::size_t n = split.next(bytes.size() - fed);
      // The buffer may move (the parser keeps offsets): append, then compact now and then.
      buf.append(bytes.substr(fed, n));
      fed += n;
      continue;
    }
    if (st == RequestParser::Status::kError) {
      out.push_back(Outcome{true, {}, parser.error()});
      break;
    }
    out.push_back(Outcome{false, copy_argv(parser), {}});
    begin += parser.consumed();
    if (begin == buf.size()) {
      buf.clear();
      begin = 0;
    }
  }
  return out;
}

std::string multibulk(const std::vector<std::string>& argv) {
  std::string s = "*" + std::to_string(argv.size()) + "\r\n";
  for (const std::string& a : argv) s.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const fuzz::Splitter split(data[0]);
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  const std::vector<Outcome> whole = parse_whole(std::string(bytes), false);
  FUZZ_CHECK(parse_split(bytes, split) == whole, "the same requests however the bytes are split");

  for (const Outcome& o : whole) {
    if (o.error || o.argv.empty()) continue;
    std::string wire = multibulk(o.argv);
    RequestParser p;
    const RequestParser::Status st = p.parse(wire.data(), wire.size());
    FUZZ_CHECK(st == RequestParser::Status::kCommand, "a re-serialised request parses");
    FUZZ_CHECK(p.consumed() == wire.size(), "it consumes exactly the serialised bytes");
    FUZZ_CHECK(copy_argv(p) == o.argv, "it parses back to the same arguments");
  }

  parse_whole(std::string(bytes), true);  // dispatch: one reply per request
  return 0;
}
