// kv_parser_test.cpp: kv_server's request parser (samples/kv_server/resp_parser.*),
// checked against hiredis's reader (Debian's libhiredis-dev) on random requests cut
// into random pieces, and fuzzed with random mutations (run under ASan in CI).
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "../../samples/kv_server/resp_parser.hpp"

namespace {

using Status = kv::RequestParser::Status;
using Argv = std::vector<std::string>;

std::string encode(const Argv& args) {
  // Appends only: GCC 12 warns (-Wrestrict, a false positive) on "*" + std::string.
  std::string out = "*";
  out.append(std::to_string(args.size())).append("\r\n");
  for (const auto& a : args) out.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  return out;
}

// Feeds `wire` to a parser in pieces whose sizes come from `cuts` (cycled), as a
// connection would: the buffer grows at the end, consumed requests leave the front.
// Returns the requests parsed, stopping at the first error (`error` says which).
std::vector<Argv> parse_in_pieces(const std::string& wire, const std::vector<std::size_t>& cuts,
                                  std::string* error = nullptr) {
  kv::RequestParser p;
  std::vector<Argv> got;
  std::string buf;
  std::size_t fed = 0, cut = 0;
  while (fed < wire.size()) {
    const std::size_t n = std::min(wire.size() - fed, std::max<std::size_t>(1, cuts[cut++ % cuts.size()]));
    buf.append(wire, fed, n);
    fed += n;
    for (;;) {
      const Status st = p.parse(buf.data(), buf.size());
      if (st == Status::kIncomplete) {
        REQUIRE(p.needed() > buf.size());
        break;
      }
      if (st == Status::kError) {
        if (error) *error = p.error();
        return got;
      }
      REQUIRE(p.consumed() <= buf.size());
      Argv a;
      for (std::string_view v : p.argv()) {
        REQUIRE(v.data() >= buf.data());
        REQUIRE(v.data() + v.size() <= buf.data() + p.consumed());
        a.emplace_back(v);
      }
      if (!a.empty()) got.push_back(std::move(a));
      buf.erase(0, p.consumed());
    }
  }
  return got;
}

// What hiredis's reader makes of the same bytes (arrays of strings only).
std::vector<Argv> parse_with_hiredis(const std::string& wire) {
  redisReader* r = redisReaderCreate();
  REQUIRE(redisReaderFeed(r, wire.data(), wire.size()) == REDIS_OK);
  std::vector<Argv> got;
  for (;;) {
    void* v = nullptr;
    REQUIRE(redisReaderGetReply(r, &v) == REDIS_OK);
    if (!v) break;
    auto* reply = static_cast<redisReply*>(v);
    REQUIRE(reply->type == REDIS_REPLY_ARRAY);
    Argv a;
    for (std::size_t i = 0; i < reply->elements; ++i) a.emplace_back(reply->element[i]->str, reply->element[i]->len);
    got.push_back(std::move(a));
    freeReplyObject(reply);
  }
  redisReaderFree(r);
  return got;
}

Argv random_request(std::mt19937& rng) {
  std::uniform_int_distribution<int> argc(1, 6), kind(0, 9), byte(0, 255);
  Argv a;
  const int n = argc(rng);
  for (int i = 0; i < n; ++i) {
    std::size_t len = 0;
    switch (kind(rng)) {
      case 0: len = 0; break;
      case 1: len = 5000 + rng() % 70000; break;  // past the initial buffer
      default: len = rng() % 40; break;
    }
    std::string s(len, '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    a.push_back(std::move(s));
  }
  return a;
}

std::vector<Argv> inline_args(const std::string& line, std::string* error = nullptr) {
  return parse_in_pieces(line, {line.size()}, error);
}

}  // namespace

TEST_CASE("random requests cut into random pieces parse as hiredis's reader parses them") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::string wire;
    std::vector<Argv> sent;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      sent.push_back(random_request(rng));
      wire += encode(sent.back());
    }
    std::vector<std::size_t> cuts;
    for (int i = 0; i < 16; ++i) cuts.push_back(rng() % 3 == 0 ? 1 + rng() % 3 : 1 + rng() % 20000);
    const auto ours = parse_in_pieces(wire, cuts);
    CHECK(ours == sent);
    CHECK(ours == parse_with_hiredis(wire));
  }
}

TEST_CASE("a request fed one byte at a time parses whole") {
  const Argv a = {"SET", "key", std::string("v\0\r\nal", 6)};
  CHECK(parse_in_pieces(encode(a) + encode(a), {1}) == std::vector<Argv>{a, a});
}

TEST_CASE("inline requests split like redis's sdssplitargs") {
  CHECK(inline_args("PING\r\n") == std::vector<Argv>{{"PING"}});
  CHECK(inline_args("  SET  k   v  \n") == std::vector<Argv>{{"SET", "k", "v"}});
  CHECK(inline_args("SET k \"a b\\x41\\n\\\"\"\r\n") == std::vector<Argv>{{"SET", "k", "a bA\n\""}});
  CHECK(inline_args("ECHO 'it\\'s'\r\n") == std::vector<Argv>{{"ECHO", "it's"}});
  CHECK(inline_args("ECHO \"\"\r\n") == std::vector<Argv>{{"ECHO", ""}});
  CHECK(inline_args("\r\n\r\nPING\r\n") == std::vector<Argv>{{"PING"}});  // empty lines are skipped
  std::string err;
  CHECK(inline_args("SET k \"open\r\n", &err).empty());
  CHECK(err == "Protocol error: unbalanced quotes in request");
  CHECK(inline_args("SET k 'a'b\r\n", &err).empty());
  CHECK(err == "Protocol error: unbalanced quotes in request");
}

TEST_CASE("oversized frames are refused as soon as their header is read") {
  std::string err;
  parse_in_pieces("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n", {4096}, &err);
  CHECK(err == "Protocol error: invalid bulk length");
  parse_in_pieces("*1048577\r\n", {4096}, &err);
  CHECK(err == "Protocol error: invalid multibulk length");
  parse_in_pieces(std::string(70000, 'x'), {4096}, &err);
  CHECK(err == "Protocol error: too big inline request");
  parse_in_pieces("*1\r\n$" + std::string(70000, '1'), {4096}, &err);
  CHECK(err == "Protocol error: too big bulk count string");
  // The largest allowed bulk is only waited for.
  kv::RequestParser p;
  std::string head = "*1\r\n$536870912\r\n";
  CHECK(p.parse(head.data(), head.size()) == Status::kIncomplete);
  CHECK(p.needed() == head.size() + (std::size_t{512} << 20) + 2);
}

TEST_CASE("malformed frames are errors") {
  for (const char* frame : {"*1\r\n+PING\r\n", "*abc\r\n", "*1\r\n$-1\r\n", "*1\r\n$01\r\nx\r\n",
                            "*1\r\n$1\r\nxyz\r\n", "*1\r\n$1\nx\r\n", "*-\r\n"}) {
    std::string err;
    CHECK_MESSAGE(parse_in_pieces(frame, {1}, &err).empty(), frame);
    CHECK_MESSAGE(err.rfind("Protocol error: ", 0) == 0, frame);
  }
  CHECK(parse_in_pieces("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", {3}) == std::vector<Argv>{{"PING"}});
}

TEST_CASE("random mutations of valid requests end in requests, waiting or an error") {
  std::mt19937 rng(777);
  for (int round = 0; round < 3000; ++round) {
    std::string wire;
    for (int i = 0; i < 3; ++i) wire += rng() % 4 == 0 ? std::string("GET \"k\\x4") + "1\" 'v'\r\n"
                                                        : encode({"SET", "key" + std::to_string(i), "value"});
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const std::size_t at = rng() % wire.size();
      static const char kTokens[] = "*$\r\n\"'\\-0123456789 x";
      wire[at] = rng() % 2 ? kTokens[rng() % (sizeof kTokens - 1)] : static_cast<char>(rng());
    }
    if (rng() % 4 == 0) wire.resize(rng() % wire.size());
    std::string err;
    parse_in_pieces(wire, {1 + rng() % 7, 1 + rng() % 50}, &err);  // REQUIREs inside check the invariants
  }
}
