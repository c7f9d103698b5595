// grove/file.hpp: regular files whose calls park only the calling green thread, like
// gevent's FileObjectThread.
//
//   grove::File f = grove::File::open("/var/log/app.log", O_WRONLY | O_APPEND | O_CREAT);
//   f.write("started\n");
//   f.fsync();
//   std::string config = grove::read_file("/etc/app.conf");
//   grove::write_file("/var/lib/app/state", state, /*durable=*/true);
//
// A regular file is always "ready" to epoll, so its reads and writes would block the
// whole OS thread (every green thread of the hub) on a slow disk. Each call here runs
// in grove's default thread pool (grove/thread_pool.hpp) as a JobKind::kFile job, so
// only the caller waits. The pool's cancellation contract applies: a kill or a
// grove::Timeout that lands meanwhile is raised only once the system call returned.
//
// Errors come in pairs, as Socket's: the overload taking `std::error_code& ec` sets ec
// (errno, system category); the other throws std::system_error whose message names
// the call and the file's path ("grove::File::open (/etc/x): No such file or
// directory"). EINTR is retried. A File is used by one green thread at a time; it is
// movable, not copyable.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <grove/export.hpp>

namespace grove {

// An open regular file (see the top of grove/file.hpp). Does not buffer: see
// grove::BufferedFile (grove/buffered_file.hpp) for lines and small writes.
class GROVE_API File {
 public:
  // A closed File.
  File() noexcept = default;
  // Opens `path` with open(2)'s `flags` (O_CLOEXEC is always added) and `mode` (for
  // O_CREAT). Parks the caller while open runs in the pool. On an error ec is set and
  // the File returned is closed.
  static File open(std::string path, int flags, mode_t mode, std::error_code& ec);
  // Throwing form of open(): std::system_error naming the path.
  static File open(std::string path, int flags = 0 /* O_RDONLY */, mode_t mode = 0666);

  // Closes the file without the pool (close(2) of a regular file does not wait for
  // the disk); call close() first to see its error.
  ~File();
  // Takes `other`'s fd and path; `other` is left closed.
  File(File&& other) noexcept;
  // Closes this file's fd as the destructor does (close(2)'s error is lost), then takes
  // `other`'s fd and path; `other` is left closed.
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // True while the File holds an open fd (after a successful open(), until close()).
  bool is_open() const noexcept { return fd_ >= 0; }
  // The descriptor (-1 when closed); still owned by the File.
  int fd() const noexcept { return fd_; }
  // The path given to open().
  const std::string& path() const noexcept { return path_; }

  // Up to `len` bytes at the file offset into `buf`, which it advances: read(2). 0 at
  // end of file (or on an error, ec set).
  std::size_t read(void* buf, std::size_t len, std::error_code& ec);
  // Throwing form of read().
  std::size_t read(void* buf, std::size_t len);
  // Up to `len` bytes at `offset`, the file offset unchanged: pread(2), retried until
  // `len` bytes or end of file (so fewer means end of file).
  std::size_t pread(void* buf, std::size_t len, std::uint64_t offset, std::error_code& ec);
  // Throwing form of pread().
  std::size_t pread(void* buf, std::size_t len, std::uint64_t offset);
  // All of `data` at the file offset (O_APPEND: at the end), retrying short writes.
  // Returns the bytes written: data.size(), or fewer on an error (ec set).
  std::size_t write(std::string_view data, std::error_code& ec);
  // Throwing form of write().
  std::size_t write(std::string_view data);
  // All of `data` at `offset`, the file offset unchanged: pwrite(2), retried.
  std::size_t pwrite(std::string_view data, std::uint64_t offset, std::error_code& ec);
  // Throwing form of pwrite().
  std::size_t pwrite(std::string_view data, std::uint64_t offset);

  // fsync(2): data and metadata reach the disk.
  void fsync(std::error_code& ec);
  // Throwing form of fsync().
  void fsync();
  // fdatasync(2): data (and the size) reach the disk.
  void fdatasync(std::error_code& ec);
  // Throwing form of fdatasync().
  void fdatasync();
  // ftruncate(2) to `size` bytes.
  void truncate(std::uint64_t size, std::error_code& ec);
  // Throwing form of truncate().
  void truncate(std::uint64_t size);
  // The file's size now (fstat(2)).
  std::uint64_t size(std::error_code& ec);
  // Throwing form of size().
  std::uint64_t size();
  // Closes the file (in the pool) and reports close(2)'s error (a write-back error on
  // some file systems). The File is closed afterwards either way. No-op when closed.
  void close(std::error_code& ec);
  // Throwing form of close().
  void close();

 private:
  File(int fd, std::string path) noexcept : fd_(fd), path_(std::move(path)) {}
  void check_open(const char* call) const;

  int fd_ = -1;
  std::string path_;
};

// The whole content of the file at `path` (in the pool). On an error ec is set and ""
// is returned.
GROVE_API std::string read_file(const std::string& path, std::error_code& ec);
// Throwing form of read_file(): std::system_error naming the path.
GROVE_API std::string read_file(const std::string& path);

// Replaces the content of the file at `path` with `data` (creating it, mode 0666 less
// the umask). Not durable: open with O_TRUNC and write, so a crash meanwhile can
// leave a short file. Durable: `data` goes to a new temporary file in the same
// directory (".<name>.tmp.XXXXXX"), which is fsync'ed, then renamed over `path`, and
// the directory is fsync'ed: a crash at any point leaves the old content or the new
// one, never a torn file (a crash may leave the temporary file behind). A durable
// write replaces the file: a new inode, with mode 0666 less the umask, not the old
// file's owner or mode; a symbolic link at `path` is replaced, not followed.
GROVE_API void write_file(const std::string& path, std::string_view data, bool durable, std::error_code& ec);
// Throwing form of write_file(): std::system_error naming the path.
GROVE_API void write_file(const std::string& path, std::string_view data, bool durable = false);

}  // namespace grove
