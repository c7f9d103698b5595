// hub_first.cpp: creates the main thread's hub and its thread-pool inbox before any
// test case, so the first case's "same fds before and after" check counts neither
// the hub's epoll fd nor the eventfd libev makes for the inbox's async watcher, nor
// the pipe libunwind keeps (to validate addresses) from the first stack a dump takes.
#include <grove/diagnostics.hpp>
#include <grove/scheduler.hpp>
#include <grove/thread_pool.hpp>

namespace {
const bool hub_created = (grove::current(), grove::run_in_thread([] {}), grove::format_run_info(), true);
}
