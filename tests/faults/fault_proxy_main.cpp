// fault_proxy: the fault-injecting TCP proxy (fault_proxy.hpp) as a program, for the
// tests that put the samples behind it (drive_faults.py).
//
//   fault_proxy --target HOST:PORT [--host H] SPEC [SPEC ...]
//
// Listens on one port per SPEC (see fault_spec.hpp; "clean" relays only), prints
//   fault_proxy path I listening on H:P spec 'SPEC'
// for each, then "fault_proxy ready", then one line per event (format_event) as it
// happens. SIGINT / SIGTERM stop it: open connections get 1 s, then
//   fault_proxy: stopped (N connection(s) were open, M green thread(s) left)
// and exit status 0. A bad spec or option: a message on stderr and status 2.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <grove/grove.hpp>

#include "../../samples/common/args.hpp"
#include "../../samples/common/stop_signal.hpp"
#include "fault_proxy.hpp"

int main(int argc, char** argv) {
  samples::Args args(argc, argv, "usage: fault_proxy --target HOST:PORT [--host H] SPEC [SPEC ...]");
  std::string target;
  std::string host = "127.0.0.1";
  std::vector<faults::FaultSpec> specs;
  while (args.next()) {
    if (args.is("--target")) target = args.text();
    else if (args.is("--host")) host = args.text();
    else if (args.positional()) {
      try {
        specs.push_back(faults::parse_fault_spec(args.current()));
      } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "fault_proxy: %s\n", e.what());
        return 2;
      }
    } else {
      args.usage();
    }
  }
  if (target.empty() || specs.empty()) args.usage_missing();
  try {
    samples::install_stop_signals();
    faults::FaultProxy proxy(grove::net::Address::parse(target), specs, [](const faults::ProxyEvent& e) {
      std::printf("%s\n", faults::format_event(e).c_str());
      std::fflush(stdout);
    }, host);
    proxy.start();
    for (std::size_t i = 0; i < specs.size(); ++i)
      std::printf("fault_proxy path %zu listening on %s spec '%s'\n", i, proxy.address(i).to_string().c_str(),
                  specs[i].text.c_str());
    std::printf("fault_proxy ready\n");
    std::fflush(stdout);
    samples::wait_for_stop_signal();
    const std::size_t open = proxy.connection_count();
    proxy.stop(std::chrono::seconds(1));
    std::printf("fault_proxy: stopped (%zu connection(s) were open, %zu green thread(s) left)\n", open,
                grove::hub_stats().live_green_threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fault_proxy: %s\n", e.what());
    return 1;
  }
  return 0;
}
