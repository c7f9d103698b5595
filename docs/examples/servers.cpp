// Servers: StreamServer runs a handler in a green thread per connection.
#include <chrono>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include <grove/grove.hpp>
#include <grove/net/net.hpp>

using namespace std::chrono_literals;
namespace net = grove::net;

// Upper-cases each line until the client hangs up.
void shout(net::Socket& sock, const net::Address&) {
  net::BufferedStream io(sock);
  for (;;) {
    std::string line = io.read_line(4096);  // "" at end of file
    if (line.empty()) return;
    for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    io.write(line);
    io.flush();
  }
}

int main() {
  net::StreamServer server(net::Address::parse("127.0.0.1:0"), shout);
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
