// tls_bio.cpp: the BIO through which OpenSSL reads and writes a TlsStream's socket.
// Like OpenSSL's fd BIO (no copy, no buffer of its own) but sending with
// MSG_NOSIGNAL (a vanished peer is EPIPE, not SIGPIPE) and noting a short read, which
// means the kernel's receive buffer is drained, so the stream parks before the next
// read instead of making one that would fail with EAGAIN (tls_stream.hpp).
#include <openssl/bio.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "raw_io.hpp"
#include "tls_stream_impl.hpp"

namespace grove::net::detail {

namespace {

int bio_read(BIO* b, char* buf, int len) {
  auto* st = static_cast<TlsBioState*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  for (;;) {
    const ssize_t n = grove::detail::sock_recv(st->fd, buf, static_cast<std::size_t>(len), 0);
    if (n >= 0) {
      st->drained = n > 0 && n < len;
      return static_cast<int>(n);
    }
    if (errno == EINTR) continue;
    st->drained = false;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(b);
    } else {
      st->error = errno;
    }
    return -1;
  }
}

int bio_write(BIO* b, const char* buf, int len) {
  auto* st = static_cast<TlsBioState*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  for (;;) {
    const ssize_t n = grove::detail::sock_send(st->fd, buf, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(b);
    } else {
      st->error = errno;
    }
    return -1;
  }
}

long bio_ctrl(BIO* b, int cmd, long, void* ptr) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:  // nothing is held back
      return 1;
    case BIO_C_GET_FD: {  // SSL_get_fd()
      const int fd = static_cast<TlsBioState*>(BIO_get_data(b))->fd;
      if (ptr) *static_cast<int*>(ptr) = fd;
      return fd;
    }
    default:
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int bio_destroy(BIO*) { return 1; }  // the fd is the Socket's

BIO_METHOD* make_method() {
  BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "grove socket");
  if (!m || !BIO_meth_set_read(m, bio_read) || !BIO_meth_set_write(m, bio_write) ||
      !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
      !BIO_meth_set_destroy(m, bio_destroy)) {
    throw std::bad_alloc();
  }
  return m;
}

}  // namespace

BIO* new_tls_bio(TlsBioState* st) {
  static BIO_METHOD* const method = make_method();  // for the process's lifetime
  BIO* b = BIO_new(method);
  if (!b) throw std::bad_alloc();
  BIO_set_data(b, st);
  return b;
}

}  // namespace grove::net::detail
