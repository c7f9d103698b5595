// static_files.cpp: target resolution, content types, opening under the root, and
// sendfile. The confinement rules are in static_files.hpp.
#include "static_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <http_parser.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <grove/net/socket.hpp>
#include <grove/thread_pool.hpp>

namespace http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

}  // namespace

Target resolve_target(std::string_view target, char* out, std::size_t cap) {
  Target t;
  // The path part: origin form, or the path of an absolute-form target.
  std::string_view path;
  if (!target.empty() && target[0] == '/') {
    path = target.substr(0, target.find_first_of("?#"));
  } else if (starts_with_nocase(target, "http://") || starts_with_nocase(target, "https://")) {
    http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(target.data(), target.size(), 0, &u) != 0) return t;
    path = (u.field_set & (1 << UF_PATH)) ? target.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len)
                                          : std::string_view("/");
  } else {
    return t;  // "*" or an authority: nothing to serve
  }
  if (path.empty() || path[0] != '/' || path.size() + 1 > cap) return t;
  t.raw_path = path;

  // Percent-decode into `out`.
  std::size_t n = 0;
  for (std::size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size()) return t;
      const int hi = hex_value(path[i + 1]), lo = hex_value(path[i + 2]);
      if (hi < 0 || lo < 0) return t;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '\0') return t;
      i += 2;
    }
    out[n++] = c;
  }

  // Normalise in place: the write position w never passes the read position r, since
  // the output drops the leading '/' and writes at most one '/' per one it read.
  std::size_t w = 0;
  std::size_t r = 0;
  bool dir = false;  // the last thing seen leaves us in a directory
  while (r < n) {
    if (out[r] == '/') {
      ++r;
      dir = true;
      continue;
    }
    const std::size_t start = r;
    while (r < n && out[r] != '/') ++r;
    const std::string_view seg(out + start, r - start);
    dir = true;
    if (seg == ".") continue;
    if (seg == "..") {
      if (w == 0) return t;  // above the root
      while (w > 0 && out[w - 1] != '/') --w;
      if (w > 0) --w;  // the '/' before the popped segment
      continue;
    }
    if (w > 0) out[w++] = '/';
    std::memmove(out + w, seg.data(), seg.size());
    w += seg.size();
    dir = false;
  }
  out[w] = '\0';
  t.len = w;
  t.trailing_slash = dir;
  t.kind = w == 0 ? TargetKind::kRoot : TargetKind::kFile;
  return t;
}

std::string_view content_type_for(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  const std::size_t dot = path.rfind('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  char ext[8];
  const std::string_view e = path.substr(dot + 1);
  if (e.empty() || e.size() > sizeof ext) return "application/octet-stream";
  for (std::size_t i = 0; i < e.size(); ++i) {
    const char c = e[i];
    ext[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view x(ext, e.size());
  // nginx's mime.types for the common ones; text types say their charset.
  struct Entry {
    std::string_view ext, type;
  };
  static constexpr Entry kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"md", "text/markdown; charset=utf-8"},
      {"csv", "text/csv; charset=utf-8"},
      {"xml", "text/xml; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"avif", "image/avif"},
      {"ico", "image/x-icon"},
      {"bmp", "image/bmp"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"ttf", "font/ttf"},
      {"otf", "font/otf"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
      {"zip", "application/zip"},
      {"gz", "application/gzip"},
      {"tar", "application/x-tar"},
      {"mp3", "audio/mpeg"},
      {"ogg", "audio/ogg"},
      {"wav", "audio/wav"},
      {"mp4", "video/mp4"},
      {"webm", "video/webm"},
  };
  for (const Entry& en : kTypes) {
    if (en.ext == x) return en.type;
  }
  return "application/octet-stream";
}

namespace {

std::atomic<bool> g_have_openat2{true};

// Opens `rel` under the root, refusing any path that resolves outside it (EXDEV).
// O_NONBLOCK so that a FIFO under the root cannot hang a worker in open(2).
int open_beneath(const Config& cfg, const char* rel) {
  constexpr int kFlags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  if (g_have_openat2.load(std::memory_order_relaxed)) {
    open_how how;
    std::memset(&how, 0, sizeof how);
    how.flags = kFlags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
      fd = ::syscall(SYS_openat2, cfg.root_fd, rel, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
    g_have_openat2.store(false, std::memory_order_relaxed);
  }
  const int fd = ::openat(cfg.root_fd, rel, kFlags);
  if (fd < 0) return -1;
  char link[64];
  char real[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, real, sizeof real - 1);
  const std::string& root = cfg.root_real;
  if (n <= 0 || static_cast<std::size_t>(n) <= root.size() || std::memcmp(real, root.data(), root.size()) != 0 ||
      (root != "/" && real[root.size()] != '/')) {
    ::close(fd);
    errno = EXDEV;
    return -1;
  }
  return fd;
}

}  // namespace

OpenedFile open_static(const Config& cfg, char* rel, std::size_t rel_len, bool trailing_slash, char* inline_buf,
                       std::size_t inline_cap) {
  OpenedFile f;
  int fd = open_beneath(cfg, rel);
  struct stat st;
  for (int attempt = 0;; ++attempt) {
    if (fd < 0) {
      f.error = errno;
      return f;
    }
    if (::fstat(fd, &st) != 0) {
      f.error = errno;
      ::close(fd);
      return f;
    }
    if (!S_ISDIR(st.st_mode) && trailing_slash && attempt == 0) {  // "/file.txt/" names no file
      ::close(fd);
      f.error = ENOTDIR;
      return f;
    }
    if (!S_ISDIR(st.st_mode) || attempt > 0) break;
    ::close(fd);
    if (!trailing_slash) {
      f.is_dir = true;
      return f;
    }
    std::memcpy(rel + rel_len, "/index.html", sizeof "/index.html");
    fd = open_beneath(cfg, rel);
  }
  if (!S_ISREG(st.st_mode)) {  // a directory's index.html that is a directory, a FIFO, a device...
    ::close(fd);
    f.error = ENOENT;
    return f;
  }
  f.fd = fd;
  f.size = static_cast<std::uint64_t>(st.st_size);
  f.mtime = st.st_mtim.tv_sec;
  if (inline_buf && f.size <= inline_cap) {
    std::size_t got = 0;
    while (got < f.size) {
      const ssize_t n = ::pread(fd, inline_buf + got, f.size - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // an error, or the file shrank under us
        f.error = n < 0 ? errno : EIO;
        ::close(fd);
        f.fd = -1;
        return f;
      }
      got += static_cast<std::size_t>(n);
    }
    f.inlined = true;
  }
  return f;
}

int status_for_open_error(int error) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV:  // leads outside the root
    case ELOOP:
    case ENAMETOOLONG:
    case EISDIR:
      return 404;
    case EACCES:
    case EPERM:
      return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return 503;
    default:
      return 500;
  }
}

bool send_all_more(int fd, const char* data, std::size_t len, grove::Duration timeout) {
  while (len > 0) {
    const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL | MSG_MORE);
    if (n > 0) {
      data += n;
      len -= static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      std::error_code ec;
      grove::net::wait_writable(fd, timeout, ec);
      if (ec) return false;
      continue;
    }
    return false;
  }
  return true;
}

// grove's Socket has no sendfile, so this drives sendfile(2) on the socket's fd with
// the shape of Socket's own calls: try the system call, and on EAGAIN park in
// grove::net::wait_writable until the peer has drained the socket buffer.
//
// Each sendfile call runs on grove's thread pool: when the file's pages are not in
// the page cache, sendfile waits for the disk, and that wait must never stall the hub
// (and every other connection with it). The socket is non-blocking, so the worker
// never waits for the peer: it comes back with a short count or EAGAIN, and the
// green thread parks on the hub instead. The price is one hand-off to a worker per
// chunk (up to kChunk bytes, or whatever the socket buffer takes), small next to the
// bytes each one moves.
bool send_file(int sock_fd, int file_fd, std::uint64_t size, grove::Duration timeout) {
  constexpr std::size_t kChunk = std::size_t{4} << 20;
  off_t offset = 0;
  while (static_cast<std::uint64_t>(offset) < size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, size - static_cast<std::uint64_t>(offset)));
    const ssize_t n = grove::run_in_thread([&]() -> ssize_t {
      for (;;) {
        const ssize_t r = ::sendfile(sock_fd, file_fd, &offset, want);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
      }
    });
    if (n == 0) return false;  // the file shrank: the promised Content-Length cannot be met
    if (n < 0 && n != -EAGAIN && n != -EWOULDBLOCK) return false;
    if (n < 0 || static_cast<std::size_t>(n) < want) {
      // The socket buffer is full: wait on the hub until there is room again.
      std::error_code ec;
      grove::net::wait_writable(sock_fd, timeout, ec);
      if (ec) return false;
    }
  }
  return true;
}

}  // namespace http
