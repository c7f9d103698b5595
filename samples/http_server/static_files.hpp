// static_files.hpp: mapping request targets to files under --root, and sending them.
//
// Confinement. A target is percent-decoded first (%2e%2e is "..", %2f is "/"), then
// normalised segment by segment ("." dropped, ".." pops one segment); a ".." that
// would climb above the root makes the request bad (400), and %00 is refused. The
// file is then opened relative to the root's descriptor with openat2(2) and
// RESOLVE_BENEATH, so the kernel refuses any symlink (absolute or relative) that
// leads outside the root; that answers 404. Where openat2 is missing (Linux < 5.6),
// the opened file's real path (/proc/self/fd) must lie under the root's real path.
//
// Disk. Nothing here touches the disk on the hub: open_static() runs on grove's
// thread pool (opening, fstat, and reading small files whole), and send_file() runs
// each sendfile(2) call there too (see static_files.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

#include <grove/duration.hpp>

#include "config.hpp"

namespace http {

enum class TargetKind { kRoot, kFile, kBad };

struct Target {
  TargetKind kind = TargetKind::kBad;
  std::size_t len = 0;          // of the relative path written to `out`
  bool trailing_slash = false;  // the path names a directory ("/docs/", "/docs/.")
  std::string_view raw_path;    // the undecoded path part of the target (for Location)
};

// Decodes and normalises the path of `target` (origin form "/a/b?q" or absolute form
// "http://host/a/b") into `out` as a NUL-terminated path relative to the root
// ("a/b"); `cap` must be at least target.size() + 1. kRoot: the path is the root
// itself; kBad: not a usable path (400).
Target resolve_target(std::string_view target, char* out, std::size_t cap);

// The Content-Type for a file name, by extension (application/octet-stream when
// unknown).
std::string_view content_type_for(std::string_view path);

// What open_static() found.
struct OpenedFile {
  int fd = -1;            // open, read-only; the caller closes it
  int error = 0;          // errno when fd < 0 (and !is_dir)
  bool is_dir = false;    // a directory named without a trailing slash (fd < 0)
  std::uint64_t size = 0;
  std::time_t mtime = 0;
  bool inlined = false;   // the whole file is in the inline buffer
};

// Opens the regular file `rel` (NUL-terminated, relative to cfg.root_fd) for reading;
// a directory with a trailing slash means its index.html (appended to `rel`, which
// must have room for 12 more bytes). If `inline_buf` is given and the file has at
// most `inline_cap` bytes, reads it whole into the buffer. Blocks on the disk: call
// it through grove::run_in_thread.
OpenedFile open_static(const Config& cfg, char* rel, std::size_t rel_len, bool trailing_slash, char* inline_buf,
                       std::size_t inline_cap);

// The HTTP status for open_static()'s error (404, 403, 503 or 500).
int status_for_open_error(int error);

// Writes all of `len` bytes on the non-blocking socket `fd` with MSG_MORE (more data
// follows at once, so the kernel may merge them into one segment). Parks in
// grove::net::wait_writable on EAGAIN; false on an error or when a wait exceeds
// `timeout`.
bool send_all_more(int fd, const char* data, std::size_t len, grove::Duration timeout);

// Sends bytes [0, size) of `file_fd` on the socket `sock_fd` with sendfile(2), without
// ever loading the file into memory. false on an error, a file that shrank, or a
// peer that accepts nothing for `timeout`.
bool send_file(int sock_fd, int file_fd, std::uint64_t size, grove::Duration timeout);

}  // namespace http
