#include "monitor.hpp"

#include <chrono>
#include <string>

#include "hub.hpp"
#include "log_internal.hpp"
#include "stack_sample.hpp"
#include "unwind.hpp"

namespace grove::detail {

namespace {

// The running green thread's stack, sampled on the hub's OS thread and named here.
std::string sampled_stack(pthread_t hub_thread) {
  unwind::Frames frames;
  if (!sample_thread_stack(hub_thread, frames, 200)) {
    return "    (no stack: the hub's OS thread did not answer the sampling signal)\n";
  }
  unwind::Symbolize symbolize;
  std::string out;
  symbolize.append(out, frames, "    ");
  return out;
}

}  // namespace

Monitor::Monitor(Hub& hub, int max_blocking_ms)
    : hub_(hub), hub_thread_(::pthread_self()), max_blocking_ms_(max_blocking_ms) {
  thread_ = std::thread([this] { run(); });
}

Monitor::~Monitor() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Monitor::run() {
  using clock = std::chrono::steady_clock;
  const auto threshold = std::chrono::milliseconds(max_blocking_ms_);
  const auto period = std::max(std::chrono::milliseconds(1), threshold / 4);
  std::uint64_t last_switches = hub_.switches_.load(std::memory_order_relaxed);
  auto last_change = clock::now();
  bool reported = false;
  std::string culprit;

  std::unique_lock<std::mutex> lk(mu_);
  while (!cv_.wait_for(lk, period, [this] { return stop_; })) {
    const std::uint64_t s = hub_.switches_.load(std::memory_order_relaxed);
    const bool idle = hub_.polling_.load(std::memory_order_relaxed);
    const auto now = clock::now();
    if (s != last_switches || idle) {
      if (reported) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_change).count();
        log_warn("grove: green thread {} blocked the hub for about {} ms (GROVE_MAX_BLOCKING_MS={})",
                 culprit, ms, max_blocking_ms_);
      }
      reported = false;
      last_switches = s;
      last_change = now;
      continue;
    }
    if (!reported && now - last_change >= threshold) {
      const GreenThreadState* gt = hub_.running_.load(std::memory_order_acquire);
      // The culprit is running (not switching), so its name is stable while we read it;
      // acquire pairs with the hub's release store of running_ at the switch, after
      // the green thread's name and id were written (on the hub's OS thread).
      culprit = gt ? hub_.describe(gt) : std::string("?");
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_change).count();
      std::string stack = sampled_stack(hub_thread_);
      if (!stack.empty() && stack.back() == '\n') stack.pop_back();
      log_warn("grove: the hub has been blocked for {} ms by green thread {} (no switch since; "
               "GROVE_MAX_BLOCKING_MS={}); its stack now:\n{}", ms, culprit, max_blocking_ms_, stack);
      reported = true;
    }
  }
}

}  // namespace grove::detail
