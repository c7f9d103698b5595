// fd_owner.hpp: a raw fd on its way to another hub, closed if it never gets there.
#pragma once

#include <unistd.h>

#include <utility>

namespace grove::net::detail {

// Owns a raw fd (no Socket: a Socket belongs to the hub that made it). Its destructor
// closes the fd, on whatever OS thread it runs: a listener handed to a server's hub
// thread that never started, an accepted connection whose hub's inbox dropped the
// entry carrying it. take() gives the fd up (to Socket::adopt on the target hub).
class FdOwner {
 public:
  FdOwner() noexcept = default;
  explicit FdOwner(int fd) noexcept : fd_(fd) {}
  FdOwner(FdOwner&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FdOwner& operator=(FdOwner&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  FdOwner(const FdOwner&) = delete;
  FdOwner& operator=(const FdOwner&) = delete;
  ~FdOwner() { reset(); }

  int get() const noexcept { return fd_; }
  // Gives the fd up: the caller owns it now.
  int take() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

}  // namespace grove::net::detail
