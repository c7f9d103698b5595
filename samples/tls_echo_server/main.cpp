// tls_echo_server: echoes every byte back on each TLS connection, one green thread
// per connection; the handshake runs in that green thread under a timeout, so a
// client that stalls holds only its own connection. Stops on Ctrl-C / SIGTERM.
//
//   tls_echo_server --cert server.pem --key server.key --port 8443 [--host 127.0.0.1]
//                   [--handshake-timeout-ms 10000] [--alpn proto]...
//
// A throwaway CA and a certificate for localhost, with the openssl command:
//
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30
//       -subj "/CN=throwaway CA" -keyout ca.key -out ca.pem
//   openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
//       -subj "/CN=localhost" -keyout server.key -out server.csr
//   printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf
//   openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30
//       -extfile ext.cnf -out server.pem
//
// (each command on one line). tests/samples/drive_tls.py makes its certificates so.
//
// and then, to try it:
//
//   tls_echo_server --cert server.pem --key server.key --port 8443 &
//   openssl s_client -connect localhost:8443 -CAfile ca.pem -verify_return_error -quiet
//   python3 -c 'import socket, ssl; c = ssl.create_default_context(cafile="ca.pem");
//     s = c.wrap_socket(socket.create_connection(("localhost", 8443)), server_hostname="localhost");
//     s.sendall(b"hi\n"); print(s.recv(99))'
#include <cstdio>
#include <string>
#include <vector>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>
#include <grove/net/tls_server.hpp>

#include "../common/args.hpp"
#include "../common/stop_signal.hpp"

namespace {

// Echoes until the client's close_notify (or an error, which just ends the connection).
void echo(grove::net::TlsStream& tls, const grove::net::Address&) {
  char buf[4096];
  std::error_code ec;
  for (;;) {
    const std::size_t n = tls.recv_into(buf, sizeof buf, ec);
    if (ec || n == 0) return;
    tls.sendall(buf, n, ec);
    if (ec) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  samples::Args args(argc, argv,
                     "usage: tls_echo_server --cert FILE --key FILE --port N [--host H] "
                     "[--handshake-timeout-ms N] [--alpn PROTO]...");
  std::string host = "127.0.0.1";
  long long port = -1;
  long long handshake_ms = 10000;
  grove::net::TlsServerOptions tls;
  while (args.next()) {
    if (args.is("--cert")) tls.cert_file = args.text();
    else if (args.is("--key")) tls.key_file = args.text();
    else if (args.is("--port")) port = args.number(0, 65535);
    else if (args.is("--host")) host = args.text();
    else if (args.is("--handshake-timeout-ms")) handshake_ms = args.number(1, 3600000);
    else if (args.is("--alpn")) tls.alpn.push_back(args.text());
    else args.usage();
  }
  if (port < 0 || tls.cert_file.empty() || tls.key_file.empty()) args.usage_missing();
  try {
    samples::install_stop_signals();
    const grove::net::TlsContext ctx = grove::net::TlsContext::server(tls);
    grove::net::StreamServerOptions opts;
    opts.name = "tls_echo_server";
    opts.backlog = 1024;
    grove::net::StreamServer server(grove::net::Address::ip(host, static_cast<std::uint16_t>(port)),
                                    grove::net::tls_handler(ctx, echo, std::chrono::milliseconds(handshake_ms)),
                                    opts);
    server.start();
    std::printf("tls_echo_server listening on %s\n", server.address().to_string().c_str());
    std::fflush(stdout);
    samples::wait_for_stop_signal();
    server.stop(std::chrono::seconds(2));
    std::printf("tls_echo_server: stopped\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tls_echo_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
