// kv_hiredis_client: drives kv_server with hiredis (Debian's libhiredis-dev), a
// client no one here wrote. Run by drive_kv_server.py:
//
//   kv_hiredis_client PORT
//
// Checks reply types and values, binary-safe and large values, pipelining (1,000
// appended commands, then the replies), and blocking pops served first-come first
// served: two connections block in BLPOP, a third pushes. Exits 0 when all pass,
// 1 with a message naming the first failure.
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

int g_port = 0;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "kv_hiredis_client: FAILED: %s\n", what.c_str());
  std::exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

redisContext* connect() {
  timeval tv{10, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", g_port, tv);
  if (!c || c->err) fail(std::string("connect: ") + (c ? c->errstr : "no context"));
  redisSetTimeout(c, tv);
  return c;
}

// Runs a command and returns its reply (never null; a transport error fails).
redisReply* run(redisContext* c, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  void* r = redisvCommand(c, fmt, ap);
  va_end(ap);
  if (!r) fail(std::string("transport error: ") + c->errstr);
  return static_cast<redisReply*>(r);
}

void expect_status(redisContext* c, const char* want, const char* cmd) {
  redisReply* r = run(c, cmd);
  check(r->type == REDIS_REPLY_STATUS && std::string(r->str) == want, std::string(cmd) + ": status " + want);
  freeReplyObject(r);
}

void expect_int(redisReply* r, long long want, const std::string& what) {
  check(r->type == REDIS_REPLY_INTEGER && r->integer == want, what + ": integer " + std::to_string(want));
  freeReplyObject(r);
}

void expect_str(redisReply* r, const std::string& want, const std::string& what) {
  check(r->type == REDIS_REPLY_STRING && std::string(r->str, r->len) == want, what + ": string");
  freeReplyObject(r);
}

void expect_error_prefix(redisReply* r, const std::string& prefix, const std::string& what) {
  check(r->type == REDIS_REPLY_ERROR && std::string(r->str).rfind(prefix, 0) == 0,
        what + ": error starting with " + prefix + " got " + (r->type == REDIS_REPLY_ERROR ? r->str : "no error"));
  freeReplyObject(r);
}

void basics(redisContext* c) {
  expect_status(c, "OK", "FLUSHALL");
  expect_status(c, "PONG", "PING");
  expect_status(c, "OK", "SET greeting hello");
  expect_str(run(c, "GET greeting"), "hello", "GET");
  redisReply* r = run(c, "GET missing");
  check(r->type == REDIS_REPLY_NIL, "GET missing: nil");
  freeReplyObject(r);
  // Binary-safe: NUL, CR and LF inside keys and values.
  const std::string bin("a\0b\r\nc", 6);
  r = run(c, "SET %b %b", bin.data(), bin.size(), bin.data(), bin.size());
  freeReplyObject(r);
  expect_str(run(c, "GET %b", bin.data(), bin.size()), bin, "GET binary");
  // A value larger than every buffer (5 MiB).
  std::string big(5 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  r = run(c, "SET big %b", big.data(), big.size());
  freeReplyObject(r);
  expect_str(run(c, "GET big"), big, "GET big");
  expect_int(run(c, "INCR counter"), 1, "INCR");
  expect_int(run(c, "DECR counter"), 0, "DECR");
  expect_int(run(c, "EXISTS greeting counter nothing"), 2, "EXISTS");
  expect_int(run(c, "DEL greeting counter nothing"), 2, "DEL");
  expect_int(run(c, "RPUSH list a b c"), 3, "RPUSH");
  expect_error_prefix(run(c, "GET list"), "WRONGTYPE", "GET list");
  expect_error_prefix(run(c, "NOSUCHCOMMAND x"), "ERR unknown command 'NOSUCHCOMMAND'", "unknown");
  expect_error_prefix(run(c, "GET"), "ERR wrong number of arguments for 'get' command", "arity");
  r = run(c, "MGET list big none");
  check(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_NIL &&
            r->element[1]->len == big.size() && r->element[2]->type == REDIS_REPLY_NIL,
        "MGET");
  freeReplyObject(r);
  expect_status(c, "OK", "FLUSHALL");
}

// 1,000 commands appended, sent together, then the 1,000 replies read in order.
void pipelining(redisContext* c) {
  constexpr int kN = 1000;
  for (int i = 0; i < kN; ++i) {
    if (i % 2 == 0) {
      redisAppendCommand(c, "SET key:%d value:%d", i, i);
    } else {
      redisAppendCommand(c, "INCR pipelined");
    }
  }
  for (int i = 0; i < kN; ++i) {
    void* v = nullptr;
    if (redisGetReply(c, &v) != REDIS_OK || !v) fail("pipelining: reply " + std::to_string(i));
    redisReply* r = static_cast<redisReply*>(v);
    if (i % 2 == 0) {
      check(r->type == REDIS_REPLY_STATUS && std::string(r->str) == "OK", "pipelined SET");
    } else {
      check(r->type == REDIS_REPLY_INTEGER && r->integer == (i + 1) / 2, "pipelined INCR in order");
    }
    freeReplyObject(r);
  }
  for (int i = 0; i < kN; i += 2) redisAppendCommand(c, "GET key:%d", i);
  for (int i = 0; i < kN; i += 2) {
    void* v = nullptr;
    if (redisGetReply(c, &v) != REDIS_OK || !v) fail("pipelined GET");
    expect_str(static_cast<redisReply*>(v), "value:" + std::to_string(i), "pipelined GET");
  }
}

// Sends a command without reading its reply.
void send_only(redisContext* c, const char* cmd) {
  redisAppendCommand(c, cmd);
  int done = 0;
  while (!done) {
    if (redisBufferWrite(c, &done) != REDIS_OK) fail("redisBufferWrite");
  }
}

long long blocked_clients(redisContext* c) {
  redisReply* r = run(c, "INFO");
  check(r->type == REDIS_REPLY_STRING, "INFO");
  const char* p = std::strstr(r->str, "blocked_clients:");
  check(p != nullptr, "INFO has blocked_clients");
  const long long n = std::atoll(p + std::strlen("blocked_clients:"));
  freeReplyObject(r);
  return n;
}

void wait_blocked(redisContext* c, long long n) {
  for (int i = 0; i < 2000 && blocked_clients(c) != n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  check(blocked_clients(c) == n, "blocked_clients reaches " + std::to_string(n));
}

void blocking_pops() {
  redisContext* a = connect();
  redisContext* b = connect();
  redisContext* pusher = connect();
  expect_int(run(pusher, "DEL jobs other"), 0, "DEL jobs");
  send_only(a, "BLPOP other jobs 0");  // several keys, forever
  wait_blocked(pusher, 1);
  send_only(b, "BLPOP jobs 0");
  wait_blocked(pusher, 2);
  // Both wake from one push, in the order they blocked.
  expect_int(run(pusher, "RPUSH jobs first second third"), 3, "RPUSH jobs");
  void* v = nullptr;
  check(redisGetReply(a, &v) == REDIS_OK && v, "BLPOP a reply");
  redisReply* r = static_cast<redisReply*>(v);
  check(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && std::string(r->element[0]->str) == "jobs" &&
            std::string(r->element[1]->str) == "first",
        "first blocked client gets the first element");
  freeReplyObject(r);
  check(redisGetReply(b, &v) == REDIS_OK && v, "BLPOP b reply");
  r = static_cast<redisReply*>(v);
  check(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && std::string(r->element[1]->str) == "second",
        "second blocked client gets the second element");
  freeReplyObject(r);
  expect_int(run(pusher, "LLEN jobs"), 1, "one element left");
  check(blocked_clients(pusher) == 0, "nobody blocked any more");
  // A timeout: a nil reply after about that long.
  const auto t0 = std::chrono::steady_clock::now();
  r = run(a, "BLPOP empty 0.2");
  check(r->type == REDIS_REPLY_NIL, "BLPOP timeout: nil");
  freeReplyObject(r);
  check(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(150), "BLPOP waited for its timeout");
  // BRPOP pops from the tail.
  send_only(b, "BRPOP tail 0");
  wait_blocked(pusher, 1);
  expect_int(run(pusher, "LPUSH tail x y"), 2, "LPUSH tail");
  check(redisGetReply(b, &v) == REDIS_OK && v, "BRPOP reply");
  r = static_cast<redisReply*>(v);
  check(r->type == REDIS_REPLY_ARRAY && std::string(r->element[1]->str) == "x", "BRPOP takes the tail");
  freeReplyObject(r);
  redisFree(a);
  redisFree(b);
  redisFree(pusher);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: kv_hiredis_client PORT\n");
    return 2;
  }
  g_port = std::atoi(argv[1]);
  redisContext* c = connect();
  basics(c);
  pipelining(c);
  redisFree(c);
  blocking_pops();
  std::printf("kv_hiredis_client: ok\n");
  return 0;
}
