// file_content.cpp: read_file and write_file (durable: temporary file, fsync, rename,
// fsync of the directory). Each runs whole in one kFile job of the default pool.
#include <grove/errors.hpp>
#include <grove/file.hpp>
#include <grove/thread_pool.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>

namespace grove {

namespace {

std::error_code errno_code(int e) { return std::error_code(e, std::system_category()); }

void check_path(const std::string& path, const char* call) {
  if (path.empty() || path.find('\0') != std::string::npos) {
    throw UsageError(std::string("grove::") + call + ": the path is empty or holds a NUL byte");
  }
}

int open_retry(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Writes all of data to fd; 0 or an errno.
int write_all(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

// On a worker: the whole file, or an errno.
int read_whole(const std::string& path, std::string& out) {
  const int fd = open_retry(path.c_str(), O_RDONLY, 0);
  if (fd < 0) return errno;
  int err = 0;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return err;
}

// ".<name>.tmp.<pid>.<n>" next to `path`: the directory part and the temporary path.
void temp_names(const std::string& path, std::string& dir, std::string& tmp) {
  static std::atomic<unsigned> counter{0};
  const std::size_t slash = path.rfind('/');
  dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const auto t = static_cast<unsigned long>(std::chrono::steady_clock::now().time_since_epoch().count());
  tmp = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "." + name + ".tmp." +
        std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1, std::memory_order_relaxed)) + "." +
        std::to_string(t % 1000000007UL);
}

// On a worker: temporary file, fsync, rename over path, fsync the directory. 0 or an
// errno; `step` names the step that failed.
int write_durable(const std::string& path, std::string_view data, const char*& step) {
  std::string dir, tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp_names(path, dir, tmp);
    fd = open_retry(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    step = "create a temporary file";
    return errno;
  }
  int err = write_all(fd, data);
  if (err) step = "write the temporary file";
  if (!err && ::fsync(fd) < 0) {
    err = errno;
    step = "fsync the temporary file";
  }
  if (::close(fd) < 0 && !err && errno != EINTR) {
    err = errno;
    step = "close the temporary file";
  }
  if (!err && ::rename(tmp.c_str(), path.c_str()) < 0) {
    err = errno;
    step = "rename";
  }
  if (err) {
    ::unlink(tmp.c_str());
    return err;
  }
  // The rename is durable once the directory's entry is on disk.
  const int dfd = open_retry(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (dfd < 0) {
    step = "open the directory";
    return errno;
  }
  if (::fsync(dfd) < 0) {
    err = errno;
    step = "fsync the directory";
  }
  ::close(dfd);
  return err;
}

int write_plain(const std::string& path, std::string_view data, const char*& step) {
  const int fd = open_retry(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd < 0) {
    step = "open";
    return errno;
  }
  int err = write_all(fd, data);
  if (err) step = "write";
  if (::close(fd) < 0 && !err && errno != EINTR) {
    err = errno;
    step = "close";
  }
  return err;
}

}  // namespace

std::string read_file(const std::string& path, std::error_code& ec) {
  check_path(path, "read_file");
  std::string out;
  int err = 0;
  default_thread_pool().run(JobKind::kFile, [&] { err = read_whole(path, out); });
  ec = err ? errno_code(err) : std::error_code();
  if (err) out.clear();
  return out;
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  std::string out = read_file(path, ec);
  if (ec) throw std::system_error(ec, "grove::read_file (" + path + ")");
  return out;
}

namespace {
void write_file_impl(const std::string& path, std::string_view data, bool durable, std::error_code& ec,
                     const char*& step) {
  check_path(path, "write_file");
  int err = 0;
  default_thread_pool().run(JobKind::kFile,
                            [&] { err = durable ? write_durable(path, data, step) : write_plain(path, data, step); });
  ec = err ? errno_code(err) : std::error_code();
}
}  // namespace

void write_file(const std::string& path, std::string_view data, bool durable, std::error_code& ec) {
  const char* step = "";
  write_file_impl(path, data, durable, ec, step);
}

void write_file(const std::string& path, std::string_view data, bool durable) {
  std::error_code ec;
  const char* step = "";
  write_file_impl(path, data, durable, ec, step);
  if (ec) throw std::system_error(ec, std::string("grove::write_file (") + path + ", " + step + ")");
}

}  // namespace grove
