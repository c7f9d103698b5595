// idle_server.cpp: one echo server, plaintext or TLS, for measuring what an idle
// connection costs (bench/tls/run.py): the same handler and buffer either way, so the
// difference is TLS's own state.
//
//   tls_idle_server --port N                                  plaintext
//   tls_idle_server --port N --cert F --key F [--keep-buffers] TLS
//
// --keep-buffers turns TlsCommonOptions::release_idle_buffers off (OpenSSL then keeps
// a connection's record buffers while it is idle). Prints "listening on ADDR" and
// stops on SIGTERM / SIGINT.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>
#include <grove/net/tls_server.hpp>

#include "../../samples/common/stop_signal.hpp"

namespace {

template <class Stream>
void echo(Stream& s) {
  char buf[2048];
  std::error_code ec;
  for (;;) {
    const std::size_t n = s.recv_into(buf, sizeof buf, ec);
    if (ec || n == 0) return;
    s.sendall(buf, n, ec);
    if (ec) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  long port = -1;
  grove::net::TlsServerOptions tls;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--keep-buffers") {
      tls.release_idle_buffers = false;
    } else if (i + 1 < argc && a == "--port") {
      port = std::strtol(argv[++i], nullptr, 10);
    } else if (i + 1 < argc && a == "--cert") {
      tls.cert_file = argv[++i];
    } else if (i + 1 < argc && a == "--key") {
      tls.key_file = argv[++i];
    } else {
      port = -1;
      break;
    }
  }
  if (port < 0 || port > 65535 || tls.cert_file.empty() != tls.key_file.empty()) {
    std::fprintf(stderr, "usage: tls_idle_server --port N [--cert FILE --key FILE [--keep-buffers]]\n");
    return 2;
  }
  try {
    samples::install_stop_signals();
    grove::net::StreamServer::Handler handler = [](grove::net::Socket& s, const grove::net::Address&) { echo(s); };
    if (!tls.cert_file.empty()) {
      handler = grove::net::tls_handler(grove::net::TlsContext::server(tls),
                                        [](grove::net::TlsStream& s, const grove::net::Address&) { echo(s); });
    }
    grove::net::StreamServerOptions opts;
    opts.name = "tls_idle_server";
    opts.backlog = 1024;
    grove::net::StreamServer server(grove::net::Address::ip("127.0.0.1", static_cast<std::uint16_t>(port)),
                                    std::move(handler), opts);
    server.start();
    std::printf("listening on %s\n", server.address().to_string().c_str());
    std::fflush(stdout);
    samples::wait_for_stop_signal();
    server.stop(std::chrono::seconds(2));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tls_idle_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
