// run_info_test.cpp: format_run_info() and dump(), what a user reads when a process
// seems stuck.
#include <cstdio>
#include <string>

#include <grove/diagnostics.hpp>
#include <grove/event.hpp>

#include "grove_test.hpp"

GROVE_TEST("format_run_info names each live green thread and what it waits on; dump writes the same") {
  grove::Event ev;
  auto g = grove::spawn(grove::SpawnOptions{0, "run-info-waiter"}, [&] { ev.wait(); });
  grove::yield();  // it runs and parks on the Event
  const std::string info = grove::format_run_info();
  INFO(info);
  CHECK(info.find("run-info-waiter") != std::string::npos);
  CHECK(info.find("main") != std::string::npos);  // the root green thread, running this
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  grove::dump(f);
  std::rewind(f);
  std::string dumped;
  char buf[512];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) dumped.append(buf, n);
  std::fclose(f);
  CHECK(dumped.find("run-info-waiter") != std::string::npos);
  ev.set();
  g.join();
  CHECK(grove::format_run_info().find("run-info-waiter") == std::string::npos);  // gone once it ended
}
