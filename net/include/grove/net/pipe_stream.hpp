// grove/net/pipe_stream.hpp: one end of a pipe as a cooperative stream (a child
// process's stdin, stdout or stderr; see grove/net/process.hpp).
//
//   auto [r, w] = grove::net::PipeStream::pipe();
//   w.sendall("hello\n");
//   char buf[64];
//   std::size_t n = r.recv_into(buf, sizeof buf);   // 0 means end of file
//
// The calls, their names and their rules are Socket's (grove/net/socket.hpp): each
// tries read(2) / write(2) first and parks only the calling green thread, only on
// EAGAIN, on the same machinery (one libev watcher per direction kept with the pipe,
// net/src/io_channel.hpp); the error_code overloads set errno codes (timed_out for a
// timeout, ECANCELED when closed by another green thread while parked), the others
// throw std::system_error naming the call and the fd; settimeout() works as
// Socket's; a PipeStream belongs to the OS thread that made it (another one gets
// grove::UsageError); one reader and one writer may wait at a time.
//
// SIGPIPE. A write to a pipe whose reader is gone (the child exited or closed its
// stdin) fails with EPIPE. The SIGPIPE the kernel sends with it is blocked on this
// OS thread for the duration of the writes and discarded, so it never kills the
// process, as MSG_NOSIGNAL does for a Socket. A SIGPIPE that was already pending is
// left alone.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <grove/duration.hpp>
#include <grove/export.hpp>

namespace grove::net {

namespace detail {
struct PipeState;
}

// One end of a pipe, owning its fd, non-blocking (see the comment at the top of
// grove/net/pipe_stream.hpp). Move-only; moving it while a green thread is parked in
// it is fine, as for a Socket.
class GROVE_API PipeStream {
 public:
  // A closed pipe end (is_open() is false). Every operation on it is EBADF.
  PipeStream() noexcept;
  // Takes ownership of `fd` (a pipe end, a FIFO, a character device...) and makes it
  // non-blocking. Throws std::system_error if fcntl fails (the fd is then not owned).
  static PipeStream adopt(int fd);
  // A new pipe (pipe2(2), close-on-exec, non-blocking): {read end, write end}.
  static std::pair<PipeStream, PipeStream> pipe();

  // Closes the fd (see close()).
  ~PipeStream();
  // Takes over `other`'s fd; `other` is left closed. A green thread parked in `other`
  // stays parked, now in this pipe end.
  PipeStream(PipeStream&& other) noexcept;
  // Closes this pipe end (see close()), then takes over `other`'s fd; `other` is left
  // closed.
  PipeStream& operator=(PipeStream&& other) noexcept;
  PipeStream(const PipeStream&) = delete;
  PipeStream& operator=(const PipeStream&) = delete;

  // True while it owns an open fd.
  bool is_open() const noexcept;
  // The fd, or -1 when closed.
  int fd() const noexcept;
  // Gives up ownership: returns the fd (still non-blocking) and leaves this closed.
  // UsageError if a green thread is parked on it, or from another OS thread.
  int release();
  // Closes the fd; green threads parked on it wake with ECANCELED. Idempotent, never
  // parks. Closing the write end is how the reader (a child's stdin) sees end of file.
  // On another OS thread than the pipe's: logged, and the fd left open (as Socket).
  void close() noexcept;

  // As Socket::settimeout: nullopt waits forever (the default), zero never parks
  // (EAGAIN is std::errc::resource_unavailable_try_again), otherwise timed_out.
  void settimeout(std::optional<Duration> timeout) noexcept;
  // The timeout set by settimeout() (nullopt: none).
  std::optional<Duration> gettimeout() const noexcept;

  // --- reading (0 bytes means end of file: every writer closed its end) ---
  // Up to `len` bytes into `buf`; parks while there is nothing to read.
  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec);
  // Throwing form of recv_into().
  std::size_t recv_into(void* buf, std::size_t len);
  // Up to `max` bytes as a string ("" at end of file).
  std::string recv(std::size_t max, std::error_code& ec);
  // Throwing form of recv().
  std::string recv(std::size_t max);
  // Exactly `len` bytes unless end of file comes first (returns how many); on an
  // error or timeout, ec is set and the return value counts the bytes stored before
  // it. The timeout applies once, to the whole call.
  std::size_t recv_exactly(void* buf, std::size_t len, std::error_code& ec);
  // Throwing form of recv_exactly().
  std::size_t recv_exactly(void* buf, std::size_t len);
  // Everything until end of file, appended to `out`; on an error or timeout ec is set
  // and what was read so far stays in `out`. The timeout applies once, to the whole
  // call.
  void recv_all(std::string& out, std::error_code& ec);
  // Everything until end of file (throws std::system_error on an error or timeout).
  std::string recv_all();

  // --- writing ---
  // Some of `data` (at least one byte unless len is 0); returns how many went out.
  // EPIPE when the reader is gone (no SIGPIPE: see the top of this header).
  std::size_t send(const void* data, std::size_t len, std::error_code& ec);
  // Throwing form of send().
  std::size_t send(const void* data, std::size_t len);
  // All of `data`; returns the bytes written (`len` unless ec is set). The timeout
  // applies once, to the whole call.
  std::size_t sendall(const void* data, std::size_t len, std::error_code& ec);
  // Throwing form of sendall(): grove::net::SendallError (socket.hpp), with the count.
  void sendall(const void* data, std::size_t len);
  // Throwing sendall() of a string.
  void sendall(std::string_view data) { sendall(data.data(), data.size()); }

 private:
  explicit PipeStream(std::unique_ptr<detail::PipeState> s) noexcept;
  std::unique_ptr<detail::PipeState> s_;
};

}  // namespace grove::net
