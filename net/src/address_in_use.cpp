// address_in_use.cpp: the words for "Address already in use" on a Unix socket path.
//
// bind(2) on a path creates the socket file, and gives EADDRINUSE if anything is at
// that path already. The usual cause is a file left by a server that crashed or was
// killed before it removed it, but it may also belong to a server still running, so
// a non-blocking connect tells the two apart: refused means no socket accepts there.
#include "address_in_use.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace grove::net::detail {

std::string explain_address_in_use(const Address& addr, SocketType type, const std::error_code& ec) {
  if (ec != std::errc::address_in_use || addr.family() != Family::kUnix) return {};
  const std::string path = addr.host();
  if (path.empty() || path[0] == '@') return {};  // abstract names vanish with their socket
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};  // gone meanwhile: nothing true to add
  if (!S_ISSOCK(st.st_mode)) {
    return "; " + path + " exists and is not a socket (bind creates the file): choose another path or remove it";
  }
  const int probe_type = type == SocketType::kDatagram ? SOCK_DGRAM : SOCK_STREAM;
  const int fd = ::socket(AF_UNIX, probe_type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return "; " + path + " exists (a server may be using it, or it is left over: remove it if not)";
  const int rc = ::connect(fd, addr.data(), addr.size());
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
    return "; " + path + " exists and a server is listening on it (is another instance running?)";
  }
  if (err == ECONNREFUSED) {
    return "; " + path +
           " exists but nothing is listening on it: it is probably left over from an earlier run that ended "
           "without removing it; remove it (rm " + path + ") and start again";
  }
  return "; " + path + " exists (a server may be using it, or it is left over: remove it if not)";
}

}  // namespace grove::net::detail
