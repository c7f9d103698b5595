// commands.cpp: the commands kv_server understands, worded as redis 7 words them.
//
//   strings  GET SET (NX XX GET EX PX KEEPTTL) MGET MSET INCR DECR INCRBY DECRBY
//   keys     DEL EXISTS TYPE KEYS EXPIRE PEXPIRE (NX XX GT LT) TTL PTTL PERSIST
//            DBSIZE FLUSHALL FLUSHDB
//   lists    LPUSH RPUSH LPOP RPOP (count) LLEN LRANGE BLPOP BRPOP
//   server   PING ECHO QUIT SELECT (0 only) INFO CONFIG GET (save, appendonly: what
//            redis-benchmark asks)
//
// KEYS and not SCAN: SCAN promises that a key present for the whole iteration is
// returned at least once, which over std::unordered_map (whose rehash reorders the
// buckets) would need redis's reverse-binary cursor over a hash table of our own.
//
// Each command is a function appending its reply to the connection's output; the
// table below maps a lower-cased name to it and to redis's arity (n: exactly n
// arguments with the name; -n: at least n).
#include "commands.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>

#include "client.hpp"
#include "glob.hpp"
#include "reply.hpp"
#include "resp_parser.hpp"

namespace kv {

namespace {

using Args = std::span<const std::string_view>;
constexpr long long kLLMax = std::numeric_limits<long long>::max();
constexpr long long kLLMin = std::numeric_limits<long long>::min();

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    char y = b[i];
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

const std::string* as_string(const Store::Slot* s) { return std::get_if<std::string>(&s->second.value); }
List* as_list(Store::Slot* s) { return std::get_if<List>(&s->second.value); }

// Stores `value` as the string of `key`, reusing the old string's capacity.
Store::Slot& set_string(Store& store, std::string_view key, std::string_view value) {
  bool created;
  Store::Slot& s = store.find_or_create(key, created);
  if (std::string* str = std::get_if<std::string>(&s.second.value)) {
    str->assign(value);
  } else {
    s.second.value.emplace<std::string>(value);
  }
  return s;
}

// --- server ---

void cmd_ping(Client& c, Args a) {
  if (a.size() > 2) return reply::error(c.out(), "ERR wrong number of arguments for 'ping' command");
  if (a.size() == 2) return reply::bulk(c.out(), a[1]);
  reply::simple(c.out(), "PONG");
}

void cmd_echo(Client& c, Args a) { reply::bulk(c.out(), a[1]); }

void cmd_quit(Client& c, Args) {
  reply::ok(c.out());
  c.close_after_reply();
}

void cmd_select(Client& c, Args a) {
  long long db;
  if (!parse_ll(a[1], db)) return reply::error(c.out(), reply::kNotInteger);
  if (db != 0) return reply::error(c.out(), "ERR DB index is out of range");
  reply::ok(c.out());
}

void cmd_config(Client& c, Args a) {
  if (!iequals(a[1], "get")) {
    return reply::error(c.out(), "ERR unknown subcommand '" + std::string(a[1]) + "'. Try CONFIG HELP.");
  }
  if (a.size() < 3) return reply::error(c.out(), "ERR wrong number of arguments for 'config|get' command");
  // Only what redis-benchmark reads; every other parameter is reported as unknown
  // (an empty result), as redis does for names it does not have.
  std::string_view pairs[4];
  std::size_t n = 0;
  for (std::size_t i = 2; i < a.size(); ++i) {
    if (iequals(a[i], "save") && n < 4) {
      pairs[n++] = "save";
      pairs[n++] = "";
    } else if (iequals(a[i], "appendonly") && n < 4) {
      pairs[n++] = "appendonly";
      pairs[n++] = "no";
    }
  }
  reply::array(c.out(), n);
  for (std::size_t i = 0; i < n; ++i) reply::bulk(c.out(), pairs[i]);
}

void cmd_info(Client& c, Args) {
  const Store& st = c.store();
  std::string info = "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nserver:kv_server (grove)\r\n\r\n";
  info += "# Clients\r\nconnected_clients:" + std::to_string(c.server().clients.load(std::memory_order_relaxed)) +
          "\r\nblocked_clients:" + std::to_string(st.blocked_clients()) + "\r\n\r\n";
  info += "# Keyspace\r\n";
  if (st.size() > 0) {
    info += "db0:keys=" + std::to_string(st.size()) + ",expires=" + std::to_string(st.expiring()) + ",avg_ttl=0\r\n";
  }
  reply::bulk(c.out(), info);
}

void cmd_dbsize(Client& c, Args) { reply::integer(c.out(), static_cast<long long>(c.store().size())); }

void cmd_flushall(Client& c, Args a) {
  if (a.size() > 2 || (a.size() == 2 && !iequals(a[1], "async") && !iequals(a[1], "sync"))) {
    return reply::error(c.out(), reply::kSyntax);
  }
  c.store().clear();
  reply::ok(c.out());
}

// --- strings ---

void cmd_get(Client& c, Args a) {
  Store::Slot* s = c.store().find(a[1]);
  if (!s) return reply::nil(c.out());
  const std::string* str = as_string(s);
  if (!str) return reply::error(c.out(), reply::kWrongType);
  reply::bulk(c.out(), *str);
}

// What an expiry time is bounded against: redis keeps absolute Unix-epoch
// milliseconds and refuses a time that would overflow them. This store keeps
// CLOCK_MONOTONIC milliseconds (`now`, much smaller), so the bound uses the epoch too,
// and the same times are refused as by redis.
std::int64_t expire_bound_base(std::int64_t now) {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return std::max<std::int64_t>(now, static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000);
}

// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | KEEPTTL]
void cmd_set(Client& c, Args a) {
  bool nx = false, xx = false, get = false, keepttl = false;
  char ttl_unit = 0;     // 'e' (EX) or 'p' (PX) once given: the same may come again, as in redis
  long long ttl_ms = 0;  // 0: none given
  for (std::size_t i = 3; i < a.size(); ++i) {
    const std::string_view opt = a[i];
    const bool has_next = i + 1 < a.size();
    if (iequals(opt, "nx") && !xx) {
      nx = true;
    } else if (iequals(opt, "xx") && !nx) {
      xx = true;
    } else if (iequals(opt, "get")) {
      get = true;
    } else if (iequals(opt, "keepttl") && ttl_unit == 0) {
      keepttl = true;
    } else if ((iequals(opt, "ex") || iequals(opt, "px")) && !keepttl && has_next &&
               (ttl_unit == 0 || ttl_unit == (opt[0] | 0x20))) {
      long long v;
      if (!parse_ll(a[++i], v)) return reply::error(c.out(), reply::kNotInteger);
      ttl_unit = static_cast<char>(opt[0] | 0x20);
      const bool seconds = ttl_unit == 'e';
      if (v <= 0 || (seconds && v > kLLMax / 1000)) {
        return reply::error(c.out(), "ERR invalid expire time in 'set' command");
      }
      ttl_ms = seconds ? v * 1000 : v;
    } else {
      return reply::error(c.out(), reply::kSyntax);
    }
  }
  const std::int64_t now = ttl_ms ? Store::now_ms() : 0;
  if (ttl_ms && ttl_ms > kLLMax - expire_bound_base(now)) {
    return reply::error(c.out(), "ERR invalid expire time in 'set' command");
  }

  Store& store = c.store();
  Store::Slot* s = store.find(a[1]);
  if (get) {
    if (s && !as_string(s)) return reply::error(c.out(), reply::kWrongType);
    if (s) {
      reply::bulk(c.out(), *as_string(s));
    } else {
      reply::nil(c.out());
    }
  }
  if ((nx && s) || (xx && !s)) {
    if (!get) reply::nil(c.out());
    return;
  }
  Store::Slot& slot = set_string(store, a[1], a[2]);
  if (ttl_ms) {
    store.set_expire(slot, now + ttl_ms);
  } else if (!keepttl) {
    store.set_expire(slot, 0);
  }
  if (!get) reply::ok(c.out());
}

void cmd_mget(Client& c, Args a) {
  reply::array(c.out(), a.size() - 1);
  for (std::size_t i = 1; i < a.size(); ++i) {
    Store::Slot* s = c.store().find(a[i]);
    const std::string* str = s ? as_string(s) : nullptr;
    if (str) {
      reply::bulk(c.out(), *str);
    } else {
      reply::nil(c.out());
    }
  }
}

void cmd_mset(Client& c, Args a) {
  if (a.size() % 2 == 0) return reply::error(c.out(), "ERR wrong number of arguments for 'mset' command");
  for (std::size_t i = 1; i < a.size(); i += 2) c.store().set_expire(set_string(c.store(), a[i], a[i + 1]), 0);
  reply::ok(c.out());
}

void incr_by(Client& c, std::string_view key, long long delta) {
  Store& store = c.store();
  Store::Slot* s = store.find(key);
  long long v = 0;
  if (s) {
    const std::string* str = as_string(s);
    if (!str) return reply::error(c.out(), reply::kWrongType);
    if (!parse_ll(*str, v)) return reply::error(c.out(), reply::kNotInteger);
  }
  if ((delta < 0 && v < 0 && delta < kLLMin - v) || (delta > 0 && v > 0 && delta > kLLMax - v)) {
    return reply::error(c.out(), "ERR increment or decrement would overflow");
  }
  v += delta;
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  const std::string_view text(buf, static_cast<std::size_t>(end - buf));
  if (s) {
    std::get<std::string>(s->second.value).assign(text);  // keeps the key's expiry
  } else {
    set_string(store, key, text);
  }
  reply::integer(c.out(), v);
}

void cmd_incr(Client& c, Args a) { incr_by(c, a[1], 1); }
void cmd_decr(Client& c, Args a) { incr_by(c, a[1], -1); }

void cmd_incrby(Client& c, Args a) {
  long long d;
  if (!parse_ll(a[2], d)) return reply::error(c.out(), reply::kNotInteger);
  incr_by(c, a[1], d);
}

void cmd_decrby(Client& c, Args a) {
  long long d;
  if (!parse_ll(a[2], d)) return reply::error(c.out(), reply::kNotInteger);
  if (d == kLLMin) return reply::error(c.out(), "ERR decrement would overflow");
  incr_by(c, a[1], -d);
}

// --- keys ---

void cmd_del(Client& c, Args a) {
  long long n = 0;
  for (std::size_t i = 1; i < a.size(); ++i) n += c.store().erase(a[i]);
  reply::integer(c.out(), n);
}

void cmd_exists(Client& c, Args a) {
  long long n = 0;
  for (std::size_t i = 1; i < a.size(); ++i) n += c.store().find(a[i]) != nullptr;
  reply::integer(c.out(), n);
}

void cmd_type(Client& c, Args a) {
  Store::Slot* s = c.store().find(a[1]);
  reply::simple(c.out(), !s ? "none" : as_string(s) ? "string" : "list");
}

// O(keys), as in redis: meant for debugging and tests, not for a busy server.
void cmd_keys(Client& c, Args a) {
  const std::string_view pattern = a[1];
  const bool all = pattern == "*";
  const std::int64_t now = Store::now_ms();
  std::vector<const std::string*> found;
  for (const auto& [key, entry] : c.store().map()) {
    if (entry.expire_at != 0 && entry.expire_at <= now) continue;
    if (all || glob_match(pattern, key)) found.push_back(&key);
  }
  reply::array(c.out(), found.size());
  for (const std::string* k : found) reply::bulk(c.out(), *k);
}

// EXPIRE / PEXPIRE key time [NX | XX | GT | LT]
void expire_generic(Client& c, Args a, long long unit_ms, const char* name) {
  long long t;
  if (!parse_ll(a[2], t)) return reply::error(c.out(), reply::kNotInteger);
  bool nx = false, xx = false, gt = false, lt = false;
  for (std::size_t i = 3; i < a.size(); ++i) {
    if (iequals(a[i], "nx")) nx = true;
    else if (iequals(a[i], "xx")) xx = true;
    else if (iequals(a[i], "gt")) gt = true;
    else if (iequals(a[i], "lt")) lt = true;
    else return reply::error(c.out(), "ERR Unsupported option " + std::string(a[i]));
  }
  if (nx && (xx || gt || lt)) {
    return reply::error(c.out(), "ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) return reply::error(c.out(), "ERR GT and LT options at the same time are not compatible");
  const std::int64_t now = Store::now_ms();
  // (now >= 0, so now + t * unit_ms cannot overflow below: a large negative time just
  // deletes the key, as in redis.)
  if (t > kLLMax / unit_ms || t < kLLMin / unit_ms || (t > 0 && t * unit_ms > kLLMax - expire_bound_base(now))) {
    return reply::error(c.out(), std::string("ERR invalid expire time in '") + name + "' command");
  }
  const std::int64_t when = now + t * unit_ms;
  Store& store = c.store();
  Store::Slot* s = store.find(a[1]);
  if (!s) return reply::integer(c.out(), 0);
  const std::int64_t cur = s->second.expire_at;  // 0: no expiry, an infinite TTL
  if ((nx && cur != 0) || (xx && cur == 0) || (gt && (cur == 0 || when <= cur)) || (lt && cur != 0 && when >= cur)) {
    return reply::integer(c.out(), 0);
  }
  if (when <= now) {
    store.erase(s);
  } else {
    store.set_expire(*s, when);
  }
  reply::integer(c.out(), 1);
}

void cmd_expire(Client& c, Args a) { expire_generic(c, a, 1000, "expire"); }
void cmd_pexpire(Client& c, Args a) { expire_generic(c, a, 1, "pexpire"); }

void ttl_generic(Client& c, Args a, bool ms) {
  Store::Slot* s = c.store().find(a[1]);
  if (!s) return reply::integer(c.out(), -2);
  if (s->second.expire_at == 0) return reply::integer(c.out(), -1);
  const long long left = std::max<long long>(0, s->second.expire_at - Store::now_ms());
  reply::integer(c.out(), ms ? left : (left + 500) / 1000);
}

void cmd_ttl(Client& c, Args a) { ttl_generic(c, a, false); }
void cmd_pttl(Client& c, Args a) { ttl_generic(c, a, true); }

void cmd_persist(Client& c, Args a) {
  Store::Slot* s = c.store().find(a[1]);
  if (!s || s->second.expire_at == 0) return reply::integer(c.out(), 0);
  c.store().set_expire(*s, 0);
  reply::integer(c.out(), 1);
}

// --- lists ---

void push_generic(Client& c, Args a, bool left) {
  Store& store = c.store();
  Store::Slot* s = store.find(a[1]);
  if (s && !as_list(s)) return reply::error(c.out(), reply::kWrongType);
  if (!s) {
    bool created;
    s = &store.find_or_create(a[1], created);
    s->second.value.emplace<List>();
  }
  List& list = *as_list(s);
  for (std::size_t i = 2; i < a.size(); ++i) {
    if (left) {
      list.emplace_front(a[i]);
    } else {
      list.emplace_back(a[i]);
    }
  }
  reply::integer(c.out(), static_cast<long long>(list.size()));
  store.serve_blocked(a[1]);  // clients blocked on the key get their elements now
}

void cmd_lpush(Client& c, Args a) { push_generic(c, a, true); }
void cmd_rpush(Client& c, Args a) { push_generic(c, a, false); }

// LPOP / RPOP key [count]
void pop_generic(Client& c, Args a, bool left) {
  if (a.size() > 3) {
    return reply::error(c.out(), left ? "ERR wrong number of arguments for 'lpop' command"
                                      : "ERR wrong number of arguments for 'rpop' command");
  }
  long long count = -1;
  if (a.size() == 3 && (!parse_ll(a[2], count) || count < 0)) {
    return reply::error(c.out(), "ERR value is out of range, must be positive");
  }
  Store& store = c.store();
  Store::Slot* s = store.find(a[1]);
  if (!s) return count < 0 ? reply::nil(c.out()) : reply::nil_array(c.out());
  List* list = as_list(s);
  if (!list) return reply::error(c.out(), reply::kWrongType);
  auto pop_one = [&] {
    reply::bulk(c.out(), left ? list->front() : list->back());
    if (left) {
      list->pop_front();
    } else {
      list->pop_back();
    }
  };
  if (count < 0) {
    pop_one();
  } else {
    const std::size_t n = std::min(static_cast<std::size_t>(count), list->size());
    reply::array(c.out(), n);
    for (std::size_t i = 0; i < n; ++i) pop_one();
  }
  if (list->empty()) store.erase(s);
}

void cmd_lpop(Client& c, Args a) { pop_generic(c, a, true); }
void cmd_rpop(Client& c, Args a) { pop_generic(c, a, false); }

void cmd_llen(Client& c, Args a) {
  Store::Slot* s = c.store().find(a[1]);
  if (!s) return reply::integer(c.out(), 0);
  List* list = as_list(s);
  if (!list) return reply::error(c.out(), reply::kWrongType);
  reply::integer(c.out(), static_cast<long long>(list->size()));
}

void cmd_lrange(Client& c, Args a) {
  long long start, stop;
  if (!parse_ll(a[2], start) || !parse_ll(a[3], stop)) return reply::error(c.out(), reply::kNotInteger);
  Store::Slot* s = c.store().find(a[1]);
  if (!s) return reply::array(c.out(), 0);
  List* list = as_list(s);
  if (!list) return reply::error(c.out(), reply::kWrongType);
  const long long len = static_cast<long long>(list->size());
  if (start < 0) start = std::max(0LL, len + start);
  if (stop < 0) stop = len + stop;
  if (stop >= len) stop = len - 1;
  if (start > stop || start >= len) return reply::array(c.out(), 0);
  reply::array(c.out(), static_cast<std::size_t>(stop - start + 1));
  for (long long i = start; i <= stop; ++i) reply::bulk(c.out(), (*list)[static_cast<std::size_t>(i)]);
}

// BLPOP / BRPOP key [key ...] timeout: the timeout in seconds (a float; 0 waits
// forever). Pops from the first non-empty key, in argument order; otherwise blocks.
void bpop_generic(Client& c, Args a, bool left) {
  const std::string_view t = a.back();
  char buf[64];
  double seconds = 0;
  bool ok = !t.empty() && t.size() < sizeof buf && t[0] != ' ';
  if (ok) {
    std::memcpy(buf, t.data(), t.size());
    buf[t.size()] = '\0';
    char* end;
    seconds = std::strtod(buf, &end);
    ok = *end == '\0' && !std::isnan(seconds);
  }
  if (!ok) return reply::error(c.out(), "ERR timeout is not a float or out of range");
  if (seconds < 0) return reply::error(c.out(), "ERR timeout is negative");
  if (!std::isfinite(seconds) || seconds * 1000 > static_cast<double>(kLLMax)) {
    return reply::error(c.out(), "ERR timeout is out of range");
  }
  const Args keys = a.subspan(1, a.size() - 2);
  Store& store = c.store();
  for (const std::string_view key : keys) {
    Store::Slot* s = store.find(key);
    if (!s) continue;
    List* list = as_list(s);
    if (!list) return reply::error(c.out(), reply::kWrongType);
    reply::array(c.out(), 2);
    reply::bulk(c.out(), key);
    reply::bulk(c.out(), left ? list->front() : list->back());
    if (left) {
      list->pop_front();
    } else {
      list->pop_back();
    }
    if (list->empty()) store.erase(s);
    return;
  }
  std::optional<grove::Duration> timeout;
  if (seconds > 0 && seconds < 1e9) timeout = grove::seconds(seconds);  // past 31 years: forever
  c.block_pop(keys, timeout, left);
}

void cmd_blpop(Client& c, Args a) { bpop_generic(c, a, true); }
void cmd_brpop(Client& c, Args a) { bpop_generic(c, a, false); }

struct Command {
  int arity;
  void (*run)(Client&, Args);
};

using Table = std::unordered_map<std::string_view, Command>;

const Table& table() {
  static const Table t = {
      {"ping", {-1, cmd_ping}},       {"echo", {2, cmd_echo}},         {"quit", {-1, cmd_quit}},
      {"select", {2, cmd_select}},    {"config", {-2, cmd_config}},    {"info", {-1, cmd_info}},
      {"dbsize", {1, cmd_dbsize}},    {"flushall", {-1, cmd_flushall}}, {"flushdb", {-1, cmd_flushall}},
      {"get", {2, cmd_get}},          {"set", {-3, cmd_set}},          {"mget", {-2, cmd_mget}},
      {"mset", {-3, cmd_mset}},       {"incr", {2, cmd_incr}},         {"decr", {2, cmd_decr}},
      {"incrby", {3, cmd_incrby}},    {"decrby", {3, cmd_decrby}},     {"del", {-2, cmd_del}},
      {"exists", {-2, cmd_exists}},   {"type", {2, cmd_type}},         {"keys", {2, cmd_keys}},
      {"expire", {-3, cmd_expire}},   {"pexpire", {-3, cmd_pexpire}},  {"ttl", {2, cmd_ttl}},
      {"pttl", {2, cmd_pttl}},        {"persist", {2, cmd_persist}},   {"lpush", {-3, cmd_lpush}},
      {"rpush", {-3, cmd_rpush}},     {"lpop", {-2, cmd_lpop}},        {"rpop", {-2, cmd_rpop}},
      {"llen", {2, cmd_llen}},        {"lrange", {4, cmd_lrange}},     {"blpop", {-3, cmd_blpop}},
      {"brpop", {-3, cmd_brpop}},
  };
  return t;
}

// "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ", as redis 7.
void unknown_command(Client& c, Args a) {
  std::string msg = "ERR unknown command '";
  msg.append(a[0].substr(0, 128));
  msg += "', with args beginning with: ";
  std::string args;
  for (std::size_t i = 1; i < a.size() && args.size() < 128; ++i) {
    const std::size_t room = 128 - args.size();
    args += '\'';
    args.append(a[i].substr(0, room));
    args += "' ";
  }
  msg += args;
  reply::error(c.out(), msg);
}

}  // namespace

void execute(Client& c, std::span<const std::string_view> argv) {
  // Command names are matched lower-cased, in a copy: the original spelling goes
  // into error messages.
  char name[16];
  const std::string_view given = argv[0];
  if (given.size() > sizeof name) return unknown_command(c, argv);
  for (std::size_t i = 0; i < given.size(); ++i) {
    const char ch = given[i];
    name[i] = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  }
  const std::string_view lower(name, given.size());
  const Table& t = table();
  const auto it = t.find(lower);
  if (it == t.end()) return unknown_command(c, argv);
  const int arity = it->second.arity;
  const auto argc = static_cast<int>(std::min<std::size_t>(argv.size(), 1 << 30));
  if ((arity > 0 && argc != arity) || (arity < 0 && argc < -arity)) {
    return reply::error(c.out(), "ERR wrong number of arguments for '" + std::string(it->first) + "' command");
  }
  it->second.run(c, argv);
}

}  // namespace kv
