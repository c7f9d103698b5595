// fault_spec.cpp: parsing fault specs, and the jitter generator.
#include "fault_spec.hpp"

#include <charconv>
#include <stdexcept>

namespace faults {

namespace {

constexpr std::uint64_t kMaxMs = 24ULL * 3600 * 1000;  // a day: more is a typo
constexpr std::uint64_t kMaxBytes = 1ULL << 50;

[[noreturn]] void bad(std::string_view spec, std::string_view what) {
  throw std::invalid_argument("fault spec '" + std::string(spec) + "': " + std::string(what));
}

std::uint64_t number(std::string_view spec, std::string_view key, std::string_view v, std::uint64_t max) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc{} || end != v.data() + v.size())
    bad(spec, std::string(key) + " needs a whole number, got '" + std::string(v) + "'");
  if (n > max)
    bad(spec, std::string(key) + " = " + std::string(v) + " is too large (at most " + std::to_string(max) + ")");
  return n;
}

void set_direction(DirectionFaults& d, std::string_view spec, std::string_view key, std::string_view v) {
  if (key == "latency") d.latency_ms = number(spec, key, v, kMaxMs);
  else if (key == "jitter") d.jitter_ms = number(spec, key, v, kMaxMs);
  else if (key == "rate") {
    d.rate = number(spec, key, v, kMaxBytes);
    if (d.rate == 0) bad(spec, "rate must be at least 1 byte a second");
  } else if (key == "split") {
    d.split = number(spec, key, v, kMaxBytes);
    if (d.split == 0) bad(spec, "split must be at least 1 byte");
  } else if (key == "stall") {
    const auto colon = v.find(':');
    if (colon == std::string_view::npos) bad(spec, "stall needs BYTES:MS, got '" + std::string(v) + "'");
    d.stall_after = number(spec, key, v.substr(0, colon), kMaxBytes);
    d.stall_ms = number(spec, key, v.substr(colon + 1), kMaxMs);
  } else if (key == "reset") d.reset_after = number(spec, key, v, kMaxBytes);
  else if (key == "halfclose") d.halfclose_after = number(spec, key, v, kMaxBytes);
  else if (key == "noread") d.noread_after = number(spec, key, v, kMaxBytes);
  else bad(spec, "unknown key '" + std::string(key) + "'");
}

}  // namespace

FaultSpec parse_fault_spec(std::string_view text) {
  FaultSpec s;
  s.text = std::string(text);
  if (text.empty() || text == "clean") return s;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = text.find(',', pos);
    const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
    const std::string_view item = text.substr(pos, end - pos);
    pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (item.empty()) bad(text, "empty item");
    const std::size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    const bool has_value = eq != std::string_view::npos;
    const std::string_view value = has_value ? item.substr(eq + 1) : std::string_view{};
    DirectionFaults* only = nullptr;
    if (key.starts_with("up.")) {
      only = &s.up;
      key.remove_prefix(3);
    } else if (key.starts_with("down.")) {
      only = &s.down;
      key.remove_prefix(5);
    }
    if (key == "blackhole" || key == "rcvbuf" || key == "seed") {
      if (only) bad(text, std::string(key) + " takes no up./down. prefix");
      if (key == "blackhole") {
        if (has_value) bad(text, "blackhole takes no value");
        s.blackhole = true;
      } else if (!has_value) {
        bad(text, std::string(key) + " needs a value");
      } else if (key == "rcvbuf") {
        s.rcvbuf = static_cast<int>(number(text, key, value, 1 << 30));
        if (s.rcvbuf == 0) bad(text, "rcvbuf must be at least 1 byte");
      } else {
        s.seed = number(text, key, value, ~std::uint64_t{0});
      }
      continue;
    }
    if (!has_value) bad(text, std::string(key) + " needs a value");
    if (only) {
      set_direction(*only, text, key, value);
    } else {
      set_direction(s.up, text, key, value);
      set_direction(s.down, text, key, value);
    }
  }
  if (s.blackhole && (s.up != DirectionFaults{} || s.down != DirectionFaults{}))
    bad(text, "blackhole relays nothing, so it takes no other fault");
  return s;
}

DelaySource::DelaySource(const DirectionFaults& f, std::uint64_t seed, std::uint64_t path, std::uint64_t conn,
                         int direction)
    : latency_(static_cast<std::int64_t>(f.latency_ms)),
      jitter_(static_cast<std::int64_t>(f.jitter_ms)),
      state_(seed ^ (path * 0x9e3779b97f4a7c15ULL) ^ (conn * 0xbf58476d1ce4e5b9ULL) ^
             (static_cast<std::uint64_t>(direction) * 0x94d049bb133111ebULL)) {}

std::uint64_t DelaySource::next_u64() {  // splitmix64
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::int64_t DelaySource::next_ms() {
  if (jitter_ == 0) return latency_;
  const auto span = static_cast<std::uint64_t>(2 * jitter_ + 1);
  const std::int64_t d = latency_ + static_cast<std::int64_t>(next_u64() % span) - jitter_;
  return d < 0 ? 0 : d;
}

}  // namespace faults
