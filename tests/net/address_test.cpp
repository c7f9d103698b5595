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
