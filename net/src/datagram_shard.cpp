// datagram_shard.cpp: a DatagramServer's receive loop and its handlers, on one hub.
#include "datagram_shard.hpp"

#include <cerrno>
#include <vector>

#include <grove/errors.hpp>
#include <grove/log.hpp>
#include <grove/pool.hpp>
#include <grove/scheduler.hpp>
#include <grove/wait.hpp>

#include "stop_handlers.hpp"

namespace grove::net::detail {

void DatagramShard::handle(std::string_view data, const Address& from) {
  try {
    common->handler(sock, data, from);
  } catch (const GreenletExit&) {
    throw;
  } catch (const std::exception& e) {
    grove::logger().error("{}: handler for a datagram from {} failed: {}", opts.name, from.to_string(), e.what());
  } catch (...) {
    grove::logger().error("{}: handler for a datagram from {} failed: an exception not derived from std::exception",
                          opts.name, from.to_string());
  }
}

void DatagramShard::spawn_handler(std::string data, const Address& from) {
  auto it = handlers.emplace(handlers.end());
  HandlerEntry entry(this, it);
  *it = grove::spawn(SpawnOptions{0, opts.name + " " + from.to_string()},
                     [self = shared_from_this(), entry = std::move(entry), data = std::move(data), from] {
                       self->handle(data, from);
                     });
  // receive_loop() saw a free slot and nothing ran since (spawn does not switch).
  const GreenThreadHandle h = *it;
  opts.pool->add(h);
}

void DatagramShard::receive_loop() {
  // The receive buffer lives on the heap: green thread stacks are small.
  std::vector<char> buf(opts.max_datagram);
  for (;;) {
    if (opts.pool) opts.pool->wait_available();
    std::error_code ec;
    Address from;
    const std::size_t n = sock.recvfrom(buf.data(), buf.size(), from, ec);
    if (ec) {
      if (!sock.is_open() || ec.value() == ECANCELED) return;
      grove::logger().warn("{}: recvfrom failed: {}", opts.name, ec.message());
      grove::sleep(std::chrono::milliseconds(5));
      continue;
    }
    if (opts.pool) {
      opts.pool->wait_available();  // a shared pool's slot may have gone meanwhile
      spawn_handler(std::string(buf.data(), n), from);
    } else {
      handle(std::string_view(buf.data(), n), from);
    }
  }
}

void DatagramShard::spawn_receiver() {
  receiver = grove::spawn(SpawnOptions{0, opts.name + " " + common->bound.to_string()},
                          [p = shared_from_this()] { p->receive_loop(); });
}

bool DatagramShard::stop_local(Duration timeout) {
  sock.close();  // a receiver parked in recvfrom wakes with ECANCELED and returns
  sock_fd.reset();
  if (!receiver) return true;
  const GreenThreadHandle self = grove::current();
  if (receiver == self) return false;  // from the handler: the loop ends when it returns
  if (!opts.pool) {
    // The receiver runs the handler itself: it is the one handler to stop.
    if (receiver.ready() || receiver.join(timeout)) return true;
    const bool killed_before = std::exchange(killing, true);
    if (!killed_before) receiver.kill_nowait();
    if (opts.stop_grace > Duration::zero() && receiver.join(opts.stop_grace)) return true;
    warn_stragglers(opts.name, 1, opts.stop_grace);
    return true;
  }
  receiver.kill();  // it runs no handler itself, and may be waiting for a slot
  // A killed handler leaves `handlers` as it ends, started or not (HandlerEntry).
  stop_handlers(handlers, timeout, opts.stop_grace, killing, opts.name);
  return true;
}

void DatagramShard::begin() {
  sock = Socket::adopt(sock_fd.get());
  sock_fd.take();
  spawn_receiver();
}

void DatagramShard::end(Duration timeout) {
  stop_local(timeout);
  // Frees the socket's state here, on its hub; the Socket object itself stays (a
  // handler's Socket&), closed.
  sock = Socket();
  receiver = GreenThreadHandle();
}

}  // namespace grove::net::detail
