// child_process.hpp: runs tests/core/crash_helper in a child process (fork + execve),
// with extra environment variables, and collects its stderr and how it ended.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

namespace grove::test {

struct ChildResult {
  int status = -1;      // as from waitpid
  std::string err;      // everything it wrote to stderr
  bool timed_out = false;
  bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  bool signaled() const { return WIFSIGNALED(status); }
  bool failed() const { return !exited_ok(); }
};

// The helper's path, from the GROVE_CRASH_HELPER variable meson's test() sets.
inline std::string crash_helper_path() {
  const char* p = std::getenv("GROVE_CRASH_HELPER");
  return p ? p : "";
}

// Runs `crash_helper mode` with `env` added to this process's environment (a
// variable given here replaces an inherited one of the same name). Kills it after
// `limit`. Blocks the OS thread (no green thread switch happens meanwhile).
inline ChildResult run_crash_helper(const std::string& mode, const std::vector<std::string>& env,
                                    std::chrono::seconds limit = std::chrono::seconds(20)) {
  ChildResult r;
  const std::string path = crash_helper_path();
  if (path.empty()) {
    r.err = "GROVE_CRASH_HELPER is not set";
    return r;
  }
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string v = *e;
    bool replaced = false;
    for (const std::string& x : env) {
      if (v.substr(0, v.find('=') + 1) == x.substr(0, x.find('=') + 1)) replaced = true;
    }
    if (!replaced) envs.push_back(v);
  }
  for (const std::string& x : env) envs.push_back(x);
  std::vector<char*> envp;
  for (std::string& v : envs) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string mode_arg = mode;
  std::string path_arg = path;
  char* argv[] = {path_arg.data(), mode_arg.data(), nullptr};

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    r.err = "pipe2 failed";
    return r;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::execve(path_arg.c_str(), argv, envp.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0) continue;
    if (n == 0) continue;
    const ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got <= 0) break;
    r.err.append(buf, static_cast<std::size_t>(got));
  }
  ::close(fds[0]);
  ::waitpid(pid, &r.status, 0);
  return r;
}

}  // namespace grove::test
