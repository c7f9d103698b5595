// kv_fault_client: a hiredis client (Debian's libhiredis-dev) for kv_server behind
// the fault proxy. Run by drive_faults.py:
//
//   kv_fault_client PORT TIMEOUT_MS check N SIZE     SET then GET N values of SIZE
//                                                    random bytes, pipelined, and
//                                                    checks every byte; prints "ok N"
//   kv_fault_client PORT TIMEOUT_MS cmd ARG...       one command; prints how it ended
//
// TIMEOUT_MS is hiredis's connect and command timeout (redisSetTimeout). `cmd`
// prints one line: "reply TYPE LEN ELAPSED_MS" (TYPE: nil, status, error, integer,
// string, array; LEN: the string's length, the array's size, or the integer) or
// "error ERRSTR ELAPSED_MS" for a transport error (timeout, reset, end of file), and
// exits 0 either way: the caller judges. `check` exits 1 naming the first failure.
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "kv_fault_client: FAILED: %s\n", what.c_str());
  std::exit(1);
}

const char* type_name(int t) {
  switch (t) {
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_STATUS: return "status";
    case REDIS_REPLY_ERROR: return "error";
    case REDIS_REPLY_INTEGER: return "integer";
    case REDIS_REPLY_STRING: return "string";
    case REDIS_REPLY_ARRAY: return "array";
    default: return "other";
  }
}

int check(redisContext* c, int n, std::size_t size) {
  std::mt19937 rng(12345);
  std::vector<std::string> values(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::string& v = values[static_cast<std::size_t>(i)];
    v.resize(size);
    for (auto& ch : v) ch = static_cast<char>(rng());  // binary, CR and LF included
    const std::string key = "fault:" + std::to_string(i);
    redisAppendCommand(c, "SET %b %b", key.data(), key.size(), v.data(), v.size());
  }
  for (int i = 0; i < n; ++i) {
    const std::string key = "fault:" + std::to_string(i);
    redisAppendCommand(c, "GET %b", key.data(), key.size());
  }
  for (int i = 0; i < 2 * n; ++i) {
    void* r = nullptr;
    if (redisGetReply(c, &r) != REDIS_OK) fail(std::string("reply ") + std::to_string(i) + ": " + c->errstr);
    auto* reply = static_cast<redisReply*>(r);
    if (i < n) {
      if (reply->type != REDIS_REPLY_STATUS || std::string(reply->str) != "OK") fail("SET " + std::to_string(i));
    } else {
      const std::string& want = values[static_cast<std::size_t>(i - n)];
      if (reply->type != REDIS_REPLY_STRING || std::string(reply->str, reply->len) != want)
        fail("GET " + std::to_string(i - n) + ": value differs");
    }
    freeReplyObject(reply);
  }
  std::printf("ok %d\n", n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: kv_fault_client PORT TIMEOUT_MS check N SIZE | cmd ARG...\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const long ms = std::atol(argv[2]);
  const std::string mode = argv[3];
  timeval tv{ms / 1000, static_cast<suseconds_t>((ms % 1000) * 1000)};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (!c || c->err) fail(std::string("connect: ") + (c ? c->errstr : "no context"));
  redisSetTimeout(c, tv);
  int status = 0;
  if (mode == "check" && argc == 6) {
    status = check(c, std::atoi(argv[4]), static_cast<std::size_t>(std::atol(argv[5])));
  } else if (mode == "cmd" && argc > 4) {
    std::vector<const char*> args(argv + 4, argv + argc);
    std::vector<std::size_t> lens;
    for (const char* a : args) lens.push_back(std::string(a).size());
    const auto t0 = std::chrono::steady_clock::now();
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
    const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!r) {
      std::printf("error %s %.1f\n", c->errstr, elapsed);
    } else {
      long long len = r->type == REDIS_REPLY_ARRAY    ? static_cast<long long>(r->elements)
                      : r->type == REDIS_REPLY_INTEGER ? r->integer
                                                       : static_cast<long long>(r->len);
      std::printf("reply %s %lld %.1f\n", type_name(r->type), len, elapsed);
      freeReplyObject(r);
    }
  } else {
    std::fprintf(stderr, "kv_fault_client: bad arguments\n");
    status = 2;
  }
  redisFree(c);
  return status;
}
