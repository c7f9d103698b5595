// unwind.cpp: see unwind.hpp.
//
// Why libunwind (the nongnu one, Debian's libunwind-dev) and DWARF: grove is built
// with -O2/-O3, which omits frame pointers, so walking %rbp chains stops after a frame
// or two or wanders off; the .eh_frame tables every C++ object carries (exceptions
// need them) describe each frame exactly. glibc's backtrace() and libgcc's
// _Unwind_Backtrace read those tables too but only from the calling code's live
// registers; libunwind can start from any register set (unw_init_local on a filled-in
// context), which is what a suspended green thread is. Signal handlers use libgcc's
// unwinder instead (from_signal_context, below, says why).
//
// libunwind is loaded with dlopen(RTLD_LOCAL) on the first stack taken, not linked:
// libunwind.so.8 also defines _Unwind_RaiseException and the rest of the C++ unwinding
// ABI, and a program whose library list names it before libgcc_s (a static link of
// libgrove puts -lunwind ahead of the compiler's -lgcc_s) would throw every C++
// exception through it: measured 13 times slower than libgcc's on Debian 12. Loaded
// locally, its symbols never join the global scope. Without libunwind.so.8 at run
// time, stacks of green threads are empty and dumps say so.
//
// Symbol names and file:line come from elfutils' libdwfl (libdw) when grove was built
// with it: it reads .symtab (static functions too) and the line tables of modules
// built with -g; otherwise dladdr() names exported symbols only.
#include "unwind.hpp"

#include <cstdio>
#include <cstring>

#if GROVE_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif
#if GROVE_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#endif
#include <cxxabi.h>
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>
#include <ucontext.h>
#include <unwind.h>

#include <cstdlib>

namespace grove::detail::unwind {

#if GROVE_HAVE_LIBUNWIND
namespace {

// The four libunwind calls used (UNW_LOCAL_ONLY names), from libunwind.so.8.
struct Libunwind {
  int (*init_local2)(unw_cursor_t*, unw_context_t*, int) = nullptr;
  int (*step)(unw_cursor_t*) = nullptr;
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*) = nullptr;
  int (*getcontext)(unw_context_t*) = nullptr;
  bool loaded = false;

  Libunwind() {
    void* lib = ::dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;  // kept open for the life of the process once found
    init_local2 = reinterpret_cast<decltype(init_local2)>(::dlsym(lib, "_ULx86_64_init_local2"));
    step = reinterpret_cast<decltype(step)>(::dlsym(lib, "_ULx86_64_step"));
    get_reg = reinterpret_cast<decltype(get_reg)>(::dlsym(lib, "_ULx86_64_get_reg"));
    getcontext = reinterpret_cast<decltype(getcontext)>(::dlsym(lib, "_Ux86_64_getcontext"));
    loaded = init_local2 && step && get_reg && getcontext;
  }
};

const Libunwind& libunwind() {
  static const Libunwind api;  // loaded once, on the first stack taken
  return api;
}

void walk(const Libunwind& u, unw_cursor_t& cursor, Frames& out) noexcept {
  out.n = 0;
  while (out.n < kMaxFrames) {
    unw_word_t ip = 0;
    if (u.get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    out.pc[out.n++] = static_cast<std::uintptr_t>(ip);
    if (u.step(&cursor) <= 0) break;
  }
}

}  // namespace

bool available() noexcept { return libunwind().loaded; }

void from_saved_context(const void* fctx, Frames& out) noexcept {
  out.n = 0;
  const Libunwind& u = libunwind();
  if (!fctx || !u.loaded) return;
#if defined(__x86_64__)
  // Boost.Context's x86-64 SysV jump_fcontext (checked against its disassembly, Boost
  // 1.74) leaves at the suspended stack pointer: [0] mxcsr + x87 control word,
  // [1] r12, [2] r13, [3] r14, [4] r15, [5] rbx, [6] rbp, [7] the address it resumes
  // at; resuming pops all 8 words. So the suspended code's registers are these, with
  // rsp just past them (as after the `ret` that resuming amounts to). No other
  // register is live across the switch (the call clobbers them).
  const auto* saved = static_cast<const std::uint64_t*>(fctx);
  unw_context_t uc;
  std::memset(&uc, 0, sizeof uc);
  greg_t* r = uc.uc_mcontext.gregs;
  r[REG_R12] = static_cast<greg_t>(saved[1]);
  r[REG_R13] = static_cast<greg_t>(saved[2]);
  r[REG_R14] = static_cast<greg_t>(saved[3]);
  r[REG_R15] = static_cast<greg_t>(saved[4]);
  r[REG_RBX] = static_cast<greg_t>(saved[5]);
  r[REG_RBP] = static_cast<greg_t>(saved[6]);
  r[REG_RIP] = static_cast<greg_t>(saved[7]);
  r[REG_RSP] = static_cast<greg_t>(reinterpret_cast<std::uintptr_t>(saved + 8));
  unw_cursor_t cursor;
  // UNW_INIT_SIGNAL_FRAME: the saved pc is where the context resumes, not a return
  // address, so its frame is looked up at pc itself (in grove_jump_fcontext the unwind
  // rules at pc and at pc - 1 differ).
  if (u.init_local2(&cursor, &uc, UNW_INIT_SIGNAL_FRAME) < 0) return;
  walk(u, cursor, out);
#else
  (void)fctx;  // the saved-register layout is only known for x86-64 here
#endif
}

[[gnu::noinline]] void from_here(Frames& out) noexcept {
  out.n = 0;
  const Libunwind& u = libunwind();
  if (!u.loaded) return;
  unw_context_t uc;
  if (u.getcontext(&uc) < 0) return;
  unw_cursor_t cursor;
  if (u.init_local2(&cursor, &uc, 0) < 0) return;
  if (u.step(&cursor) <= 0) return;  // leave out this function's own frame
  walk(u, cursor, out);
}

#else

bool available() noexcept { return false; }
void from_saved_context(const void*, Frames& out) noexcept { out.n = 0; }
void from_here(Frames& out) noexcept { out.n = 0; }

#endif

// From a signal handler: libgcc's _Unwind_Backtrace, not libunwind. Both read the
// same CFI, but libunwind 1.6 finds it through dl_iterate_phdr, which takes the
// dynamic loader's lock (a handler that interrupted dlopen would wait forever), while
// Debian 12's libgcc (GCC 12 on glibc 2.36) uses _dl_find_object, which takes no lock
// and is async-signal-safe. It starts in the handler, steps through the kernel's
// signal frame (__restore_rt) and on into the interrupted code: the frames before the
// interrupted pc are the handler's own and are left out. No allocation, no lock.
namespace {

struct SignalTrace {
  std::uintptr_t pc[kMaxFrames + 16];
  int n = 0;
};

_Unwind_Reason_Code collect_frame(_Unwind_Context* ctx, void* arg) {
  auto* t = static_cast<SignalTrace*>(arg);
  if (t->n >= static_cast<int>(sizeof t->pc / sizeof t->pc[0])) return _URC_END_OF_STACK;
  int before_insn = 0;
  t->pc[t->n++] = static_cast<std::uintptr_t>(_Unwind_GetIPInfo(ctx, &before_insn));
  return _URC_NO_REASON;
}

}  // namespace

void from_signal_context(void* ucontext, Frames& out) noexcept {
  out.n = 0;
  if (!ucontext) return;
#if defined(__x86_64__)
  const auto interrupted =
      static_cast<std::uintptr_t>(static_cast<ucontext_t*>(ucontext)->uc_mcontext.gregs[REG_RIP]);
  SignalTrace t;
  _Unwind_Backtrace(&collect_frame, &t);
  int first = -1;
  for (int i = 0; i < t.n && first < 0; ++i) {
    if (t.pc[i] == interrupted) first = i;
  }
  if (first < 0) {  // could not step out of the handler: at least the interrupted pc
    out.pc[0] = interrupted;
    out.n = 1;
    return;
  }
  for (int i = first; i < t.n && out.n < kMaxFrames; ++i) out.pc[out.n++] = t.pc[i];
#endif
}

namespace {

// Async-signal-safe formatting into a fixed buffer.
struct RawLine {
  char buf[512];
  std::size_t n = 0;
  void put(const char* s) {
    while (*s && n < sizeof(buf) - 1) buf[n++] = *s++;
  }
  void put_hex(std::uintptr_t v) {
    char tmp[24];
    int i = 0;
    do {
      const unsigned d = static_cast<unsigned>(v % 16);
      tmp[i++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
      v /= 16;
    } while (v && i < 23);
    put("0x");
    while (i > 0 && n < sizeof(buf) - 1) buf[n++] = tmp[--i];
  }
};

}  // namespace

void write_raw(int fd, const Frames& frames, const char* indent) noexcept {
  for (int i = 0; i < frames.n; ++i) {
    RawLine l;
    l.put(indent);
    l.put("#");
    char num[4] = {static_cast<char>('0' + (i / 10) % 10), static_cast<char>('0' + i % 10), ' ', 0};
    l.put(i < 10 ? num + 1 : num);
    l.put_hex(frames.pc[i]);
    // _dl_find_object (glibc 2.35+) takes no lock and is async-signal-safe; dladdr is not.
    dl_find_object found;
    if (_dl_find_object(reinterpret_cast<void*>(frames.pc[i]), &found) == 0 && found.dlfo_link_map) {
      const char* module = found.dlfo_link_map->l_name;
      l.put(" (");
      l.put(module && *module ? module : "the executable");
      l.put("+");
      l.put_hex(frames.pc[i] - found.dlfo_link_map->l_addr);
      l.put(")");
    }
    l.buf[l.n++] = '\n';
    ssize_t r = ::write(fd, l.buf, l.n);
    (void)r;
  }
}

Symbolize::Symbolize() {
#if GROVE_HAVE_LIBDW
  static char* debuginfo_path = nullptr;
  static const Dwfl_Callbacks callbacks = {
      dwfl_linux_proc_find_elf, dwfl_standard_find_debuginfo, nullptr, &debuginfo_path};
  Dwfl* d = dwfl_begin(&callbacks);
  if (d) {
    // The modules mapped now (from /proc/self/maps); their ELF and DWARF are read
    // lazily, on the first address that falls in each.
    if (dwfl_linux_proc_report(d, ::getpid()) == 0 && dwfl_report_end(d, nullptr, nullptr) == 0) {
      dwfl_ = d;
    } else {
      dwfl_end(d);
    }
  }
#endif
}

Symbolize::~Symbolize() {
#if GROVE_HAVE_LIBDW
  if (dwfl_) dwfl_end(static_cast<Dwfl*>(dwfl_));
#endif
}

const std::string& Symbolize::name(std::uintptr_t pc, bool return_address) {
  const std::uintptr_t at = return_address && pc ? pc - 1 : pc;
  auto it = cache_.find(at);
  if (it != cache_.end()) return it->second;
  return cache_.emplace(at, resolve(at)).first->second;
}

namespace {

std::string demangled(const char* sym) {
  int status = 0;
  char* d = abi::__cxa_demangle(sym, nullptr, nullptr, &status);
  std::string s = (status == 0 && d) ? d : sym;
  std::free(d);
  return s;
}

const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

std::string Symbolize::resolve(std::uintptr_t pc) {
  char buf[64];
#if GROVE_HAVE_LIBDW
  if (dwfl_) {
    Dwfl_Module* mod = dwfl_addrmodule(static_cast<Dwfl*>(dwfl_), pc);
    if (mod) {
      GElf_Off off = 0;
      GElf_Sym sym;
      const char* fn = dwfl_module_addrinfo(mod, pc, &off, &sym, nullptr, nullptr, nullptr);
      const char* module = dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
      std::string s;
      if (fn) {
        s = demangled(fn);
      } else {
        std::snprintf(buf, sizeof buf, "0x%zx", static_cast<std::size_t>(pc));
        s = buf;
      }
      if (Dwfl_Line* line = dwfl_module_getsrc(mod, pc)) {
        int lineno = 0;
        const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
        if (file) return s + " (" + base_name(file) + ":" + std::to_string(lineno) + ")";
      }
      if (fn) {
        std::snprintf(buf, sizeof buf, "+0x%zx", static_cast<std::size_t>(off));
        s += buf;
      }
      if (module) s = s + " (" + base_name(module) + ")";
      return s;
    }
  }
#endif
  Dl_info info;
  std::snprintf(buf, sizeof buf, "0x%zx", static_cast<std::size_t>(pc));
  if (::dladdr(reinterpret_cast<void*>(pc), &info) == 0) return buf;
  std::string s = info.dli_sname ? demangled(info.dli_sname) : std::string(buf);
  if (info.dli_sname && info.dli_saddr) {
    std::snprintf(buf, sizeof buf, "+0x%zx", static_cast<std::size_t>(pc - reinterpret_cast<std::uintptr_t>(info.dli_saddr)));
    s += buf;
  }
  if (info.dli_fname) s = s + " (" + base_name(info.dli_fname) + ")";
  return s;
}

void Symbolize::append(std::string& out, const Frames& frames, const char* indent) {
  if (frames.n == 0) {
    out += indent;
    out += available() ? "(no stack)\n" : "(no stack: libunwind.so.8 is not installed, or grove was built without libunwind)\n";
    return;
  }
  for (int i = 0; i < frames.n; ++i) {
    out += indent;
    out += '#';
    out += std::to_string(i);
    out += ' ';
    out += name(frames.pc[i], i > 0);
    out += '\n';
  }
}

}  // namespace grove::detail::unwind
