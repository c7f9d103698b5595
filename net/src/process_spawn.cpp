// process_spawn.cpp: starting a child with posix_spawn (see grove/net/process.hpp,
// "Starting").
//
// The fds the child gets as 0, 1 and 2 are made in the parent (pipes, /dev/null, files,
// each close-on-exec) and put in place by dup2 file actions, which clear close-on-exec
// on the copy; the parent closes its copies of the child ends once posix_spawn
// returned. Sources below 3 are first moved above 2, so that one dup2 cannot overwrite
// the source of a later one (stdout = Stdio::fd(2) with stderr = Stdio::fd(1), or a
// parent whose fd 0 was closed and reused by a pipe). Then closefrom(3) and chdir.
//
// glibc's posix_spawn reports a failed file action, chdir or exec as its result (the
// child writes the errno where the parent reads it before posix_spawn returns), so an
// exec failure is an error here, never an exit status 127. Which step failed is not
// said; for a message naming the right path, a failure with a cwd set checks whether
// the directory is usable.
#include "process_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <grove/errors.hpp>
#include <grove/net/process_error.hpp>

#include "fd_owner.hpp"

extern char** environ;

namespace grove::net::detail {

namespace {

[[noreturn]] void fail(int e, const std::string& what, const std::string& path) {
  throw SpawnError(std::error_code(e, std::system_category()), what, path);
}

const char* stream_name(int target) { return target == 0 ? "stdin" : target == 1 ? "stdout" : "stderr"; }

// `fd` moved above 2 (close-on-exec), so a dup2 onto 0..2 cannot clobber it.
int above_stdio(FdOwner& owner, const std::string& program) {
  if (owner.get() >= 3) return owner.get();
  const int fd = ::fcntl(owner.get(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) fail(errno, "grove::net::Process: cannot start '" + program + "': fcntl", program);
  owner = FdOwner(fd);
  return fd;
}

// The parent's end of a pipe for `target`, and the child's end in `child`.
int make_pipe(int target, FdOwner& child, FdOwner& parent, const std::string& program) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) fail(errno, "grove::net::Process: cannot start '" + program + "': pipe2", program);
  const bool child_reads = target == 0;
  child = FdOwner(child_reads ? fds[0] : fds[1]);
  parent = FdOwner(child_reads ? fds[1] : fds[0]);
  above_stdio(child, program);
  // Non-blocking on the parent's end only (O_NONBLOCK is per open file: pipe2's flag
  // would give the child a non-blocking stdin or stdout, which most programs mishandle).
  const int fl = ::fcntl(parent.get(), F_GETFL);
  if (fl < 0 || ::fcntl(parent.get(), F_SETFL, fl | O_NONBLOCK) < 0) {
    fail(errno, "grove::net::Process: cannot start '" + program + "': fcntl", program);
  }
  return child.get();
}

// The fd to dup2 onto `target` (-1: leave it as inherited). Owns what it opened in
// `child`, and the parent's pipe end in `parent`.
int prepare(const Stdio& s, int target, FdOwner& child, FdOwner& parent, const std::string& program) {
  switch (s.kind()) {
    case Stdio::Kind::kInherit:
      return -1;
    case Stdio::Kind::kNull: {
      const int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (fd < 0) fail(errno, "grove::net::Process: cannot open /dev/null for " + std::string(stream_name(target)), "/dev/null");
      child = FdOwner(fd);
      return above_stdio(child, program);
    }
    case Stdio::Kind::kPipe:
      return make_pipe(target, child, parent, program);
    case Stdio::Kind::kFile: {
      const int flags = target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | (s.append() ? O_APPEND : O_TRUNC);
      const int fd = ::open(s.path().c_str(), flags | O_CLOEXEC, 0666);
      if (fd < 0) {
        const int e = errno;
        fail(e, "grove::net::Process: cannot open '" + s.path() + "' as the " + stream_name(target) + " of '" +
                    program + "': " + std::strerror(e),
             s.path());
      }
      child = FdOwner(fd);
      return above_stdio(child, program);
    }
    case Stdio::Kind::kFd: {
      if (s.fd() < 0) throw UsageError("grove::net::Process: Stdio::fd(" + std::to_string(s.fd()) + ") for " + stream_name(target));
      if (s.fd() >= 3 || s.fd() == target) return s.fd();
      const int fd = ::fcntl(s.fd(), F_DUPFD_CLOEXEC, 3);
      if (fd < 0) fail(errno, "grove::net::Process: cannot start '" + program + "': fcntl", program);
      child = FdOwner(fd);
      return fd;
    }
    case Stdio::Kind::kMergeIntoStdout:
      if (target != 2) {
        throw UsageError(std::string("grove::net::Process: Stdio::merge_into_stdout() is for stderr, not ") +
                         stream_name(target));
      }
      return 1;  // dup2(1, 2) after stdout's own dup2
  }
  return -1;
}

// RAII for posix_spawn's two attribute objects.
struct SpawnAttrs {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnAttrs() {
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attr);
  }
  ~SpawnAttrs() {
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
  }
  SpawnAttrs(const SpawnAttrs&) = delete;
  SpawnAttrs& operator=(const SpawnAttrs&) = delete;
};

void check(int r, const std::string& program, const char* what) {
  if (r != 0) fail(r, "grove::net::Process: cannot start '" + program + "': " + what, program);
}

// The environment: `environ` itself when nothing changes, else a copy in `storage`.
char* const* environment(const ProcessOptions& o, std::vector<std::string>& storage, std::vector<char*>& ptrs) {
  if (!o.env && o.env_set.empty()) return environ;
  if (o.env) {
    storage = *o.env;
  } else {
    for (char** e = environ; e && *e; ++e) storage.emplace_back(*e);
  }
  for (const auto& [name, value] : o.env_set) {
    if (name.empty() || name.find('=') != std::string::npos) {
      throw UsageError("grove::net::Process: env_set name '" + name + "' is empty or has '='");
    }
    const std::string prefix = name + "=";
    std::erase_if(storage, [&](const std::string& e) { return e.compare(0, prefix.size(), prefix) == 0; });
    storage.push_back(prefix + value);
  }
  ptrs.reserve(storage.size() + 1);
  for (std::string& e : storage) ptrs.push_back(e.data());
  ptrs.push_back(nullptr);
  return ptrs.data();
}

}  // namespace

Spawned spawn_process(const std::vector<std::string>& argv, const ProcessOptions& o) {
  if (argv.empty() || argv[0].empty()) throw UsageError("grove::net::Process: empty argv (argv[0] is the program)");
  const std::string& program = argv[0];

  FdOwner child[3], parent[3];
  const Stdio* specs[3] = {&o.in, &o.out, &o.err};
  int source[3];
  for (int t = 0; t < 3; ++t) source[t] = prepare(*specs[t], t, child[t], parent[t], program);

  SpawnAttrs a;
  for (int t = 0; t < 3; ++t) {
    if (source[t] >= 0) check(::posix_spawn_file_actions_adddup2(&a.actions, source[t], t), program, "adddup2");
  }
  if (o.close_other_fds) check(::posix_spawn_file_actions_addclosefrom_np(&a.actions, 3), program, "addclosefrom");
  if (!o.cwd.empty()) check(::posix_spawn_file_actions_addchdir_np(&a.actions, o.cwd.c_str()), program, "addchdir");

  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGXFSZ);
  check(::posix_spawnattr_setsigmask(&a.attr, &none), program, "setsigmask");
  check(::posix_spawnattr_setsigdefault(&a.attr, &defaults), program, "setsigdefault");
  if (o.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    check(::posix_spawnattr_setpgroup(&a.attr, 0), program, "setpgroup");
  }
  if (o.new_session) flags |= POSIX_SPAWN_SETSID;
  check(::posix_spawnattr_setflags(&a.attr, flags), program, "setflags");

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  std::vector<char*> env_ptrs;
  char* const* envp = environment(o, env_storage, env_ptrs);

  pid_t pid = -1;
  const bool search = program.find('/') == std::string::npos;
  const int r = search ? ::posix_spawnp(&pid, program.c_str(), &a.actions, &a.attr, args.data(), envp)
                       : ::posix_spawn(&pid, program.c_str(), &a.actions, &a.attr, args.data(), envp);
  if (r != 0) {
    if (!o.cwd.empty() && ::access(o.cwd.c_str(), X_OK) != 0) {
      const int e = errno;
      fail(e, "grove::net::Process: cannot change to directory '" + o.cwd + "' to run '" + program + "': " +
                  std::strerror(e),
           o.cwd);
    }
    fail(r, "grove::net::Process: cannot run '" + program + "'" + (search ? " (searched in PATH)" : "") + ": " +
                std::strerror(r),
         program);
  }
  Spawned out;
  out.pid = pid;
  out.in = parent[0].take();
  out.out = parent[1].take();
  out.err = parent[2].take();
  return out;
}

}  // namespace grove::net::detail
