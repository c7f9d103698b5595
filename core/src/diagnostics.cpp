// diagnostics.cpp: format_run_info(), dump(), dump_on_signal().
//
// Each green thread's call stack comes from unwind.hpp: a suspended one's is read
// from the registers its last switch saved, without resuming it; the caller's own
// (the running green thread) from here.
#include <grove/diagnostics.hpp>

#include <cstdio>
#include <string>

#include "hub.hpp"
#include "overflow.hpp"
#include "unwind.hpp"

namespace grove {

namespace {

const char* status_name(detail::Status s) {
  switch (s) {
    case detail::Status::kCreated: return "not started";
    case detail::Status::kReady: return "ready";
    case detail::Status::kRunning: return "running";
    case detail::Status::kParked: return "parked";
    case detail::Status::kDead: return "dead";
    case detail::Status::kAbandoned: return "abandoned at fork";
  }
  return "?";
}

}  // namespace

std::string format_run_info() {
  detail::Hub* hub = detail::Hub::current();
  if (!hub) return "grove: no hub on this thread\n";
  std::string out = "grove: " + std::to_string(hub->live_count()) + " green thread(s) besides the root\n";
  const double now = hub->now();
  detail::unwind::Symbolize symbolize;
  detail::unwind::Frames frames;
  hub->for_each_live([&](const detail::GreenThreadState* g) {
    char line[128];
    out += "  " + hub->describe(g) + " " + status_name(g->status);
    if (g->status == detail::Status::kParked) {
      std::snprintf(line, sizeof line, " for %.3f s", now - g->parked_since);
      out += " on " + hub->describe_wait(g) + line;
    }
    std::snprintf(line, sizeof line, ", stack %zu bytes\n", g->stack.size);
    out += g->is_root ? "\n" : line;
    if (g == hub->running()) {
      detail::unwind::from_here(frames);
    } else if ((g->started || g->is_root) &&
               (g->status == detail::Status::kParked || g->status == detail::Status::kReady)) {
      detail::unwind::from_saved_context(g->fctx, frames);  // suspended by its last switch
    } else {
      return;  // not started, dead or abandoned at fork: no stack to show
    }
    symbolize.append(out, frames, "      ");
  });
  return out;
}

void dump(std::FILE* out) {
  const std::string s = format_run_info();
  std::fwrite(s.data(), 1, s.size(), out);
  std::fflush(out);
}

void dump_on_signal(int signo) { detail::Hub::get().enable_dump_signal(signo); }

namespace detail {
void grove_dump_to_stderr() { grove::dump(stderr); }
}  // namespace detail

}  // namespace grove
