// grove/net/buffered_stream.hpp: buffered reading and writing over a Socket, a
// TlsStream, a PipeStream or a stream of the caller's, like gevent's socket.makefile().
//
//   grove::net::BufferedStream io(sock);
//   while (std::optional<std::string> line = io.read_line_stripped(1024)) {  // nullopt at EOF
//     io.write(*line + "\n");
//     io.flush();
//   }
//
// read_line keeps the newline (Python's readline) and returns "" at end of file;
// read_line_stripped drops "\n" or "\r\n" (Go's bufio.Scanner) and returns
// std::nullopt at end of file, so an empty line and the end stay apart. With the
// error_code forms, test ec first: on an error both return nothing as well.
//
//   grove::net::BufferedStream tls_io(tls_stream);   // over TLS (grove/net/tls_stream.hpp)
//   grove::net::BufferedStream out_io(child.stdout_pipe());  // a pipe (grove/net/pipe_stream.hpp)
//
// The stream does not own what it reads and writes (the Socket, TlsStream or
// PipeStream, "the stream below"); that must outlive it, and must not be moved while
// the BufferedStream uses it (it holds its address). Reads park like the stream
// below's recv_into (its timeout applies to each recv), writes like its sendall.
// Errors follow the socket's pairs: an error_code overload and a throwing one
// (std::system_error naming the call); over TLS the codes are the TlsStream's
// (grove/net/tls_error.hpp). After an error or timeout the buffered data is kept:
// what was read stays in the read buffer, what was not written stays in the write
// buffer.
//
// How it reaches the stream below: the object's address and two plain function
// pointers (its recv_into and sendall, the error_code forms), set by the
// constructor; one indirect call per recv or send, no virtual function on Socket, no
// allocation.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <grove/export.hpp>
#include <grove/net/socket.hpp>

namespace grove::net {

class TlsStream;
class PipeStream;

// Buffered reading and writing over a Socket, TlsStream or PipeStream it does not own
// (see the comment at the top of grove/net/buffered_stream.hpp for parking, errors and
// what stays buffered). Reads park like Socket::recv_into (the stream's timeout per
// recv; ECANCELED if it is closed meanwhile); writes park like Socket::sendall. A kill or
// grove::Timeout unwinds with GreenletExit / TimeoutError. After one during a read,
// the bytes already received stay buffered and reading may go on (a read_line under
// a Timeout can be retried); after one during a write, part of the data may have
// gone out, so close the connection rather than write again.
class GROVE_API BufferedStream {
 public:
  // `chunk` (at least 64) is how much one recv asks for, and how much written data
  // is held before write() flushes by itself. Does not park.
  explicit BufferedStream(Socket& socket, std::size_t chunk = 8192);
  // The same over a TLS connection: reads return decrypted bytes (end of file after
  // the peer's close_notify; truncation is an error, as TlsStream::recv_into says),
  // and flush() sends through TlsStream::sendall.
  explicit BufferedStream(TlsStream& tls, std::size_t chunk = 8192);
  // The same over one end of a pipe (a child's stdin or stdout): read from a read
  // end, write to a write end.
  explicit BufferedStream(PipeStream& pipe, std::size_t chunk = 8192);
  // The same over a stream of the caller's (in memory, in a test, say): any S with
  // Socket's two error_code calls, recv_into(void*, size_t, error_code&) (0 bytes
  // and no error: end of file) and sendall(const void*, size_t, error_code&)
  // (returns the bytes sent). Parks only as those do.
  template <class S>
    requires requires(S& s, void* b, const void* d, std::size_t n, std::error_code& ec) {
      { s.recv_into(b, n, ec) } -> std::convertible_to<std::size_t>;
      { s.sendall(d, n, ec) } -> std::convertible_to<std::size_t>;
    }
  explicit BufferedStream(S& stream, std::size_t chunk = 8192)
      : stream_(&stream),
        recv_into_([](void* st, void* buf, std::size_t len, std::error_code& ec) -> std::size_t {
          return static_cast<S*>(st)->recv_into(buf, len, ec);
        }),
        sendall_([](void* st, const void* data, std::size_t len, std::error_code& ec) -> std::size_t {
          return static_cast<S*>(st)->sendall(data, len, ec);
        }),
        chunk_(chunk < 64 ? 64 : chunk) {}

  // The next line, its newline included. At most `max` bytes: a longer line comes
  // back in pieces of `max` bytes without a newline (so a client cannot grow memory
  // without bound; check whether the result ends in a newline). At end of file: the
  // unterminated rest, then "". On an error ec is set, "" is returned and the bytes
  // read stay buffered: test ec before taking "" for end of file. `max` must be at
  // least 1 (else UsageError: "" would look like end of file).
  std::string read_line(std::size_t max, std::error_code& ec);
  // Throwing form of read_line(): std::system_error naming the call.
  std::string read_line(std::size_t max);
  // The next line without its terminator: "\n", or "\r\n" (one "\r" right before
  // the "\n"), as Go's bufio.Scanner gives lines. At end of file: the unterminated
  // rest (a final "\r" dropped), then std::nullopt. `max` bounds the line without
  // its terminator: a longer one is the error std::errc::message_size, and its bytes
  // stay buffered (read_line can take them in pieces; or close the connection). On
  // an error ec is set, std::nullopt is returned and the bytes read stay buffered.
  std::optional<std::string> read_line_stripped(std::size_t max, std::error_code& ec);
  // Throwing form of read_line_stripped(): std::system_error naming the call (and the
  // maximum, for a line that is too long). std::nullopt means end of file only.
  std::optional<std::string> read_line_stripped(std::size_t max);
  // As read_line, up to and including `delim` (non-empty, else UsageError).
  std::string read_until(std::string_view delim, std::size_t max, std::error_code& ec);
  // Throwing form of read_until().
  std::string read_until(std::string_view delim, std::size_t max);
  // Exactly `n` bytes, fewer only at end of file. On an error ec is set, "" is
  // returned and the bytes read stay buffered.
  std::string read_exactly(std::size_t n, std::error_code& ec);
  // Throwing form of read_exactly().
  std::string read_exactly(std::size_t n);
  // At most `max` (>= 1, else UsageError) bytes: whatever is buffered, or else one
  // recv; "" at end of file or on an error (ec set).
  std::string read_some(std::size_t max, std::error_code& ec);
  // Throwing form of read_some().
  std::string read_some(std::size_t max);
  // Bytes read from the socket and not yet returned.
  std::size_t buffered() const noexcept { return rbuf_.size() - rpos_; }

  // Appends to the write buffer; sends it (sendall) once it holds `chunk` bytes, so
  // it may park. On an error, what was not sent stays buffered (`data` included).
  void write(std::string_view data, std::error_code& ec);
  // Throwing form of write().
  void write(std::string_view data);
  // Sends everything buffered; parks like Socket::sendall. On an error, what was not
  // sent stays buffered. After a kill the buffer is unchanged although part of it
  // may have gone out: close the socket.
  void flush(std::error_code& ec);
  // Throwing form of flush().
  void flush();
  // Bytes written and not sent yet.
  std::size_t pending_write() const noexcept { return wbuf_.size(); }

 private:
  bool fill(std::error_code& ec);  // one recv into the buffer; false at EOF or error
  std::string take(std::size_t n);

  // The stream below: its address and its recv_into / sendall (error_code forms).
  using RecvFn = std::size_t (*)(void* stream, void* buf, std::size_t len, std::error_code& ec);
  using SendFn = std::size_t (*)(void* stream, const void* data, std::size_t len, std::error_code& ec);
  void* stream_;
  RecvFn recv_into_;
  SendFn sendall_;
  std::size_t chunk_;
  std::string rbuf_;
  std::size_t rpos_ = 0;
  std::string wbuf_;
};

}  // namespace grove::net
