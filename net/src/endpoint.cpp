// endpoint.cpp: parsing "host:port" strings with a host name, and picking the
// address a server listens on.
#include "endpoint.hpp"
#include "port.hpp"

#include <netdb.h>

#include <charconv>
#include <stdexcept>

#include <grove/net/resolve.hpp>

namespace grove::net::detail {

namespace {

[[noreturn]] void bad(std::string_view text, const char* why) {
  std::string msg = "grove::net: invalid endpoint \"";
  msg.append(text).append("\": ").append(why);
  throw std::invalid_argument(msg);
}

// The port, or bad() with why it is not one.
std::uint16_t port_of(std::string_view text, std::string_view port) {
  std::uint16_t value = 0;
  if (const char* why = detail::parse_port(port, value)) bad(text, why);
  return value;
}

}  // namespace

Endpoint Endpoint::parse(std::string_view text, Use use) {
  Endpoint ep;
  ep.text = text;
  if (text.empty()) bad(text, "empty string");
  // Unix paths and bracketed IPv6 literals hold no name: Address::parse reads them.
  const bool unix_form = text.substr(0, 5) == "unix:" || text[0] == '/' || text[0] == '.' || text[0] == '@';
  if (unix_form || text[0] == '[') {
    ep.address = Address::parse(text);
    return ep;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) bad(text, "missing :port (expected host:port, [v6]:port or a /unix/path)");
  if (text.find(':') != colon) bad(text, "an IPv6 host must be written in brackets, as [::1]:7000");
  ep.port = port_of(text, text.substr(colon + 1));
  const std::string_view host = text.substr(0, colon);
  if (host.empty()) {
    if (use == Use::kConnect) bad(text, "missing host before ':' (\":port\" means every interface only to a server)");
    ep.address = Address::ip("0.0.0.0", ep.port);  // gevent's ('', port)
    return ep;
  }
  if (host.find('\0') != std::string_view::npos) bad(text, "NUL byte in the host");
  try {
    ep.address = Address::ip(host, ep.port);  // a numeric host: no lookup
  } catch (const std::invalid_argument&) {
    ep.host = host;
  }
  return ep;
}

Address Endpoint::listen_address(const char* who) const {
  if (!needs_lookup()) return address;
  std::error_code ec;
  const std::vector<Address> addrs = grove::net::resolve(host, port, std::nullopt, ec);
  if (!ec && addrs.empty()) ec = std::error_code(EAI_NONAME, resolver_category());
  if (ec) throw std::system_error(ec, std::string(who) + ": cannot resolve \"" + host + "\" (of \"" + text + "\")");
  for (const Address& a : addrs) {
    if (a.family() == Family::kIPv4) return a;
  }
  return addrs.front();
}

}  // namespace grove::net::detail
