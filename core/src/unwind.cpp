// unwind.cpp: see unwind.hpp.
//
// Why libunwind (the nongnu one, Debian's libunwind-dev) and DWARF: grove is built
// with -O2/-O3, which omits frame pointers, so walking %rbp chains stops after a frame
// or two or wanders off; the .eh_frame tables every C++ object carries (exceptions
// need them) describe each frame exactly. glibc's backtrace() and libgcc's
// _Unwind_Backtrace read those tables too but only from the calling code's live
// registers; libunwind can start from any register set (unw_init_local on a filled-in
// context), which is what a suspended green thread is. Its local-only API
// (UNW_LOCAL_ONLY) is documented async-signal-safe for unw_init_local/unw_step, so the
// overflow handler and the monitor's sampling signal can use it too.
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
#include <unistd.h>
#endif
#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdlib>

namespace grove::detail::unwind {

#if GROVE_HAVE_LIBUNWIND
namespace {

void walk(unw_cursor_t& cursor, Frames& out) noexcept {
  out.n = 0;
  while (out.n < kMaxFrames) {
    unw_word_t ip = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    out.pc[out.n++] = static_cast<std::uintptr_t>(ip);
    if (unw_step(&cursor) <= 0) break;
  }
}

}  // namespace

bool available() noexcept { return true; }

void from_saved_context(const void* fctx, Frames& out) noexcept {
  out.n = 0;
  if (!fctx) return;
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
  if (unw_init_local2(&cursor, &uc, UNW_INIT_SIGNAL_FRAME) < 0) return;
  walk(cursor, out);
#else
  (void)fctx;  // the saved-register layout is only known for x86-64 here
#endif
}

[[gnu::noinline]] void from_here(Frames& out) noexcept {
  out.n = 0;
  unw_context_t uc;
  if (unw_getcontext(&uc) < 0) return;
  unw_cursor_t cursor;
  if (unw_init_local(&cursor, &uc) < 0) return;
  if (unw_step(&cursor) <= 0) return;  // leave out this function's own frame
  walk(cursor, out);
}

void from_signal_context(void* ucontext, Frames& out) noexcept {
  out.n = 0;
  if (!ucontext) return;
  unw_cursor_t cursor;
  // The kernel's ucontext_t is what libunwind's x86-64 unw_context_t is; the
  // interrupted instruction is the innermost frame (UNW_INIT_SIGNAL_FRAME: its pc is
  // not a return address).
  if (unw_init_local2(&cursor, static_cast<unw_context_t*>(ucontext), UNW_INIT_SIGNAL_FRAME) < 0) return;
  walk(cursor, out);
}

#else

bool available() noexcept { return false; }
void from_saved_context(const void*, Frames& out) noexcept { out.n = 0; }
void from_here(Frames& out) noexcept { out.n = 0; }
void from_signal_context(void*, Frames& out) noexcept { out.n = 0; }

#endif

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
  if (!available()) {
    out += indent;
    out += "(no stack: grove was built without libunwind)\n";
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
