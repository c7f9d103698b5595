// address_test.cpp: parsing and printing grove::net::Address.
#include <stdexcept>

#include "net_test.hpp"

using grove::net::Address;
using grove::net::Family;

GROVE_TEST("an IPv4 address round-trips through its string form") {
  Address a = Address::parse("127.0.0.1:7000");
  CHECK(a.family() == Family::kIPv4);
  CHECK(a.port() == 7000);
  CHECK(a.host() == "127.0.0.1");
  CHECK(a.to_string() == "127.0.0.1:7000");
  CHECK(Address::parse(a.to_string()) == a);
}

GROVE_TEST("an IPv6 address is written in brackets and round-trips") {
  Address a = Address::parse("[::1]:7000");
  CHECK(a.family() == Family::kIPv6);
  CHECK(a.port() == 7000);
  CHECK(a.to_string() == "[::1]:7000");
  CHECK(Address::parse(a.to_string()) == a);
}

GROVE_TEST("a Unix path parses with or without the unix: prefix") {
  CHECK(Address::parse("unix:/tmp/x.sock").family() == Family::kUnix);
  CHECK(Address::parse("/tmp/x.sock").host() == "/tmp/x.sock");
  CHECK(Address::parse("/tmp/x.sock").to_string() == "unix:/tmp/x.sock");
  CHECK(Address::parse("@abstract").host() == "@abstract");
}

GROVE_TEST("bad address strings give an error naming the string and the problem") {
  auto msg = [](const char* s) {
    try {
      Address::parse(s);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(msg("127.0.0.1").find("missing :port") != std::string::npos);
  CHECK(msg("127.0.0.1:").find("missing port") != std::string::npos);
  CHECK(msg("127.0.0.1:99999").find("out of range") != std::string::npos);
  CHECK(msg("127.0.0.1:http").find("not a number") != std::string::npos);
  CHECK(msg("::1:80").find("brackets") != std::string::npos);
  CHECK(msg("[::1:80").find("']'") != std::string::npos);
  CHECK(msg("localhost:80").find("not a numeric") != std::string::npos);
  CHECK(msg("localhost:80").find("\"localhost:80\"") != std::string::npos);
  CHECK(msg("").find("empty") != std::string::npos);
}

GROVE_TEST("Address::parse rejects the malformed strings with a clear message") {
  CHECK_THROWS_WITH_AS(Address::parse("[::1]"), doctest::Contains("missing :port"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Address::parse("1.2.3.4:65536"), doctest::Contains("out of range"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Address::parse("1.2.3.4:"), doctest::Contains("missing port"), std::invalid_argument);
  CHECK_THROWS_AS(Address::parse("/" + std::string(107, 'p')), std::invalid_argument);
  CHECK_NOTHROW(Address::parse("/" + std::string(106, 'p')));
  CHECK(Address::parse("@abs").to_string() == "unix:@abs");
  CHECK(Address::parse(Address::parse("@abs").to_string()) == Address::parse("@abs"));
}

GROVE_TEST("a port too large for unsigned is reported as out of range") {
  CHECK_THROWS_WITH_AS(Address::parse("1.2.3.4:99999999999"), doctest::Contains("out of range"),
                       std::invalid_argument);
}

GROVE_TEST("an IPv6 literal with an empty scope (\"::1%\") is rejected") {
  CHECK_THROWS_AS(Address::ip("::1%", 80), std::invalid_argument);
  CHECK_THROWS_AS(Address::parse("[::1%]:80"), std::invalid_argument);
}

GROVE_TEST("a host with an embedded NUL is rejected, not cut at the NUL") {
  using namespace std::string_view_literals;
  CHECK_THROWS_AS(Address::ip("127.0.0.1\0junk"sv, 80), std::invalid_argument);
  CHECK_THROWS_AS(Address::parse("127.0.0.1\0junk:80"sv), std::invalid_argument);
}

GROVE_TEST("an abstract Unix name may use all 107 bytes after the leading NUL") {
  const std::string name = "@" + std::string(107, 'a');  // sun_path[0] = 0, then 107 bytes: fits in 108
  Address a;
  CHECK_NOTHROW(a = Address::unix_path(name));
  if (!a.empty()) {
    grove::net::Socket s(grove::net::Family::kUnix, grove::net::SocketType::kStream);
    std::error_code ec;
    s.bind(a, ec);
    CHECK(!ec);
    CHECK(s.local_address().host() == name);
  }
}

GROVE_TEST("Address::parse refuses a host name and says where names are looked up") {
  try {
    (void)Address::parse("localhost:7001");
    FAIL("no error");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    CHECK(what.find("\"localhost:7001\"") != std::string::npos);
    CHECK(what.find("grove::net::resolve") != std::string::npos);
    CHECK(what.find("\"host:port\" string") != std::string::npos);
  }
}
