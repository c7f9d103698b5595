// tls_server.cpp: tls_handler, StreamServer's TLS form (grove/net/tls_server.hpp).
#include <grove/net/tls_server.hpp>

#include <grove/errors.hpp>
#include <grove/log.hpp>

namespace grove::net {

StreamServer::Handler tls_handler(TlsContext ctx, TlsHandler handler, Duration handshake_timeout) {
  if (!ctx.is_server()) throw UsageError("grove::net::tls_handler: a server context (TlsContext::server) is needed");
  if (!handler) throw UsageError("grove::net::tls_handler: an empty handler");
  return [ctx = std::move(ctx), handler = std::move(handler), handshake_timeout](Socket& sock, const Address& peer) {
    TlsStream tls = TlsStream::server(std::move(sock), ctx);
    std::error_code ec;
    tls.handshake(handshake_timeout, ec);
    if (ec) {
      grove::logger().debug("grove::net::tls_handler: TLS handshake with {} failed: {}", peer.to_string(),
                            ec.message());
      return;
    }
    handler(tls, peer);
    // A clean end for the client (an HTTPS client reads a missing close_notify as
    // truncation); bounded, whatever timeout the handler left on the socket.
    if (tls.is_open()) {
      tls.settimeout(std::chrono::seconds(1));
      tls.shutdown(ec);
    }
  };
}

}  // namespace grove::net
