// port_forwarder: a TCP proxy. Each accepted connection is joined to a new
// connection to the target, with two green threads copying bytes, one per
// direction; end of file in one direction is passed on as a half-close.
//
//   port_forwarder --port N --to HOST:PORT [--host 127.0.0.1]
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/resolve.hpp>
#include <grove/net/stream_server.hpp>

#include "../common/args.hpp"
#include "../common/stop_signal.hpp"

namespace {

std::string g_to_host;
std::uint16_t g_to_port = 0;

// Copies from `in` to `out` until end of file, then half-closes `out`. On an error
// (a reset) the whole session ends: both sockets are shut down both ways, so the
// other direction's pump, parked reading, sees end of file and ends too.
void pump(grove::net::Socket& in, grove::net::Socket& out) {
  char buf[8192];
  std::error_code ec;
  for (;;) {
    const std::size_t n = in.recv_into(buf, sizeof buf, ec);
    if (n == 0 && !ec) break;
    if (!ec) out.sendall(buf, n, ec);
    if (ec) {
      out.shutdown(grove::net::ShutdownHow::kBoth, ec);
      in.shutdown(grove::net::ShutdownHow::kBoth, ec);
      return;
    }
  }
  out.shutdown(grove::net::ShutdownHow::kWrite, ec);
}

void forward(grove::net::Socket& client, const grove::net::Address&) {
  grove::net::Socket upstream = grove::net::create_connection(g_to_host, g_to_port, std::chrono::seconds(5));
  auto up = grove::spawn([&] { pump(client, upstream); });
  struct KillOnExit {
    grove::GreenThreadHandle g;
    ~KillOnExit() { g.kill(); }
  } k{up};
  pump(upstream, client);
  up.join();
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", to;
  long port = -1;
  samples::Args args(argc, argv, "usage: port_forwarder --port N --to HOST:PORT [--host H]");
  while (args.next()) {
    if (args.is("--port")) port = args.number(0, 65535);
    else if (args.is("--host")) host = args.text();
    else if (args.is("--to")) to = args.text();
    else args.usage();
  }
  const auto colon = to.rfind(':');
  if (port < 0 || colon == std::string::npos) args.usage_missing();
  g_to_host = to.substr(0, colon);
  if (!g_to_host.empty() && g_to_host.front() == '[') g_to_host = g_to_host.substr(1, g_to_host.size() - 2);
  const char* to_port = to.c_str() + colon + 1;
  unsigned long p = 0;
  auto [end, err] = std::from_chars(to_port, to.c_str() + to.size(), p);
  if (err != std::errc() || *end != '\0' || p == 0 || p > 65535 || g_to_host.empty()) {
    std::fprintf(stderr, "port_forwarder: bad --to '%s' (expected HOST:PORT, port 1..65535)\n", to.c_str());
    return 2;
  }
  g_to_port = static_cast<std::uint16_t>(p);
  try {
    samples::install_stop_signals();
    grove::net::StreamServerOptions opts;
    opts.name = "port_forwarder";
    grove::net::StreamServer server(grove::net::Address::ip(host, static_cast<std::uint16_t>(port)), forward, opts);
    server.start();
    std::printf("port_forwarder listening on %s, forwarding to %s\n", server.address().to_string().c_str(),
                to.c_str());
    std::fflush(stdout);
    samples::wait_for_stop_signal();
    server.stop(std::chrono::seconds(1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "port_forwarder: %s\n", e.what());
    return 1;
  }
  return 0;
}
