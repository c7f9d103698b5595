// grove/monkey.hpp: make unmodified blocking C and C++ code cooperative.
//
// libgrove_monkey (pkg-config: grove-monkey) interposes libc's blocking calls. When
// such a call is made by a green thread, in a patched process, on an OS thread that
// already has a hub, and it would block, the green thread parks on the hub instead of
// blocking the OS thread; other green threads run meanwhile.
//
//   int main() {
//     grove::monkey::patch_all();      // first thing: fds made before are untouched
//     for (auto& url : urls) grove::spawn([&] { curl_easy_perform(...); });
//     grove::idle();
//   }
//
// Or, without linking it: LD_PRELOAD=libgrove_monkey.so GROVE_MONKEY=1 ./program
// (GROVE_MONKEY=1 or "all" is patch_all() at load, threads included; "nothreads" is
// patch_all_except_threads(); "sockets,time,dns" picks areas).
//
// Interposed (docs/monkey.md lists what cannot be):
//   sockets  socket socketpair pipe pipe2 connect accept accept4 read readv recv
//            recvfrom recvmsg recvmmsg write writev send sendto sendmsg sendmmsg
//            sendfile close shutdown dup dup2 dup3 fcntl fcntl64 ioctl(FIONBIO)
//            setsockopt getsockopt poll __poll ppoll select pselect epoll_wait
//            epoll_pwait, and __read_chk __recv_chk __recvfrom_chk __poll_chk
//            __ppoll_chk (the -D_FORTIFY_SOURCE forms); execve execv execvp execvpe
//            execl execlp execle fexecve execveat (clear grove's O_NONBLOCK first)
//   time     sleep usleep nanosleep clock_nanosleep
//   dns      getaddrinfo getnameinfo gethostbyname(_r) gethostbyname2(_r)
//            gethostbyaddr(_r): run in grove's thread pool
//   threads  pthread_create (a green thread; the first one on an OS thread without a
//            hub gives it one, the caller becoming its root) pthread_join
//            pthread_tryjoin_np pthread_timedjoin_np pthread_detach pthread_self
//            pthread_equal pthread_exit pthread_once pthread_key_create
//            pthread_key_delete pthread_getspecific pthread_setspecific
//            pthread_setname_np pthread_getname_np sched_yield, and the locks;
//            grove's own threads, RealThreads / real_thread() and attributes that ask
//            for an OS thread stay real (docs/monkey.md, "Threads")
//
// Semantics: a hooked call behaves like the real one.
//  - Only a green thread (the thread's root counts) on an OS thread that already has
//    a hub is made cooperative. The hub itself, thread-pool workers, other OS threads
//    and every call before patching get the real function unchanged; no hook ever
//    creates a hub.
//  - fds are tracked only if created by a hooked call while sockets are patched (and
//    dups of those); every other fd is left alone. A green thread's call is made
//    non-blocking per call (MSG_DONTWAIT on sockets, RWF_NOWAIT on pipes), leaving
//    the file description, which child processes share, as the user made it; only
//    accept on a listener (and pipes on kernels before 5.9) needs grove's O_NONBLOCK
//    on the description, which the exec family clears for the new program (connect
//    and sendfile set it for the call only). fcntl(F_GETFL) reports the user's own
//    O_NONBLOCK, and a blocking call from a thread without a hub on such an fd still
//    blocks (emulated with the real poll()). An fd the user made non-blocking
//    (SOCK_NONBLOCK, O_NONBLOCK, FIONBIO, MSG_DONTWAIT) returns EAGAIN at once.
//  - SO_RCVTIMEO / SO_SNDTIMEO are honoured: EAGAIN after the time (EINPROGRESS for
//    connect), as the kernel does. No other timeout is invented.
//  - errno is the real call's; EINTR is never invented. close() wakes the green
//    threads of the same OS thread parked on that fd (they fail with EBADF). Many
//    green threads may wait on one fd (many accept()s on one listener). SIGPIPE is
//    untouched: with it ignored, writing to a closed peer fails with EPIPE.
//  - A blocking-view write()/send() on a stream socket writes every byte, as the
//    blocking call does; writev/sendmsg may return a partial count.
//  - Kill / grove::Timeout: never thrown through C code. If one lands while a green
//    thread is parked in a hooked call (or is pending when the call would park), the
//    call fails: -1 with errno ECANCELED (kill) or ETIMEDOUT (Timeout) (sleep()
//    returns the seconds left, clock_nanosleep returns the error number). The
//    GreenletExit / TimeoutError stays pending and is raised at the next grove call
//    that may throw (grove::sleep, yield, join, a grove socket call, ...). C code is
//    told once: if it ignores the error and calls again, its hooked calls block as
//    usual from then on (one warning logged per green thread), so a retry loop does
//    not spin the OS thread; a new kill / Timeout is told again.
//  - Real symbols are resolved once at load; a ready fd's fast path takes no lock,
//    allocates nothing and adds no syscall.
#pragma once

#include <grove/export.hpp>

#include <thread>
#include <utility>

namespace grove::monkey {

// Patches sockets, time, dns and threads (every area below but files). Idempotent,
// thread-safe, never parks, never throws. Call it early (first thing in main): fds
// created before are never made cooperative, threads created before stay OS threads.
// With threads patched, std::thread / pthread_create make green threads: code that
// needs a real OS thread (a blocking peer, CPU-bound work) makes it with real_thread()
// or under a RealThreads. In an ASan / TSan build the threads area does not exist
// (pthreads stay OS threads) and patch_all() leaves it out without a word.
GROVE_API void patch_all() noexcept;
// patch_all() without threads (as gevent's patch_all(thread=False)): sockets, time
// and dns; pthreads stay OS threads. GROVE_MONKEY=nothreads at load.
GROVE_API void patch_all_except_threads() noexcept;
// Sockets, fds, poll/select/epoll waits (see above).
GROVE_API void patch_sockets() noexcept;
// sleep, usleep, nanosleep, clock_nanosleep.
GROVE_API void patch_time() noexcept;
// getaddrinfo and friends, via grove's thread pool.
GROVE_API void patch_dns() noexcept;
// read and write on a regular file, from a green thread, via grove's thread pool (a
// read first takes what the page cache holds, with preadv2 RWF_NOWAIT, on the calling
// thread). Not part of patch_all(): off unless asked for (GROVE_MONKEY=...,files),
// because most file reads and writes are served by the page cache in a microsecond,
// and the pool's round trip (two cross-thread wake-ups, 10-50 us) plus the fstat
// each call on an untracked fd then pays would slow them all for the sake of the rare
// one that waits for the disk. Turn it on for files on slow or network storage.
GROVE_API void patch_files() noexcept;
// pthreads (and so std::thread, std::mutex, std::condition_variable, ...) made green:
// see docs/monkey.md, "Threads". Part of patch_all(). In an ASan / TSan build it is
// not available: this call then says so once on stderr and changes nothing.
GROVE_API void patch_threads() noexcept;
// Turns every area off again: hooks call libc unchanged from now on (tracked fds keep
// the O_NONBLOCK grove set, if any; blocking calls on them from any thread are still
// emulated, and exec still clears it). One exception: once the threads area was on,
// the pthread locks stay monkey's hybrid locks (their state in the objects is not
// glibc's encoding), with every caller then sleeping as an OS thread; new threads are
// OS threads again.
GROVE_API void unpatch_all() noexcept;

// The escape hatch of the threads area: while a RealThreads object lives, threads
// that the calling OS thread creates (pthread_create, std::thread, std::async) are
// real OS threads, as without monkey: for CPU-bound work that needs a core of its own.
// Such a thread may itself create green threads (it then gets a hub of its own) and
// waits for them before it ends. Never parks, never throws. Not copyable.
//
//   { grove::monkey::RealThreads real; std::thread worker(crunch); ... }
class GROVE_API RealThreads {
 public:
  RealThreads() noexcept;
  ~RealThreads();
  RealThreads(const RealThreads&) = delete;
  RealThreads& operator=(const RealThreads&) = delete;
};

// A std::thread that is a real OS thread even with threads patched (RealThreads
// around its construction). Throws what std::thread's constructor throws.
//
//   std::thread t = grove::monkey::real_thread(crunch, std::ref(data));
template <class F, class... Args>
std::thread real_thread(F&& fn, Args&&... args) {
  RealThreads real;
  return std::thread(std::forward<F>(fn), std::forward<Args>(args)...);
}

// True if any area is patched.
GROVE_API bool is_patched() noexcept;
// True if the sockets area is patched (patch_sockets(), patch_all() or
// patch_all_except_threads()).
GROVE_API bool sockets_patched() noexcept;
// True if the time area is patched (patch_time() or patch_all()).
GROVE_API bool time_patched() noexcept;
// True if the dns area is patched (patch_dns() or patch_all()).
GROVE_API bool dns_patched() noexcept;
// True if the files area is patched (patch_files() only).
GROVE_API bool files_patched() noexcept;
// True if the threads area is patched (patch_threads() or patch_all(); never in an
// ASan / TSan build).
GROVE_API bool threads_patched() noexcept;

}  // namespace grove::monkey
