// grove/net/resolve.hpp: names to addresses, and connecting by name.
//
//   for (const auto& a : grove::net::resolve("localhost", 80)) ...
//   grove::net::Socket s = grove::net::create_connection("example.org", 80, 5s);
//   grove::net::Socket t = grove::net::create_connection("example.org:80", 5s);  // Go's net.Dial
//
// getaddrinfo blocks, so resolve() runs it on another OS thread and parks only the
// calling green thread until the answer comes back.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/net/address.hpp>
#include <grove/net/socket.hpp>

namespace grove::net {

// The error category of resolver failures: value() is getaddrinfo's EAI_* code and
// message() is gai_strerror's text ("Name or service not known", ...). EAI_SYSTEM
// is reported as the errno it carries, in std::system_category.
GROVE_API const std::error_category& resolver_category() noexcept;

// The addresses of `host` (a name or an IP literal) for TCP, IPv4 and IPv6, in
// getaddrinfo's order (RFC 6724), with `port` set. An IP literal is converted
// without a lookup and without parking. Otherwise parks until the lookup is done,
// `timeout` passes (std::errc::timed_out; the lookup finishes in the background and
// its answer is dropped) or the caller is killed (GreenletExit; same). Errors in
// resolver_category(); the throwing overload's message names the host. A host with
// a NUL byte in it is std::invalid_argument (the lookup would see only its start).
GROVE_API std::vector<Address> resolve(std::string_view host, std::uint16_t port, std::optional<Duration> timeout,
                                       std::error_code& ec);
// Throwing form of resolve(): std::system_error whose message names the host.
GROVE_API std::vector<Address> resolve(std::string_view host, std::uint16_t port,
                                       std::optional<Duration> timeout = std::nullopt);

// Resolves `host` and connects to each address in turn until one accepts, all
// within `timeout` (the whole call). Returns the connected socket (non-blocking,
// no default timeout). On failure, the error of the last attempt (or of the
// lookup; EAI_NONAME if the lookup found nothing); the throwing overload's message
// names host and port. Parks in the lookup and in each connect; a kill or Timeout
// unwinds with GreenletExit / TimeoutError and closes the socket being connected.
GROVE_API Socket create_connection(std::string_view host, std::uint16_t port, std::optional<Duration> timeout,
                                   std::error_code& ec);
// Throwing form of create_connection(): std::system_error naming host and port.
GROVE_API Socket create_connection(std::string_view host, std::uint16_t port,
                                   std::optional<Duration> timeout = std::nullopt);

// create_connection() to an endpoint written as one string, as with Go's net.Dial:
// "host:port" with a name or a numeric host ("localhost:7000", "127.0.0.1:7000",
// "[::1]:7000"; a name is resolved as above, a literal is not looked up), or a Unix
// socket path ("unix:/tmp/app.sock", "/tmp/app.sock"). A malformed string (no port,
// no host, a port out of range, an IPv6 host without brackets) is
// std::invalid_argument quoting it, in both forms. Other errors as above; the
// throwing overload's message quotes `endpoint`.
GROVE_API Socket create_connection(std::string_view endpoint, std::optional<Duration> timeout, std::error_code& ec);
// Throwing form of create_connection(endpoint): std::system_error naming the endpoint.
GROVE_API Socket create_connection(std::string_view endpoint, std::optional<Duration> timeout = std::nullopt);

}  // namespace grove::net
