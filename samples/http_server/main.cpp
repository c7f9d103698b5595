// http_server: an HTTP/1.1 server, one green thread per connection. `GET /` answers
// "Hello, World!"; other paths are files under --root (GET and HEAD). POST / reads
// the body (Content-Length or chunked) and answers its size and CRC-32.
// Stops gracefully on Ctrl-C / SIGTERM.
//
//   http_server --port 8080 [--root DIR] [--host 127.0.0.1] [--idle-timeout-ms N]
//               [--max-body-bytes N] [--max-connections N] [--hubs N] [--workers N]
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
//   static_files.*  confinement to --root, content types, thread-pool file I/O, sendfile
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <http_parser.h>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>

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
                     "                   [--max-connections N] [--hubs N] [--workers N]");
  std::string root_arg;
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
    else args.usage();
  }
  if (sa.port < 0) args.usage_missing();
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
  const int status = samples::serve(
      "http_server", sa,
      [&cfg](grove::net::Socket& sock, const grove::net::Address&) {
        // The buffers (about 70 KiB) live on the heap, not on the green thread's stack.
        auto conn = std::make_unique<http::Connection>(sock, cfg);
        conn->serve();
      },
      opts);
  if (cfg.root_fd >= 0) ::close(cfg.root_fd);
  return status;
}
