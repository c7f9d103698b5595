// fork.hpp: what grove does in the child process of a fork(). The rule and the reasons
// are in fork.cpp.
#pragma once

namespace grove::detail {

// Registers grove's pthread_atfork child handler, once per process (every hub's
// constructor calls it; later calls do nothing).
void install_fork_handler() noexcept;

// How many fork()s this process descends through (0 in a process that never forked
// since the handler was installed). State made in an earlier generation, such as a
// thread pool's workers, belongs to an ancestor and is not used again.
unsigned fork_generation() noexcept;

// thread_pool.cpp: resets this OS thread's completion inbox in the child (the parent's
// workers, and the jobs they would have delivered, do not exist there).
void thread_pool_inbox_after_fork() noexcept;

}  // namespace grove::detail
