// file_test.cpp: grove::File, BufferedFile, read_file / write_file (durable writes
// survive a kill -9 of the writer), and the thread pool's per-kind bounds (hung DNS
// jobs do not stop file reads or run_in_thread). A process of its own: the bound test
// fills the default pool for a while.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grove/buffered_file.hpp>
#include <grove/file.hpp>
#include <grove/thread_pool.hpp>

#include "file_contents.hpp"
#include "grove_test.hpp"

using namespace std::chrono_literals;

extern char** environ;

namespace {

// A fresh directory under /tmp, removed (with what is in it) at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/grove-file-test.XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    for (const std::string& name : entries()) ::unlink((path + "/" + name).c_str());
    ::rmdir(path.c_str());
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
        out.push_back(e->d_name);
      }
      ::closedir(d);
    }
    return out;
  }
};

std::string error_text(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::system_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

GROVE_TEST("File: write, size, read back, truncate, close") {
  TempDir dir;
  const std::string path = dir / "a.txt";
  grove::File f = grove::File::open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK(f.is_open());
  CHECK(f.path() == path);
  CHECK(f.write("hello, file\n") == 12);
  CHECK(f.size() == 12);
  char buf[64];
  CHECK(f.read(buf, sizeof buf) == 0);  // the offset is at the end
  CHECK(f.pread(buf, sizeof buf, 0) == 12);
  CHECK(std::string(buf, 12) == "hello, file\n");
  f.fsync();
  f.fdatasync();
  f.truncate(5);
  CHECK(f.size() == 5);
  f.close();
  CHECK_FALSE(f.is_open());
  CHECK(grove::read_file(path) == "hello");
  CHECK_THROWS_AS(f.read(buf, 1), grove::UsageError);  // closed
}

GROVE_TEST("File: pread and pwrite at offsets leave the file offset where it was") {
  TempDir dir;
  grove::File f = grove::File::open(dir / "b", O_RDWR | O_CREAT, 0644);
  f.write("0123456789");
  CHECK(f.pwrite("ab", 2) == 2);
  CHECK(f.pwrite("XY", 12) == 2);  // past the end: a hole of zeros
  CHECK(f.size() == 14);
  CHECK(f.write("!") == 1);  // the offset stayed at 10
  char buf[32];
  CHECK(f.pread(buf, 4, 1) == 4);
  CHECK(std::string(buf, 4) == "1ab4");
  CHECK(f.pread(buf, sizeof buf, 8) == 6);  // fewer at end of file
  CHECK(std::string(buf, 6) == std::string("89!\0XY", 6));
  CHECK(f.pread(buf, 4, 100) == 0);
}

GROVE_TEST("File: reads of data the page cache does not hold go through the pool and return it whole") {
  TempDir dir;
  const std::string path = dir / "cold";
  std::string data;
  for (int i = 0; data.size() < (4u << 20); ++i) data += "block " + std::to_string(i) + "\n";
  grove::write_file(path, data, true);  // fsync'ed: its pages are clean, so they can be dropped
  grove::File f = grove::File::open(path);
  REQUIRE(::posix_fadvise(f.fd(), 0, 0, POSIX_FADV_DONTNEED) == 0);
  std::string got(data.size(), '\0');
  CHECK(f.pread(got.data(), got.size(), 0) == data.size());
  CHECK(got == data);
  REQUIRE(::posix_fadvise(f.fd(), 0, 0, POSIX_FADV_DONTNEED) == 0);
  std::string seq;
  char buf[65536];
  for (int i = 0; i < 1000; ++i) {
    const std::size_t n = f.read(buf, sizeof buf);
    if (n == 0) break;
    seq.append(buf, n);
  }
  CHECK(seq == data);
}

GROVE_TEST("File::open of a missing file is ENOENT, and the throwing form names the path") {
  TempDir dir;
  const std::string path = dir / "missing";
  std::error_code ec;
  grove::File f = grove::File::open(path, O_RDONLY, 0, ec);
  CHECK(ec == std::errc::no_such_file_or_directory);
  CHECK_FALSE(f.is_open());
  const std::string what = error_text([&] { grove::File::open(path); });
  CHECK(what.find(path) != std::string::npos);
  CHECK(what.find("grove::File::open") != std::string::npos);
  std::error_code ec2;
  CHECK(grove::read_file(path, ec2).empty());
  CHECK(ec2 == std::errc::no_such_file_or_directory);
  CHECK(error_text([&] { grove::read_file(path); }).find(path) != std::string::npos);
}

GROVE_TEST("File: a directory is EISDIR, for writing at open and for reading at read") {
  TempDir dir;
  std::error_code ec;
  grove::File w = grove::File::open(dir.path, O_WRONLY, 0, ec);
  CHECK(ec == std::errc::is_a_directory);
  grove::File r = grove::File::open(dir.path, O_RDONLY);
  char buf[8];
  CHECK(r.read(buf, sizeof buf, ec) == 0);
  CHECK(ec == std::errc::is_a_directory);
  const std::string what = error_text([&] { r.read(buf, sizeof buf); });
  CHECK(what.find("grove::File::read (" + dir.path + ")") != std::string::npos);
}

GROVE_TEST("File: no permission is an error naming the path") {
  TempDir dir;
  const std::string path = dir / "ro";
  grove::write_file(path, "x");
  ::chmod(path.c_str(), 0444);
  std::error_code ec;
  if (::geteuid() != 0) {
    grove::File f = grove::File::open(path, O_WRONLY, 0, ec);
    CHECK(ec == std::errc::permission_denied);
    CHECK(error_text([&] { grove::File::open(path, O_WRONLY); }).find(path) != std::string::npos);
  }
  // Root passes permission checks; a write through a read-only descriptor fails for
  // everyone (EBADF).
  grove::File f = grove::File::open(path, O_RDONLY);
  CHECK(f.write("y", ec) == 0);
  CHECK(ec == std::errc::bad_file_descriptor);
  CHECK(error_text([&] { f.write("y"); }).find("grove::File::write (" + path + ")") != std::string::npos);
}

GROVE_TEST("other green threads keep running while a File call waits in the pool") {
  TempDir dir;
  const std::string fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  int ticks = 0;
  bool stop = false;
  auto ticker = grove::spawn([&] {
    for (int i = 0; i < 5000 && !stop; ++i) {
      ++ticks;
      grove::sleep(1ms);
    }
  });
  std::string got;
  bool done = false;
  auto reader = grove::spawn([&] {
    grove::File f = grove::File::open(fifo, O_RDONLY);  // blocks (in the pool) until a writer opens
    char buf[16];
    const std::size_t n = f.read(buf, sizeof buf);  // blocks until data arrives
    got.assign(buf, n);
    done = true;
  });
  grove::sleep(50ms);
  CHECK_FALSE(done);
  CHECK(ticks >= 10);  // the hub ran the ticker meanwhile
  const int wfd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);  // the reader waits in open
  REQUIRE(wfd >= 0);
  const int ticks_before = ticks;
  grove::sleep(30ms);
  CHECK(ticks > ticks_before);
  CHECK_FALSE(done);  // opened, now waiting in read
  CHECK(::write(wfd, "ping", 4) == 4);
  ::close(wfd);
  reader.join();
  CHECK(got == "ping");
  stop = true;
  ticker.join();
}

GROVE_TEST("a green thread killed while File::open runs unwinds once open returned, and the fd is closed") {
  TempDir dir;
  const std::string fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  bool opened = false;
  auto g = grove::spawn([&] {
    grove::File f = grove::File::open(fifo, O_RDONLY);  // blocks until a writer opens
    opened = true;
  });
  grove::sleep(20ms);
  CHECK_FALSE(g.kill(30ms));  // the kill waits for the open (the pool's contract)
  const int wfd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(wfd >= 0);
  g.join();
  ::close(wfd);
  CHECK_FALSE(opened);
  CHECK(g.ready());
  // The case's clean-hub check sees the same open fds as before: the fd open
  // returned was closed when the kill unwound.
}

GROVE_TEST("BufferedFile reads lines, long lines in pieces and the unterminated rest") {
  TempDir dir;
  const std::string path = dir / "lines";
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "line " + std::to_string(i) + "\n";
  text += std::string(300, 'x') + "\nlast";
  grove::write_file(path, text);
  grove::File f = grove::File::open(path);
  grove::BufferedFile in(f, 100);  // small chunks: lines cross refills
  for (int i = 0; i < 1000; ++i) REQUIRE(in.read_line(1024) == "line " + std::to_string(i) + "\n");
  CHECK(in.read_line(128) == std::string(128, 'x'));
  CHECK(in.read_line(1024) == std::string(172, 'x') + "\n");
  CHECK(in.read_line(1024) == "last");
  CHECK(in.read_line(1024) == "");
  CHECK(in.read_line(1024) == "");
  CHECK_THROWS_AS(in.read_line(0), grove::UsageError);
}

GROVE_TEST("BufferedFile holds writes until chunk bytes or flush; writing after reading is a usage error") {
  TempDir dir;
  const std::string path = dir / "w";
  grove::File f = grove::File::open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  grove::BufferedFile out(f, 64);
  out.write("abc\n");
  CHECK(out.pending_write() == 4);
  CHECK(f.size() == 0);
  out.write(std::string(70, 'z'));  // over the chunk: written out
  CHECK(out.pending_write() == 0);
  CHECK(f.size() == 74);
  out.write("tail\n");
  out.flush();
  CHECK(grove::read_file(path) == "abc\n" + std::string(70, 'z') + "tail\n");
  grove::File r = grove::File::open(path);
  grove::BufferedFile io(r, 64);
  CHECK(io.read_line(100) == "abc\n");
  CHECK_THROWS_AS(io.write("x"), grove::UsageError);
}

GROVE_TEST("write_file replaces the content, durable or not, and leaves no temporary file") {
  TempDir dir;
  const std::string path = dir / "state";
  grove::write_file(path, "first");
  CHECK(grove::read_file(path) == "first");
  grove::write_file(path, "second, durable", true);
  CHECK(grove::read_file(path) == "second, durable");
  grove::write_file(path, "", true);
  CHECK(grove::read_file(path) == "");
  CHECK(dir.entries() == std::vector<std::string>{"state"});
  // Relative to the working directory (no slash in the path).
  const std::string cwd = [] {
    char b[4096];
    return std::string(::getcwd(b, sizeof b));
  }();
  REQUIRE(::chdir(dir.path.c_str()) == 0);
  grove::write_file("rel", "relative", true);
  REQUIRE(::chdir(cwd.c_str()) == 0);
  CHECK(grove::read_file(dir / "rel") == "relative");
}

GROVE_TEST("write_file into a missing directory is ENOENT, and the error names the path") {
  TempDir dir;
  const std::string path = dir / "no/such/file";
  for (bool durable : {false, true}) {
    std::error_code ec;
    grove::write_file(path, "x", durable, ec);
    CHECK(ec == std::errc::no_such_file_or_directory);
    CHECK(error_text([&] { grove::write_file(path, "x", durable); }).find(path) != std::string::npos);
  }
  CHECK(dir.entries().empty());
}

GROVE_TEST("a durable write_file killed with SIGKILL at random moments leaves the old or the new content") {
  const char* helper = std::getenv("GROVE_FILE_WRITER");
  REQUIRE_MESSAGE(helper != nullptr, "GROVE_FILE_WRITER is not set");
  TempDir dir;
  const std::string path = dir / "target";
  const std::string& a = file_test::content_a();
  const std::string& b = file_test::content_b();
  grove::write_file(path, a, true);
  std::mt19937 rng(12345);
  int seen_b = 0, seen_a = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 30 && std::chrono::steady_clock::now() - t0 < 20s; ++i) {
    char* argv[] = {const_cast<char*>(helper), const_cast<char*>(path.c_str()), nullptr};
    pid_t pid = -1;
    REQUIRE(::posix_spawn(&pid, helper, nullptr, nullptr, argv, environ) == 0);
    grove::sleep(std::chrono::microseconds(2000 + rng() % 60000));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    const std::string got = grove::read_file(path);
    const bool ok = got == a || got == b;
    CHECK_MESSAGE(ok, "torn file after kill " << i << ": " << got.size() << " bytes");
    seen_a += got == a;
    seen_b += got == b;
  }
  MESSAGE("old/new contents seen after the kills: a " << seen_a << ", b " << seen_b);
  CHECK(seen_b > 0);  // the writer did replace the file at least once
  // What a kill may leave: the target and temporary files, nothing else.
  for (const std::string& name : dir.entries()) {
    CHECK((name == "target" || name.rfind(".target.tmp.", 0) == 0));
  }
}

GROVE_TEST("50 hung DNS jobs do not stop file reads or run_in_thread") {
  grove::ThreadPool& pool = grove::default_thread_pool();
  REQUIRE(pool.size() >= 2);
  const std::size_t dns_limit = pool.limit(grove::JobKind::kDns);
  CHECK(dns_limit < pool.size());
  TempDir dir;
  grove::write_file(dir / "f", "file content");
  std::atomic<bool> release{false};
  std::atomic<int> running{0}, max_running{0}, finished{0};
  std::vector<grove::GreenThreadHandle> lookups;
  for (int i = 0; i < 50; ++i) {
    lookups.push_back(grove::spawn([&] {
      // A resolver that hangs until released (bounded: 20 s).
      pool.run(grove::JobKind::kDns, [&] {
        const int now = ++running;
        for (int m = max_running.load(); now > m && !max_running.compare_exchange_weak(m, now);) {
        }
        for (int t = 0; t < 20000 && !release.load(); ++t) std::this_thread::sleep_for(1ms);
        --running;
        ++finished;
      });
    }));
  }
  grove::sleep(30ms);  // the lookups take what the bound gives them
  auto reader = grove::spawn([&] { return grove::read_file(dir / "f"); });
  auto user = grove::spawn([] { return grove::run_in_thread([] { return 7; }); });
  const bool read_done = reader.join(5s);
  const bool user_done = user.join(5s);
  CHECK(read_done);
  CHECK(user_done);
  CHECK(finished.load() == 0);  // the lookups were all still hung meanwhile
  release = true;
  for (auto& g : lookups) g.join();
  if (!read_done) reader.join();
  if (!user_done) user.join();
  CHECK(reader.get() == "file content");
  CHECK(user.get() == 7);
  CHECK(finished.load() == 50);
  CHECK(max_running.load() == static_cast<int>(dns_limit));
}

GROVE_TEST("ThreadPool::set_limit bounds a kind; a bound outside 1..size() is a usage error") {
  grove::ThreadPool pool(4);
  CHECK(pool.limit(grove::JobKind::kUser) == 4);
  CHECK(pool.limit(grove::JobKind::kFile) == 4);
  CHECK(pool.limit(grove::JobKind::kDns) == 2);
  CHECK_THROWS_AS(pool.set_limit(grove::JobKind::kFile, 0), grove::UsageError);
  CHECK_THROWS_AS(pool.set_limit(grove::JobKind::kFile, 5), grove::UsageError);
  pool.set_limit(grove::JobKind::kUser, 1);
  std::atomic<int> running{0}, max_running{0};
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 6; ++i) {
    gs.push_back(grove::spawn([&] {
      pool.run([&] {
        const int now = ++running;
        for (int m = max_running.load(); now > m && !max_running.compare_exchange_weak(m, now);) {
        }
        std::this_thread::sleep_for(2ms);
        --running;
      });
    }));
  }
  for (auto& g : gs) g.join();
  CHECK(max_running.load() == 1);
}
