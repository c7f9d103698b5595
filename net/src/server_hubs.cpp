// server_hubs.cpp: starting, stopping and joining a server's hub threads.
#include "server_hubs.hpp"

#include <exception>
#include <string>
#include <utility>

#include <grove/errors.hpp>
#include <grove/log.hpp>

namespace grove::net::detail {

namespace {

// The root green thread of one of a server's hub threads.
void run_part(const std::shared_ptr<HubPart>& part, const std::string& name) {
  try {
    part->begin();
    part->stop_requested.wait();
  } catch (const GreenletExit&) {
    // The hub thread was told to stop with no stop request (only ~HubThread does
    // that, when joining it failed): stop at once.
  } catch (const std::exception& e) {
    grove::logger().error("{}: cannot serve on {}: {}", name, this_hub().name(), e.what());
  } catch (...) {
    grove::logger().error("{}: cannot serve on {}: an exception not derived from std::exception", name,
                          this_hub().name());
  }
  const Duration timeout = part->stop_requested.is_set()
                               ? Duration(part->stop_timeout_ns.load(std::memory_order_relaxed))
                               : Duration::zero();
  try {
    part->end(timeout);
  } catch (const GreenletExit&) {
    throw;
  } catch (const std::exception& e) {
    grove::logger().error("{}: stopping on {} failed: {}", name, this_hub().name(), e.what());
  } catch (...) {
    grove::logger().error("{}: stopping on {} failed: an exception not derived from std::exception", name,
                          this_hub().name());
  }
}

}  // namespace

void check_hubs_option(std::size_t hubs, bool has_pool, const char* who) {
  if (hubs == 0) throw UsageError(std::string(who) + ": options.hubs is 0; it counts the hubs serving (at least 1)");
  if (hubs > 1 && has_pool) {
    throw UsageError(std::string(who) + ": options.pool with options.hubs = " + std::to_string(hubs) +
                     ": a Pool belongs to one hub, and the handlers would run on " + std::to_string(hubs) +
                     " (use max_connections to cap them, or hubs = 1)");
  }
}

ServerHubs::~ServerHubs() {
  if (threads_.empty()) return;
  request_stop(Duration::zero());
  try {
    join(std::nullopt);
  } catch (...) {
    // Interrupted: each ~HubThread below stops and joins its thread (blocking).
  }
}

void ServerHubs::start(std::vector<std::shared_ptr<HubPart>> parts, const std::string& name) {
  parts_ = std::move(parts);
  threads_.reserve(parts_.size());
  try {
    for (const auto& p : parts_) threads_.push_back(std::make_unique<HubThread>(run_part, p, name));
  } catch (...) {
    // Those started end (their parts close what they were given); the parts not
    // started close their fds as they are destroyed.
    try {
      reset();
    } catch (...) {
      // Interrupted: each ~HubThread stops and joins its thread (blocking).
      threads_.clear();
      parts_.clear();
      requested_ = false;
    }
    throw;
  }
}

void ServerHubs::request_stop(Duration timeout) {
  if (requested_) return;
  requested_ = true;
  const std::int64_t ns = timeout > Duration::zero() ? timeout.count() : 0;
  // The store is published by set() (its mutex), which the part's root waits on.
  for (const auto& p : parts_) {
    p->stop_timeout_ns.store(ns, std::memory_order_relaxed);
    p->stop_requested.set();
  }
}

void ServerHubs::reset() {
  request_stop(Duration::zero());
  join(std::nullopt);
  threads_.clear();
  parts_.clear();
  requested_ = false;
  joining_ = false;
  joined_.clear();
}

bool ServerHubs::join(std::optional<Duration> timeout) {
  if (threads_.empty()) return true;
  if (joining_) return joined_.wait(timeout);
  joining_ = true;
  struct Undo {
    bool& joining;
    bool done = false;
    ~Undo() {
      if (!done) joining = false;  // interrupted: a later join() takes over
    }
  } undo{joining_};
  for (const auto& t : threads_) {
    if (t->joinable()) t->join();
  }
  undo.done = true;
  joined_.set();
  return true;
}

}  // namespace grove::net::detail
