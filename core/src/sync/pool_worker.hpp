// pool_worker.hpp: whether the calling OS thread is a ThreadPool worker.
//
// A worker runs jobs, never its hub's loop between them: a green thread spawned in a
// job would not run until some later job happened to park (and then inside that
// unrelated job), so spawn() there is a UsageError (hub.cpp), and run_in_thread()
// called in a job runs its function inline (thread_pool.cpp).
#pragma once

namespace grove::detail {

// Set by ThreadPool's workers for their whole life (thread_pool.cpp).
extern constinit thread_local bool tls_in_pool_worker __attribute__((tls_model("initial-exec")));

}  // namespace grove::detail
