// monkey: plain blocking libc calls become cooperative after patch_all().
// Link with grove-monkey (pkg-config) or grove_monkey_dep (meson).
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <grove/grove.hpp>
#include <grove/monkey.hpp>

int main() {
  grove::monkey::patch_all();  // first thing: fds made before are left alone

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 1;

  std::string order;
  // A plain blocking read(): without monkey it would block the whole OS thread, and
  // the writer below could never run.
  auto reader = grove::spawn([&] {
    char buf[16];
    ssize_t n = ::read(fds[0], buf, sizeof buf);  // parks this green thread only
    order += "read " + std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) + "; ";
  });
  auto writer = grove::spawn([&] {
    ::usleep(10 * 1000);  // cooperative too: the reader is already parked
    order += "write; ";
    (void)::write(fds[1], "ping", 4);
  });
  grove::joinall({reader, writer});
  ::close(fds[0]);
  ::close(fds[1]);
  std::printf("%s\n", order.c_str());
  return order == "write; read ping; " ? 0 : 1;
}
