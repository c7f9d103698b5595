// grove/net/tls_server.hpp: serving TLS with a StreamServer.
//
//   grove::net::TlsServerOptions o;
//   o.cert_file = "server.pem";
//   o.key_file = "server.key";
//   auto ctx = grove::net::TlsContext::server(o);
//   grove::net::StreamServer server(grove::net::Address::parse("127.0.0.1:8443"),
//       grove::net::tls_handler(ctx, [](grove::net::TlsStream& tls, const grove::net::Address&) {
//         char buf[4096];
//         while (std::size_t n = tls.recv_into(buf, sizeof buf)) tls.sendall(buf, n);
//       }));
//   server.serve_forever();
//
// tls_handler() wraps a handler taking a TlsStream into a StreamServer::Handler: in
// the connection's own green thread it does the TLS handshake, under its own
// timeout, so a client that stalls or sends garbage holds nothing but its green
// thread and its socket until then; a failed handshake is logged at debug level and
// ends that connection only. When the handler returns, the stream sends close_notify
// (within 1 s) and the socket closes; when it throws or is killed the socket just
// closes. Everything else (max_connections, stop(), pools) is the StreamServer's.
#pragma once

#include <chrono>
#include <functional>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/net/stream_server.hpp>
#include <grove/net/tls_context.hpp>
#include <grove/net/tls_stream.hpp>

namespace grove::net {

// Called in the connection's green thread once the handshake is done.
using TlsHandler = std::function<void(TlsStream& stream, const Address& peer)>;

// A StreamServer handler that handshakes with `ctx` (a server context, else
// UsageError here) within `handshake_timeout`, then calls `handler`.
GROVE_API StreamServer::Handler tls_handler(TlsContext ctx, TlsHandler handler,
                                            Duration handshake_timeout = std::chrono::seconds(10));

}  // namespace grove::net
