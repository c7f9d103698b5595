// server_hubs.hpp: the hub threads a server owns when options.hubs > 1.
//
// A StreamServer or DatagramServer with hubs = N serves on the hub of the OS thread
// that started it and on N-1 hub threads of its own (grove::HubThread). Each of those
// runs one HubPart as its root green thread: begin() there (spawn that hub's acceptor
// or receiver), then it parks until the server's stop() asks every part to stop, then
// end(timeout) there (close the part's socket, give its handlers `timeout`, kill the
// rest, wait the grace). The parts stop in parallel with each other and with the
// server's own hub, so stop() still returns within about timeout + stop_grace.
//
// Everything of a part that belongs to its hub (sockets, green thread handles) is
// made and released on that hub; the server's hub hands a part only raw fds
// (FdOwner) and values fixed before the hub thread starts (which publishes them).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grove/duration.hpp>
#include <grove/event.hpp>
#include <grove/hub_ref.hpp>
#include <grove/hub_thread.hpp>
#include <grove/mt/event.hpp>

namespace grove::net::detail {

// UsageError unless `hubs` (options.hubs of the server `who`) is at least 1, and
// `has_pool` is false when it is more than 1 (a Pool belongs to one hub).
void check_hubs_option(std::size_t hubs, bool has_pool, const char* who);

// One hub's share of a server, run on that hub by ServerHubs.
struct HubPart {
  virtual ~HubPart() = default;
  // On the part's hub, first: start serving (spawn the acceptor or receiver). An
  // exception is logged and the part then serves nothing.
  virtual void begin() = 0;
  // On the part's hub, once a stop is requested (also after begin() threw): stop
  // serving, then stop the handlers within timeout + the server's stop_grace. Must
  // leave nothing of its hub's in the part, which may be destroyed on any thread.
  virtual void end(Duration timeout) = 0;

  mt::Event stop_requested;                      // set by ServerHubs::request_stop
  std::atomic<std::int64_t> stop_timeout_ns{0};  // written before stop_requested is set
};

// The N-1 hub threads of a server and the part each runs. Belongs to the server's
// hub: every call is made there. Neither copyable nor movable.
class ServerHubs {
 public:
  ServerHubs() = default;
  ServerHubs(const ServerHubs&) = delete;
  ServerHubs& operator=(const ServerHubs&) = delete;
  // request_stop(0), then join(): nothing of the server is left on its hub threads.
  ~ServerHubs();

  // Starts one hub thread per part, running it (see the file comment). If a thread
  // cannot start (std::system_error), those started are stopped and joined, and the
  // error propagates. Blocks for as long as creating the hubs takes; never parks.
  // `name` prefixes the parts' log lines.
  void start(std::vector<std::shared_ptr<HubPart>> parts, const std::string& name);

  // How many hub threads (0 before start()).
  std::size_t size() const noexcept { return threads_.size(); }
  // The i-th hub thread's hub.
  HubRef hub(std::size_t i) const { return threads_[i]->hub(); }

  // Asks every part to stop, giving its handlers `timeout`. The first call only;
  // never parks.
  void request_stop(Duration timeout);
  // Waits (a green thread parks, only itself) until every part has ended and its hub
  // thread has exited, and joins them. One caller joins; another that comes meanwhile
  // waits for that one at most `timeout` (nullopt: no limit; returns false if it
  // passes). GreenletExit / TimeoutError if the caller is interrupted: a later join()
  // finishes the work.
  bool join(std::optional<Duration> timeout);
  // Stops and joins the hub threads (parks), then forgets them: start() may run again.
  void reset();

 private:
  std::vector<std::unique_ptr<HubThread>> threads_;
  std::vector<std::shared_ptr<HubPart>> parts_;
  bool requested_ = false;
  bool joining_ = false;
  grove::Event joined_;
};

}  // namespace grove::net::detail
