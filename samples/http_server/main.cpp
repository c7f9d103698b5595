// http_server: an HTTP/1.1 server, one green thread per connection. `GET /` answers
// "Hello, World!"; other paths are files under --root (GET and HEAD). POST / reads
// the body (Content-Length or chunked) and answers its size and CRC-32.
// Stops gracefully on Ctrl-C / SIGTERM.
//
//   http_server --port 8080 [--root DIR] [--host 127.0.0.1] [--idle-timeout-ms N]
//               [--max-body-bytes N] [--max-connections N] [--hubs N] [--workers N]
//               [--tls-cert FILE --tls-key FILE]
//
// --tls-cert / --tls-key (PEM; both or neither) serve HTTPS instead: a TLS context
// (TLS 1.2 at least, ALPN "http/1.1") shared by every hub, the handshake in the
// connection's green thread within the idle timeout or 10 s, whichever is shorter,
// and files sent through the TLS stream instead of sendfile (see transport.hpp). To
// try it, samples/tls_echo_server/main.cpp shows how to make a CA and a certificate.
//
// --hubs N serves on N hubs (N OS threads, one SO_REUSEPORT listener each); --workers N
// forks N worker processes sharing one listener, under a supervisor (SIGHUP restarts
// them one by one). See samples/common/serve.hpp.
//
// Keep-alive and pipelining, 100-continue, 400 for malformed requests, 414 / 431 for
// an oversized request target / header block (then the connection closes), and a
// timeout for idle and too-slow clients (see config.hpp). The files:
//   connection.*    the per-connection loop and the http_parser glue (libhttp-parser)
//   response.*      response heads, the Date header, the prebuilt `GET /` response
//   transport.hpp   the plain socket or the TLS stream under a connection
//   static_files.*  confinement to --root, content types, thread-pool file I/O, sendfile
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <http_parser.h>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>
#include <grove/net/tls_server.hpp>

#include "../common/args.hpp"
#include "../common/serve.hpp"
#include "config.hpp"
#include "connection.hpp"

int main(int argc, char** argv) {
  samples::ServerArgs sa;
  const char* root = nullptr;
  http::Config cfg;
  grove::net::StreamServerOptions opts;
  opts.backlog = 1024;
  samples::Args args(argc, argv,
                     "usage: http_server --port N [--root DIR] [--host H] [--idle-timeout-ms N] [--max-body-bytes N]\n"
                     "                   [--max-connections N] [--hubs N] [--workers N]\n"
                     "                   [--tls-cert FILE --tls-key FILE]");
  std::string root_arg;
  std::string tls_cert;
  std::string tls_key;
  constexpr long long kMax = 1LL << 40;
  while (args.next()) {
    if (args.is("--port")) sa.port = args.number(0, 65535);
    else if (args.is("--host")) sa.host = args.text();
    else if (args.is("--root")) root = (root_arg = args.text()).c_str();
    else if (args.is("--idle-timeout-ms")) cfg.idle_timeout = std::chrono::milliseconds(args.number(0, kMax));
    else if (args.is("--max-body-bytes")) cfg.max_body_bytes = static_cast<std::uint64_t>(args.number(0, kMax));
    else if (args.is("--max-connections")) sa.max_connections = static_cast<std::size_t>(args.number(0, kMax));
    else if (args.is("--hubs")) sa.hubs = static_cast<std::size_t>(args.number(1, 1024));
    else if (args.is("--workers")) sa.workers = static_cast<std::size_t>(args.number(0, 1024));
    else if (args.is("--tls-cert")) tls_cert = args.text();
    else if (args.is("--tls-key")) tls_key = args.text();
    else args.usage();
  }
  if (sa.port < 0) args.usage_missing();
  if (tls_cert.empty() != tls_key.empty()) {
    std::fprintf(stderr, "http_server: --tls-cert and --tls-key go together\n");
    return 2;
  }
  std::optional<grove::net::TlsContext> tls;
  if (!tls_cert.empty()) {
    grove::net::TlsServerOptions o;
    o.cert_file = tls_cert;
    o.key_file = tls_key;
    o.alpn = {"http/1.1"};
    try {
      tls = grove::net::TlsContext::server(o);
    } catch (const std::exception& e) {  // names the file and OpenSSL's reason
      std::fprintf(stderr, "http_server: %s\n", e.what());
      return 1;
    }
  }
  if (root) {
    cfg.root_fd = ::open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char real[PATH_MAX];
    if (cfg.root_fd < 0 || !::realpath(root, real)) {
      std::fprintf(stderr, "http_server: --root %s: %s\n", root, std::strerror(errno));
      return 1;
    }
    cfg.root_real = real;
  }
  // http_parser's own cap on a message head, a backstop behind the finer limits the
  // callbacks enforce (it also bounds what they cannot see, like padding whitespace).
  http_parser_set_max_header_size(http::Config::kMaxRequestTarget + http::Config::kMaxHeaderBytes + 4096);
  // sendfile(2) has no MSG_NOSIGNAL: a peer that vanishes mid-file must not kill us.
  ::signal(SIGPIPE, SIG_IGN);
  // The handler runs on every hub (and in every worker process): it only reads cfg.
  // The buffers (about 70 KiB) live on the heap, not on the green thread's stack.
  grove::net::StreamServer::Handler handler = [&cfg](grove::net::Socket& sock, const grove::net::Address&) {
    auto conn = std::make_unique<http::Connection>(http::Transport(sock), cfg);
    conn->serve();
  };
  if (tls) {
    const grove::Duration ten_s = std::chrono::seconds(10);
    const grove::Duration handshake_timeout =
        cfg.idle_timeout == grove::Duration::zero() ? ten_s : std::min(cfg.idle_timeout, ten_s);
    handler = grove::net::tls_handler(
        *tls,
        [&cfg](grove::net::TlsStream& stream, const grove::net::Address&) {
          auto conn = std::make_unique<http::Connection>(http::Transport(stream), cfg);
          conn->serve();
        },
        handshake_timeout);
  }
  const int status = samples::serve("http_server", sa, std::move(handler), opts);
  if (cfg.root_fd >= 0) ::close(cfg.root_fd);
  return status;
}
