// asio_server.cpp: a Boost.Asio callback echo server on one thread, the peer the
// issue compares against (async_read_some -> async_write -> ...).
//
//   echo_asio --port P [--host 127.0.0.1]      (prints "listening on H:P")
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74's asio/awaitable.hpp needs std::exchange under C++20

#include <boost/asio.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket s) : sock_(std::move(s)) {}
  void read() {
    sock_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      if (!ec) self->write(n);
    });
  }

 private:
  void write(std::size_t n) {
    asio::async_write(sock_, asio::buffer(buf_, n), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      if (!ec) self->read();
    });
  }
  tcp::socket sock_;
  std::array<char, 16384> buf_;
};

void do_accept(tcp::acceptor& acc) {
  acc.async_accept([&acc](boost::system::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(s))->read();
    }
    do_accept(acc);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--port")) port = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--host")) host = argv[i + 1];
  }
  asio::io_context io(1);
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(port)));
  acc.listen(1024);
  std::printf("listening on %s:%d\n", host.c_str(), acc.local_endpoint().port());
  std::fflush(stdout);
  do_accept(acc);
  io.run();
}
