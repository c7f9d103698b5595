// proc_status.hpp: a process's voluntary context switches from /proc/PID/status, the
// wake-up count both prefork benchmarks report (each sleep that ends is one switch).
#pragma once

#include <sys/types.h>

#include <cstdlib>
#include <fstream>
#include <string>

inline long voluntary_switches(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::atol(line.c_str() + 24);
  }
  return 0;
}
