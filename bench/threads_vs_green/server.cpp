// server.cpp: one blocking echo server, written the way code is written for OS threads
// (accept, then read / write in a loop per connection, plain libc calls), built twice
// from this file:
//
//   tvg_threads  one std::thread per connection; grove is not linked
//   tvg_green    -DTVG_GREEN: one green thread per connection; main() calls
//                grove::monkey::patch_all() first, so the same libc calls park only
//                the calling green thread, and runs the accept loop in the root green
//                thread
//
// The connection code (serve()) has no grove call in it; only start_connection() and
// the optional --offload differ between the two builds.
//
//   tvg_threads --port P [--host 127.0.0.1] [--work-kib K] [--size B]
//   tvg_green   --port P [--host 127.0.0.1] [--work-kib K] [--size B] [--offload]
//
// --work-kib K: a CPU-heavy request: for every --size bytes received (one message of
// the load generator; default 64), hash K KiB (FNV-1a, a serial chain of multiply and
// xor: a few cycles per byte, so 64 KiB is 64 to 73 us on a 2.6 GHz Xeon) before
// echoing. 0 (default): plain echo. --offload (tvg_green only): the hash runs through
// grove::run_in_thread, on grove's thread pool (GROVE_THREADPOOL_SIZE workers, default
// 10), while the connection's green thread parks.
//
// Prints "<name> listening on H:P (work: K KiB, X us)" once it accepts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(TVG_GREEN)
#include <grove/grove.hpp>
#include <grove/monkey.hpp>
#include <grove/thread_pool.hpp>
#else
#include <system_error>
#include <thread>
#endif

namespace {

#if defined(TVG_GREEN)
constexpr const char* kName = "tvg_green";
#else
constexpr const char* kName = "tvg_threads";
#endif

std::size_t g_work_bytes = 0;        // bytes hashed per message; 0: plain echo
std::size_t g_msg_size = 64;         // bytes per message of the load generator
bool g_offload = false;              // tvg_green: hash in grove's thread pool
std::vector<unsigned char> g_input;  // what is hashed (filled once at start)

// FNV-1a over g_input, seeded from the message so that nothing can be hoisted.
std::uint64_t hash_work(const char* msg, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(msg[i])) * 0x100000001b3ull;
  for (std::size_t i = 0; i < g_work_bytes; ++i) h = (h ^ g_input[i]) * 0x100000001b3ull;
  return h;
}

void do_work(const char* msg, std::size_t n) {
  std::uint64_t h = 0;
#if defined(TVG_GREEN)
  if (g_offload) {
    grove::run_in_thread([&] { h = hash_work(msg, n); });
  } else {
    h = hash_work(msg, n);
  }
#else
  h = hash_work(msg, n);
#endif
  asm volatile("" : : "r"(h));  // keep the result alive
}

// Writes all n bytes; false on error.
bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// One connection, blocking style: read, (work,) write back, until end of file. The
// buffer is 2 KiB, as in samples/echo_server.
void serve(int fd) {
  char buf[2048];
  std::size_t pending = 0;  // bytes of the current message received so far
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (g_work_bytes > 0) {
      pending += static_cast<std::size_t>(n);
      for (; pending >= g_msg_size; pending -= g_msg_size) do_work(buf, static_cast<std::size_t>(n));
    }
    if (!write_all(fd, buf, static_cast<std::size_t>(n))) break;
  }
  ::close(fd);
}

// The only difference in how a connection runs.
void start_connection(int fd) {
#if defined(TVG_GREEN)
  grove::spawn(serve, fd);  // the handle is dropped: the green thread runs detached
#else
  try {
    std::thread(serve, fd).detach();
  } catch (const std::system_error& e) {
    static bool said = false;
    if (!said) std::fprintf(stderr, "%s: std::thread: %s (connection closed)\n", kName, e.what());
    said = true;
    ::close(fd);
  }
#endif
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: %s --port P [--host H] [--work-kib K] [--size B]%s\n", kName,
#if defined(TVG_GREEN)
               " [--offload]"
#else
               ""
#endif
  );
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
#if defined(TVG_GREEN)
  grove::monkey::patch_all();  // first thing: only fds made after it are cooperative
#endif
  std::string host = "127.0.0.1";
  long port = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
#if defined(TVG_GREEN)
    if (a == "--offload") {
      g_offload = true;
      continue;
    }
#endif
    if (i + 1 >= argc) usage();
    if (a == "--port") port = std::strtol(argv[++i], nullptr, 10);
    else if (a == "--host") host = argv[++i];
    else if (a == "--work-kib") g_work_bytes = std::strtoul(argv[++i], nullptr, 10) * 1024;
    else if (a == "--size") g_msg_size = std::strtoul(argv[++i], nullptr, 10);
    else usage();
  }
  if (port < 0 || port > 65535 || g_msg_size == 0) usage();

  // One fd per connection: raise the soft limit to the hard one.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::signal(SIGPIPE, SIG_IGN);

  g_input.resize(g_work_bytes);
  std::uint32_t x = 2463534242u;  // xorshift32
  for (auto& b : g_input) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<unsigned char>(x);
  }
  double work_us = 0;
  if (g_work_bytes > 0) {  // calibration: the cheapest of 20 runs on this thread
    char probe[64] = {};
    for (int i = 0; i < 20; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::uint64_t h = hash_work(probe, sizeof probe);
      asm volatile("" : : "r"(h));
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      if (i == 0 || us < work_us) work_us = us;
    }
  }

  const int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) {
    std::perror("socket");
    return 1;
  }
  const int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) usage();
  if (::bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::listen(ls, 4096) < 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof sa;
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len);
  std::printf("%s listening on %s:%d (work: %zu KiB, %.1f us%s)\n", kName, host.c_str(), ntohs(sa.sin_port),
              g_work_bytes / 1024, work_us, g_offload ? ", in grove's thread pool" : "");
  std::fflush(stdout);

  // The accept loop: on the main thread, or (tvg_green) in the root green thread.
  for (;;) {
    const int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        static bool said = false;
        if (!said) std::fprintf(stderr, "%s: accept: %s\n", kName, std::strerror(errno));
        said = true;
        ::usleep(10000);  // cooperative in tvg_green
        continue;
      }
      std::perror("accept");
      return 1;
    }
    start_connection(fd);
  }
}
