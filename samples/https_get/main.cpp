// https_get: fetches one https:// URL with HTTP/1.1 over grove's TLS client and
// prints the body on stdout (the status line and the TLS parameters on stderr). The
// server's certificate is verified against the system's CAs, or --cacert's, and must
// name the URL's host; --insecure turns that off (for throwaway servers only).
//
//   https_get [--cacert ca.pem] [--insecure] [--timeout-ms 10000] https://localhost:8443/path
//
// Exit status: 0 for a 2xx response, 1 for any other response, 2 for a bad command
// line, 3 when the connection, TLS or the response failed. A throwaway CA and a
// server to try it against: samples/tls_echo_server/main.cpp's comment, then e.g.
//   openssl s_server -accept 8443 -cert server.pem -key server.key -WWW &
//   https_get --cacert ca.pem https://localhost:8443/README.md
//
// A server may end a response that has a Content-Length by closing without TLS's
// close_notify; once that many bytes are in, the missing close_notify is accepted
// (TlsStream::allow_truncation), as HTTP clients do; anywhere else it is an error.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/tls_stream.hpp>

#include "../common/args.hpp"

namespace {

struct Url {
  std::string host;
  std::uint16_t port = 443;
  std::string target = "/";
};

// https://host[:port][/path]; [v6] hosts in brackets. Empty host: not understood.
Url parse_url(const std::string& s) {
  Url u;
  const std::string scheme = "https://";
  if (s.rfind(scheme, 0) != 0) return u;
  std::string rest = s.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.target = rest.substr(slash);
  std::size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    const long p = std::strtol(authority.c_str() + colon + 1, nullptr, 10);
    if (p <= 0 || p > 65535) return u;
    u.port = static_cast<std::uint16_t>(p);
    authority.resize(colon);
  }
  u.host = authority;
  return u;
}

std::string header(const std::string& head, const std::string& name) {
  std::size_t at = 0;
  while ((at = head.find("\r\n", at)) != std::string::npos) {
    at += 2;
    if (head.size() - at > name.size() && strncasecmp(head.c_str() + at, name.c_str(), name.size()) == 0 &&
        head[at + name.size()] == ':') {
      const std::size_t v = head.find_first_not_of(' ', at + name.size() + 1);
      return head.substr(v, head.find("\r\n", v) - v);
    }
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  samples::Args args(argc, argv, "usage: https_get [--cacert FILE] [--insecure] [--timeout-ms N] https://host[:port]/path");
  grove::net::TlsClientOptions opts;
  opts.alpn = {"http/1.1"};
  long long timeout_ms = 10000;
  std::string url;
  while (args.next()) {
    if (args.is("--cacert")) opts.ca_file = args.text();
    else if (args.is("--insecure")) opts.insecure_skip_verify = true;
    else if (args.is("--timeout-ms")) timeout_ms = args.number(1, 3600000);
    else if (args.positional() && url.empty()) url = args.current();
    else args.usage();
  }
  const Url u = parse_url(url);
  if (u.host.empty()) args.usage_missing();
  try {
    const auto ctx = grove::net::TlsContext::client(opts);
    grove::net::TlsStream tls =
        grove::net::connect_tls(u.host, u.port, ctx, std::chrono::milliseconds(timeout_ms));
    std::fprintf(stderr, "https_get: %s %s, ALPN '%s'%s\n", tls.version().c_str(), tls.cipher().c_str(),
                 tls.alpn_protocol().c_str(), opts.insecure_skip_verify ? " (NOT VERIFIED: --insecure)" : "");
    tls.settimeout(std::chrono::milliseconds(timeout_ms));
    std::string request = "GET ";
    request.append(u.target).append(" HTTP/1.1\r\nHost: ").append(u.host);
    if (u.port != 443) request.append(":").append(std::to_string(u.port));
    request.append("\r\nUser-Agent: grove-https_get\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    tls.sendall(request);
    std::string response;
    char buf[16384];
    std::error_code ec;
    for (;;) {
      // Once the head and all of a Content-Length body are in, a missing close_notify is fine.
      const std::size_t end = response.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::string len = header(response.substr(0, end + 2), "Content-Length");
        if (!len.empty() && response.size() - end - 4 >= std::strtoull(len.c_str(), nullptr, 10)) {
          tls.allow_truncation(true);
        }
      }
      const std::size_t n = tls.recv_into(buf, sizeof buf, ec);
      if (ec) {
        std::fprintf(stderr, "https_get: reading the response: %s\n", ec.message().c_str());
        return 3;
      }
      if (n == 0) break;
      response.append(buf, n);
    }
    const std::size_t end = response.find("\r\n\r\n");
    if (end == std::string::npos) {
      std::fprintf(stderr, "https_get: no complete HTTP response (%zu bytes)\n", response.size());
      return 3;
    }
    const std::string status_line = response.substr(0, response.find("\r\n"));
    std::fprintf(stderr, "https_get: %s\n", status_line.c_str());
    std::fwrite(response.data() + end + 4, 1, response.size() - end - 4, stdout);
    const std::size_t sp = status_line.find(' ');
    const int status = sp == std::string::npos ? 0 : std::atoi(status_line.c_str() + sp + 1);
    return status >= 200 && status < 300 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "https_get: %s\n", e.what());
    return 3;
  }
}
