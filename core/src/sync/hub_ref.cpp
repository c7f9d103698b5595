// hub_ref.cpp: HubRef, this_hub() and posting functions to a hub (grove/hub_ref.hpp).
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/hub_ref.hpp>

#include "../hub.hpp"
#include "../log_internal.hpp"
#include "hub_inbox.hpp"
#include "pool_worker.hpp"

namespace grove {

namespace {

// post(fn): spawns fn on the hub when drained.
struct PostedFunction final : detail::InboxEntry {
  explicit PostedFunction(std::function<void()> f) : fn(std::move(f)) {}
  void run() noexcept override {
    try {
      grove::spawn(std::move(fn));
    } catch (const std::exception& e) {
      detail::log_error("grove::HubRef::post: cannot spawn the posted function: {}", e.what());
    }
    delete this;
  }
  void drop() noexcept override { delete this; }
  std::function<void()> fn;
};

}  // namespace

namespace detail {

bool post_entry(const HubRef& hub, InboxEntry* e, const char* what) {
  if (!hub) throw UsageError(std::string(what) + ": empty HubRef");
  return hub.inbox()->post(e);
}

}  // namespace detail

bool HubRef::post(std::function<void()> fn) const {
  if (!inbox_) throw UsageError("grove::HubRef::post: empty HubRef");
  auto* e = new PostedFunction(std::move(fn));
  if (inbox_->post(e)) return true;
  delete e;
  return false;
}

bool HubRef::alive() const { return inbox_ && !inbox_->closed(); }
std::uint64_t HubRef::serial() const noexcept { return inbox_ ? inbox_->serial() : 0; }
std::string HubRef::name() const { return inbox_ ? inbox_->name() : std::string(); }
bool HubRef::is_current() const noexcept {
  detail::Hub* h = detail::Hub::current();
  return inbox_ && h && h->serial() == inbox_->serial();
}

HubRef this_hub() {
  if (detail::tls_in_pool_worker) [[unlikely]] {
    throw UsageError("grove::this_hub: called in a thread-pool job (run_in_thread / ThreadPool::run); a "
                     "worker never runs its hub, so nothing posted to it would run. Take the HubRef on "
                     "the green thread that called run_in_thread and pass it in");
  }
  return HubRef(detail::HubInbox::of_this_thread());
}

}  // namespace grove
