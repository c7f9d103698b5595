// file.cpp: grove::File, each system call run in the default thread pool as a kFile job.
#include <grove/errors.hpp>
#include <grove/file.hpp>
#include <grove/thread_pool.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace grove {

namespace {

std::error_code errno_code(int e) { return std::error_code(e, std::system_category()); }

// Runs fn (returning 0 or an errno) as a file job; sets ec from it.
template <class F>
void in_pool(std::error_code& ec, F&& fn) {
  int err = 0;
  default_thread_pool().run(JobKind::kFile, [&] { err = fn(); });
  ec = err ? errno_code(err) : std::error_code();
}

// The page-cache fast path: preadv2 with RWF_NOWAIT reads what is cached without
// waiting for the disk, on the calling thread, so a cached read costs no pool round
// trip (two cross-thread wake-ups: more than the copy of a 1 MiB block). At `offset`,
// or the file offset when -1. -1 (EAGAIN: not cached; EOPNOTSUPP: a file system or
// kernel without it) sends the read to the pool.
ssize_t read_cached(int fd, void* buf, std::size_t len, off_t offset) {
  iovec v{buf, len};
  ssize_t n;
  do {
    n = ::preadv2(fd, &v, 1, offset, RWF_NOWAIT);
  } while (n < 0 && errno == EINTR);
  return n;
}

[[noreturn]] void throw_error(const std::error_code& ec, const char* call, const std::string& path) {
  throw std::system_error(ec, std::string("grove::File::") + call + " (" + path + ")");
}

}  // namespace

void File::check_open(const char* call) const {
  if (fd_ < 0) throw UsageError(std::string("grove::File::") + call + ": the file is not open");
}

File File::open(std::string path, int flags, mode_t mode, std::error_code& ec) {
  if (path.find('\0') != std::string::npos) throw UsageError("grove::File::open: NUL byte in the path");
  int fd = -1;
  try {
    in_pool(ec, [&] {
      do {
        fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
      } while (fd < 0 && errno == EINTR);
      return fd < 0 ? errno : 0;
    });
  } catch (...) {  // killed, or a Timeout expired, while open ran: do not leak the fd
    if (fd >= 0) ::close(fd);
    throw;
  }
  if (ec) return File();
  return File(fd, std::move(path));
}

File File::open(std::string path, int flags, mode_t mode) {
  std::error_code ec;
  File f = open(path, flags, mode, ec);
  if (ec) throw_error(ec, "open", path);
  return f;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File::File(File&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

std::size_t File::read(void* buf, std::size_t len, std::error_code& ec) {
  check_open("read");
  ec.clear();
  if (len == 0) return 0;
  ssize_t n = read_cached(fd_, buf, len, -1);
  if (n >= 0) return static_cast<std::size_t>(n);  // cached (or end of file)
  in_pool(ec, [&] {
    do {
      n = ::read(fd_, buf, len);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? errno : 0;
  });
  return ec ? 0 : static_cast<std::size_t>(n);
}

std::size_t File::read(void* buf, std::size_t len) {
  std::error_code ec;
  std::size_t n = read(buf, len, ec);
  if (ec) throw_error(ec, "read", path_);
  return n;
}

std::size_t File::pread(void* buf, std::size_t len, std::uint64_t offset, std::error_code& ec) {
  check_open("pread");
  ec.clear();
  std::size_t got = 0;
  while (got < len) {  // what the page cache holds, without the pool
    const ssize_t n = read_cached(fd_, static_cast<char*>(buf) + got, len - got, static_cast<off_t>(offset + got));
    if (n < 0) break;
    if (n == 0) return got;  // end of file
    got += static_cast<std::size_t>(n);
  }
  if (got == len) return got;
  in_pool(ec, [&] {
    while (got < len) {
      const ssize_t n = ::pread(fd_, static_cast<char*>(buf) + got, len - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) break;  // end of file
      got += static_cast<std::size_t>(n);
    }
    return 0;
  });
  return got;
}

std::size_t File::pread(void* buf, std::size_t len, std::uint64_t offset) {
  std::error_code ec;
  std::size_t n = pread(buf, len, offset, ec);
  if (ec) throw_error(ec, "pread", path_);
  return n;
}

namespace {
// Writes all of data with write (offset < 0) or pwrite; the bytes written.
std::size_t write_all(int fd, std::string_view data, std::int64_t offset, std::error_code& ec) {
  std::size_t done = 0;
  in_pool(ec, [&] {
    while (done < data.size()) {
      const ssize_t n = offset < 0 ? ::write(fd, data.data() + done, data.size() - done)
                                   : ::pwrite(fd, data.data() + done, data.size() - done,
                                              static_cast<off_t>(offset + static_cast<std::int64_t>(done)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) return EIO;  // no progress: do not loop forever
      done += static_cast<std::size_t>(n);
    }
    return 0;
  });
  return done;
}
}  // namespace

std::size_t File::write(std::string_view data, std::error_code& ec) {
  check_open("write");
  return write_all(fd_, data, -1, ec);
}

std::size_t File::write(std::string_view data) {
  std::error_code ec;
  std::size_t n = write(data, ec);
  if (ec) throw_error(ec, "write", path_);
  return n;
}

std::size_t File::pwrite(std::string_view data, std::uint64_t offset, std::error_code& ec) {
  check_open("pwrite");
  return write_all(fd_, data, static_cast<std::int64_t>(offset), ec);
}

std::size_t File::pwrite(std::string_view data, std::uint64_t offset) {
  std::error_code ec;
  std::size_t n = pwrite(data, offset, ec);
  if (ec) throw_error(ec, "pwrite", path_);
  return n;
}

void File::fsync(std::error_code& ec) {
  check_open("fsync");
  in_pool(ec, [&] { return ::fsync(fd_) < 0 ? errno : 0; });
}

void File::fsync() {
  std::error_code ec;
  fsync(ec);
  if (ec) throw_error(ec, "fsync", path_);
}

void File::fdatasync(std::error_code& ec) {
  check_open("fdatasync");
  in_pool(ec, [&] { return ::fdatasync(fd_) < 0 ? errno : 0; });
}

void File::fdatasync() {
  std::error_code ec;
  fdatasync(ec);
  if (ec) throw_error(ec, "fdatasync", path_);
}

void File::truncate(std::uint64_t size, std::error_code& ec) {
  check_open("truncate");
  in_pool(ec, [&] {
    int r;
    do {
      r = ::ftruncate(fd_, static_cast<off_t>(size));
    } while (r < 0 && errno == EINTR);
    return r < 0 ? errno : 0;
  });
}

void File::truncate(std::uint64_t size) {
  std::error_code ec;
  truncate(size, ec);
  if (ec) throw_error(ec, "truncate", path_);
}

std::uint64_t File::size(std::error_code& ec) {
  check_open("size");
  struct stat st {};
  in_pool(ec, [&] { return ::fstat(fd_, &st) < 0 ? errno : 0; });
  return ec ? 0 : static_cast<std::uint64_t>(st.st_size);
}

std::uint64_t File::size() {
  std::error_code ec;
  std::uint64_t n = size(ec);
  if (ec) throw_error(ec, "size", path_);
  return n;
}

void File::close(std::error_code& ec) {
  ec.clear();
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;  // closed whatever close(2) says (retrying it could close another file's fd)
  in_pool(ec, [&] { return ::close(fd) < 0 && errno != EINTR ? errno : 0; });
}

void File::close() {
  std::error_code ec;
  close(ec);
  if (ec) throw_error(ec, "close", path_);
}

}  // namespace grove
