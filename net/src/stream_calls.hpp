// stream_calls.hpp: what Socket, PipeStream and TlsStream build the same way on top of
// their own reads: recv() as a string of one recv_into(), and recv_exactly()'s loop.
#pragma once

#include <cstddef>
#include <string>
#include <system_error>

namespace grove::net::detail {

// recv(max) and recv(max, ec) of any of them: what one recv_into returned, as a string.
template <class Stream, class... Ec>
std::string recv_string(Stream& stream, std::size_t max, Ec&... ec) {
  std::string out(max, '\0');
  out.resize(stream.recv_into(out.data(), max, ec...));
  return out;
}

// recv_exactly's loop: read_some(p, n) (which sets `ec` on an error and returns 0 at
// the end of the stream) until `len` bytes have come. Returns how many did.
template <class ReadSome>
std::size_t read_exactly(void* buf, std::size_t len, const std::error_code& ec, ReadSome&& read_some) {
  std::size_t got = 0;
  auto* p = static_cast<char*>(buf);
  while (got < len) {
    const std::size_t n = read_some(p + got, len - got);
    if (ec || n == 0) break;
    got += n;
  }
  return got;
}

}  // namespace grove::net::detail
