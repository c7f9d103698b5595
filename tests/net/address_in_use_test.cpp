// address_in_use_test.cpp: binding a Unix socket path that already exists says
// whether a server listens on it, it is a file left over, or it is not a socket.
#include <fcntl.h>
#include <unistd.h>

#include <functional>
#include <string>

#include <grove/net/stream_server.hpp>

#include "net_test.hpp"

using namespace net_test;
using grove::net::Family;
using grove::net::SocketType;
using grove::net::StreamServer;

namespace {
void ignore(Socket&, const Address&) {}
std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
std::string temp_path(const char* tag) { return "/tmp/grove-" + std::string(tag) + "-" + std::to_string(::getpid()) + ".sock"; }
}  // namespace

GROVE_TEST("binding a Unix socket path left over by a closed socket says so and names the path") {
  const std::string path = temp_path("stale");
  ::unlink(path.c_str());
  {
    Socket old(Family::kUnix, SocketType::kStream);
    old.bind(Address::unix_path(path));
    old.listen();
  }  // closed; the file stays, as after a crash
  StreamServer server(Address::unix_path(path), ignore);
  std::string what;
  try {
    server.start();
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::address_in_use);
    what = e.what();
  }
  CHECK(contains(what, path + " exists"));
  CHECK(contains(what, "left over"));
  CHECK(contains(what, "remove it"));
  // Socket::bind itself gives the same explanation.
  Socket s(Family::kUnix, SocketType::kDatagram);
  CHECK(contains(what_of([&] { s.bind(Address::unix_path(path)); }), "left over"));
  ::unlink(path.c_str());
  server.start();  // and once it is removed, the server starts
  server.stop();
}

GROVE_TEST("binding a Unix socket path a live server listens on says it is in use, not left over") {
  const std::string path = temp_path("live");
  ::unlink(path.c_str());
  StreamServer first(Address::unix_path(path), ignore);
  first.start();
  StreamServer second(Address::unix_path(path), ignore);
  const std::string what = what_of([&] { second.start(); });
  CHECK(contains(what, path));
  CHECK(contains(what, "listening on it"));
  CHECK_FALSE(contains(what, "left over"));
  first.stop();
}

GROVE_TEST("binding a Unix socket path that is a regular file says it is not a socket") {
  const std::string path = temp_path("file");
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  ::close(fd);
  Socket s(Family::kUnix, SocketType::kStream);
  const std::string what = what_of([&] { s.bind(Address::unix_path(path)); });
  CHECK(contains(what, path + " exists and is not a socket"));
  ::unlink(path.c_str());
}
