// grove/buffered_file.hpp: buffered reading and writing over a grove::File, as
// BufferedStream (grove/net/buffered_stream.hpp) over a Socket.
//
//   grove::File f = grove::File::open("access.log");
//   grove::BufferedFile in(f);
//   for (std::string line; !(line = in.read_line(4096)).empty();) handle(line);
//
// BufferedStream is bound to a Socket (its reads are recv_into with the socket's
// timeout), so a File gets this small class of its own rather than an interface in
// the socket's hot path. Each refill or flush is one File call (one thread-pool job)
// of `chunk` bytes, so reading lines costs one pool round trip per chunk, not per line.
//
// Use one BufferedFile for reading or for writing, not both at once: reading ahead
// moves the file offset past what was returned, so write() while read data is
// buffered is a UsageError. The destructor does not flush: call flush(). Errors as
// File's pairs: ec, or std::system_error naming the call and the path. After an
// error the buffered data is kept.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include <grove/export.hpp>
#include <grove/file.hpp>

namespace grove {

// Buffered lines and writes over a File it does not own (see the top of
// grove/buffered_file.hpp); the File must outlive it.
class GROVE_API BufferedFile {
 public:
  // `chunk` (at least 64) is how much one read asks for, and how much written data is
  // held before write() flushes by itself.
  explicit BufferedFile(File& file, std::size_t chunk = 65536);

  // The next line, its newline included; a longer line than `max` (>= 1, else
  // UsageError) comes in pieces of `max` bytes. At end of file: the unterminated
  // rest, then "". On an error ec is set and "" returned (test ec first).
  std::string read_line(std::size_t max, std::error_code& ec);
  // Throwing form of read_line().
  std::string read_line(std::size_t max);
  // Bytes read from the file and not yet returned.
  std::size_t buffered() const noexcept { return rbuf_.size() - rpos_; }

  // Appends to the write buffer; writes it out once it holds `chunk` bytes.
  void write(std::string_view data, std::error_code& ec);
  // Throwing form of write().
  void write(std::string_view data);
  // Writes out everything buffered. On an error, what was not written stays buffered.
  void flush(std::error_code& ec);
  // Throwing form of flush().
  void flush();
  // Bytes written and not yet written out.
  std::size_t pending_write() const noexcept { return wbuf_.size(); }

 private:
  bool fill(std::error_code& ec);  // one read into the buffer; false at EOF or error

  File& file_;
  std::size_t chunk_;
  std::string rbuf_;
  std::size_t rpos_ = 0;
  std::string wbuf_;
};

}  // namespace grove
