// Servers: StreamServer runs a handler in a green thread per connection.
#include <chrono>
#include <cctype>
#include <cstdio>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <grove/grove.hpp>
#include <grove/net/net.hpp>

using namespace std::chrono_literals;
namespace net = grove::net;

// Upper-cases each line until the client hangs up.
void shout(net::Socket& sock, const net::Address&) {
  net::BufferedStream io(sock);
  std::error_code ec;
  // A line without its "\n" or "\r\n"; std::nullopt at end of file, or on an error.
  while (std::optional<std::string> line = io.read_line_stripped(4096, ec)) {
    for (char& c : *line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    io.write(*line + "\n");
    io.flush();
  }
  if (ec) std::printf("read failed: %s\n", ec.message().c_str());  // no ec: end of file
}

int main() {
  net::StreamServer server("localhost:0", shout);  // a name: looked up here
  server.start();  // binds, listens and spawns the acceptor; does not park
  std::printf("listening on %s\n", server.address().to_string().c_str());  // port 0: a free one

  std::vector<grove::GreenThread<std::string>> clients;
  for (const char* word : {"hello", "green", "threads"}) {
    clients.push_back(grove::spawn([&server](std::string w) {
      net::Socket s = net::Socket::tcp();
      s.connect(server.address(), 5s);
      s.sendall(w + "\n");
      net::BufferedStream io(s);
      return io.read_line(4096);
    }, std::string(word)));
  }
  std::string all;
  for (auto& c : clients) all += c.get();
  std::printf("%s", all.c_str());
  server.stop();  // closes the listener, lets handlers finish (1 s), kills the rest
  return all == "HELLO\nGREEN\nTHREADS\n" ? 0 : 1;
}
