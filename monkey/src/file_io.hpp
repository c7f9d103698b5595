// file_io.hpp: read / write of a regular file from a green thread once patch_files()
// is on (grove/monkey.hpp says why it is off by default): the call runs as a kFile
// job of grove's default thread pool while only the caller parks; a read first takes
// what the page cache holds on the calling thread (preadv2 with RWF_NOWAIT). Other
// untracked fds (a terminal, a FIFO opened by name) keep libc's call.
#pragma once

#include <sys/stat.h>
#include <sys/uio.h>

#include <cerrno>

#include <grove/thread_pool.hpp>

#include "real.hpp"

namespace grove::monkey::detail {

inline bool is_regular_file(int fd) noexcept {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

inline ssize_t file_read(int fd, void* buf, size_t n) noexcept {
  if (!is_regular_file(fd)) return real().read(fd, buf, n);
  iovec v{buf, n};
  ssize_t r = ::preadv2(fd, &v, 1, -1, RWF_NOWAIT);
  if (r >= 0 || (errno != EAGAIN && errno != EOPNOTSUPP)) return r;
  int err = 0;
  grove::default_thread_pool().run_nothrow(grove::JobKind::kFile, [&] {
    r = real().read(fd, buf, n);
    err = errno;  // the worker's errno, carried back
  });
  errno = err;
  return r;
}

inline ssize_t file_write(int fd, const void* buf, size_t n) noexcept {
  if (!is_regular_file(fd)) return real().write(fd, buf, n);
  ssize_t r = -1;
  int err = 0;
  grove::default_thread_pool().run_nothrow(grove::JobKind::kFile, [&] {
    r = real().write(fd, buf, n);
    err = errno;
  });
  errno = err;
  return r;
}

}  // namespace grove::monkey::detail
