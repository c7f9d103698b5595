// monkey_hiredis_test.cpp: hiredis's synchronous client, unchanged, made concurrent by
// patch_all(). A real redis-server is started on a free loopback port; many green
// threads each on their own connection wait in BLPOP at once, and the server's
// INFO clients shows them blocked together.
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <string>
#include <vector>

#include <grove/monkey.hpp>

#include "monkey_util.hpp"

extern char** environ;

using namespace std::chrono_literals;
using grove::test::now_s;

namespace {

const bool g_started = [] {
  grove::current();
  return true;
}();

// A redis-server child process on a free loopback port, killed at scope exit.
class RedisServer {
 public:
  RedisServer() {
    // The free port is found by binding and closing a socket, so another process may
    // take it before redis-server binds it: then redis-server exits, and we try again.
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (start_on(free_port())) return;
    }
    FAIL("redis-server did not start");
  }
  ~RedisServer() {
    ::kill(pid_, SIGTERM);
    int status;
    ::waitpid(pid_, &status, 0);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts redis-server on `port` and waits until it answers PING (so a server some
  // other process started on that port is never mistaken for it). False if it exited.
  bool start_on(int port) {
    port_ = port;
    const std::string arg = std::to_string(port_);
    const char* argv[] = {"redis-server", "--port", arg.c_str(), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--logfile", "/dev/null", nullptr};
    REQUIRE(::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
    for (int i = 0; i < 500; ++i) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return false;  // could not bind: exited
      if (redisContext* c = connect()) {
        auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
        const bool pong = r && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
        freeReplyObject(r);
        redisFree(c);
        if (pong) return true;
      }
      grove::sleep(20ms);
    }
    FAIL("redis-server on port " << port_ << " did not answer PING in 10 s");
    return false;
  }

  redisContext* connect() const {
    redisContext* c = redisConnect("127.0.0.1", port_);
    if (c && c->err) {
      redisFree(c);
      return nullptr;
    }
    return c;
  }

 private:
  static int free_port() {
    grove::test::Listener l;
    return ntohs(l.addr.sin_port);
  }
  pid_t pid_ = -1;
  int port_ = 0;
};

// The blocked_clients field of INFO clients.
int blocked_clients(redisContext* c) {
  auto* r = static_cast<redisReply*>(redisCommand(c, "INFO clients"));
  int n = -1;
  if (r && r->type == REDIS_REPLY_STRING) {
    const std::string s(r->str, r->len);
    const auto at = s.find("blocked_clients:");
    if (at != std::string::npos) n = std::stoi(s.substr(at + 16));
  }
  freeReplyObject(r);
  return n;
}

struct Run {
  int nil_replies = 0;
  int max_blocked = 0;
  double seconds = 0;
};

// n green threads each BLPOP an empty list with a 0.3 s server-side timeout, while
// another green thread samples INFO clients.
Run blpop_all(const RedisServer& server, int n) {
  Run run;
  bool done = false;
  auto sampler = grove::spawn([&] {
    redisContext* c = server.connect();
    REQUIRE(c);
    while (!done) {
      const int b = blocked_clients(c);
      if (b > run.max_blocked) run.max_blocked = b;
      grove::sleep(10ms);  // a grove call: yields even when unpatched
    }
    redisFree(c);
  });
  std::vector<grove::GreenThread<void>> gs;
  const double t0 = now_s();
  for (int i = 0; i < n; ++i) {
    gs.push_back(grove::spawn([&, i] {
      redisContext* c = server.connect();
      REQUIRE(c);
      const std::string key = "grove-monkey-list-" + std::to_string(i);
      auto* r = static_cast<redisReply*>(redisCommand(c, "BLPOP %s 0.3", key.c_str()));
      if (r && r->type == REDIS_REPLY_NIL) ++run.nil_replies;
      freeReplyObject(r);
      redisFree(c);
    }));
  }
  for (auto& g : gs) g.join();
  run.seconds = now_s() - t0;
  done = true;
  sampler.join();
  return run;
}

}  // namespace

GROVE_TEST("30 green threads wait in hiredis BLPOP at the same time") {
  grove::monkey::patch_all();
  RedisServer server;
  const Run run = blpop_all(server, 30);
  MESSAGE("30 BLPOPs of 0.3 s took " << run.seconds << " s; server saw " << run.max_blocked << " blocked at once");
  CHECK(run.nil_replies == 30);
  CHECK(run.max_blocked == 30);
  CHECK(run.seconds >= 0.25);
  CHECK(run.seconds < 5.0);  // one after another: 9 s
}

GROVE_TEST("without patch_all() hiredis BLPOPs run one after another") {
  RedisServer server;  // started patched: its readiness probe parks
  grove::monkey::unpatch_all();
  const Run run = blpop_all(server, 3);
  MESSAGE("3 unpatched BLPOPs took " << run.seconds << " s; server saw " << run.max_blocked << " blocked at once");
  CHECK(run.nil_replies == 3);
  CHECK(run.max_blocked <= 1);
  CHECK(run.seconds >= 0.85);
  grove::monkey::patch_all();
}
