// address_fuzz.cpp: Address::parse over arbitrary text.
//
// Properties: parse either returns an address or throws std::invalid_argument with a
// message (nothing else escapes); a parsed address prints (to_string) as text that
// parses back to the same address and prints the same again; an IP address rebuilt
// from host() and port() is the same address; a Unix one from host() too.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <grove/net/address.hpp>

#include "fuzz_support.hpp"

using grove::net::Address;
using grove::net::Family;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Address a;
  try {
    a = Address::parse(text);
  } catch (const std::invalid_argument& e) {
    FUZZ_CHECK(*e.what() != '\0', "a parse error says what is wrong");
    return 0;
  }
  FUZZ_CHECK(!a.empty(), "a parsed address is not empty");
  FUZZ_CHECK(a.size() > 0 && a.size() <= Address::capacity(), "sockaddr length within its storage");
  const std::string printed = a.to_string();
  Address b;
  try {
    b = Address::parse(printed);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "to_string gave \"%s\": %s\n", printed.c_str(), e.what());
    FUZZ_CHECK(false, "to_string() parses back");
  }
  FUZZ_CHECK(a == b, "parse(to_string(a)) == a");
  FUZZ_CHECK(b.to_string() == printed, "printing is stable");
  if (a.family() == Family::kIPv4 || a.family() == Family::kIPv6) {
    const Address c = Address::ip(a.host(), a.port());
    FUZZ_CHECK(c == a, "Address::ip(host(), port()) == a");
  } else {
    FUZZ_CHECK(a.family() == Family::kUnix, "a family parse can give");
    FUZZ_CHECK(a.port() == 0, "a Unix address has no port");
    const Address c = Address::unix_path(a.host());
    FUZZ_CHECK(c == a, "Address::unix_path(host()) == a");
  }
  return 0;
}
