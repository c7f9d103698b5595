// hub_first.cpp: creates the main thread's hub before any test case, so the first
// case's "same fds before and after" check does not count the hub's epoll fd.
#include <grove/scheduler.hpp>

namespace {
const bool hub_created = (grove::current(), true);
}
