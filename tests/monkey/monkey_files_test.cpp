// monkey_files_test.cpp: with the files area patched (patch_files(), off by default
// and not part of patch_all()), read and write of a regular file from a green thread
// run in grove's thread pool while only the caller parks; cached reads do not park.
//
// How a test sees that a call parked: a probe green thread spawned just before it is
// queued; it runs only if the caller parks, and then sees the caller's thread-pool job
// pending (as in monkey_dns_test.cpp).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include <grove/monkey.hpp>

#include "grove_test.hpp"

namespace {

// The hub and its thread-pool inbox exist before the first case, so its "same fds
// before and after" check counts neither.
const bool primed = (grove::current(), grove::run_in_thread([] {}), true);

struct Probe {
  int seen_pending = -1;  // -1: the probe did not run while the call was in progress
  grove::GreenThread<void> g;
  Probe() {
    g = grove::spawn([this] { seen_pending = static_cast<int>(grove::hub_stats().pending_jobs); });
  }
  ~Probe() { g.join(); }
};

// A temporary regular file, removed at the end; `fd` open read-write.
struct TempFile {
  std::string path;
  int fd = -1;
  TempFile() {
    char tmpl[] = "/tmp/grove-monkey-files.XXXXXX";
    fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    path = tmpl;
  }
  ~TempFile() {
    ::close(fd);
    ::unlink(path.c_str());
  }
};

struct Unpatch {
  ~Unpatch() { grove::monkey::unpatch_all(); }
};

}  // namespace

GROVE_TEST("patch_all leaves the files area off: a regular file's write does not park") {
  (void)primed;
  Unpatch u;
  grove::monkey::patch_all();
  CHECK_FALSE(grove::monkey::files_patched());
  TempFile f;
  int seen = 0;
  {
    Probe p;
    CHECK(::write(f.fd, "abc", 3) == 3);
    seen = p.seen_pending;
  }
  CHECK(seen == -1);
}

GROVE_TEST("with files patched, a regular file's write parks the caller in a thread-pool job") {
  Unpatch u;
  grove::monkey::patch_files();
  CHECK(grove::monkey::files_patched());
  TempFile f;
  const std::string data(100000, 'w');
  int seen = 0;
  {
    Probe p;
    CHECK(::write(f.fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    seen = p.seen_pending;
  }
  CHECK(seen == 1);
  char buf[16];
  CHECK(::pread(f.fd, buf, 3, 0) == 3);
  CHECK(std::string(buf, 3) == "www");
}

GROVE_TEST("with files patched, a read of uncached data parks; a read of cached data does not") {
  Unpatch u;
  TempFile f;
  std::string data;
  for (int i = 0; data.size() < (1u << 20); ++i) data += "line " + std::to_string(i) + "\n";
  REQUIRE(::write(f.fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  REQUIRE(::fsync(f.fd) == 0);
  REQUIRE(::posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED) == 0);  // clean pages: dropped
  REQUIRE(::lseek(f.fd, 0, SEEK_SET) == 0);
  grove::monkey::patch_files();
  std::string got(data.size(), '\0');
  int seen_cold = 0, seen_warm = 0;
  {
    Probe p;
    CHECK(::read(f.fd, got.data(), got.size()) > 0);
    seen_cold = p.seen_pending;
  }
  CHECK(seen_cold == 1);
  REQUIRE(::lseek(f.fd, 0, SEEK_SET) == 0);
  {
    Probe p;
    std::size_t done = 0;
    while (done < got.size()) {  // a cold read may have been short: now all cached
      const ssize_t n = ::read(f.fd, got.data() + done, got.size() - done);
      REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
    seen_warm = p.seen_pending;
  }
  CHECK(seen_warm == -1);
  CHECK(got == data);
}

GROVE_TEST("with files patched, the worker's errno comes back, and other fds keep libc's call") {
  Unpatch u;
  grove::monkey::patch_files();
  TempFile f;
  const int ro = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(ro >= 0);
  errno = 0;
  CHECK(::write(ro, "x", 1) == -1);
  CHECK(errno == EBADF);
  ::close(ro);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);  // a character device
  REQUIRE(null >= 0);
  int seen = 0;
  {
    Probe p;
    CHECK(::write(null, "abc", 3) == 3);
    seen = p.seen_pending;
  }
  CHECK(seen == -1);
  ::close(null);
}
