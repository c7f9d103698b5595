# libgrove-gdb.py: gdb commands that see grove's green threads.
#
# Installed as <datadir>/gdb/auto-load/<libdir>/libgrove.so.X.Y.Z-gdb.py, so gdb loads
# it with libgrove (as libstdc++'s pretty printers are loaded); or load it by hand:
# `source .../libgrove-gdb.py`. Works on a live process and on a core file.
#
#   info green-threads           every green thread of the selected OS thread's hub:
#                                id, name, state, what it waits on
#   green-thread bt N            the call stack of green thread N (its id)
#   green-thread apply all bt    the call stacks of all of them
#
# How: the hub of the selected OS thread is the thread_local grove::detail::Hub::tls_hub_;
# it lists the root green thread (root_) and every live one (live_head_, linked by
# GreenThreadState::live_next). Reading them needs libgrove's DWARF (libgrove is built
# with -g; a distribution's -dbgsym package carries it). A suspended green thread's
# registers are where Boost.Context's jump_fcontext saved them, at its `fctx` (x86-64:
# mxcsr/x87, r12, r13, r14, r15, rbx, rbp, resume address; core/src/unwind.cpp says
# more). To show its stack, a frame unwinder (gdb.unwinder) claims the selected OS
# thread's innermost frame and says its caller is that saved context; gdb's own
# unwinders take it from there. No register is written, so a core file works too.

import gdb
import gdb.unwinder

_STATES = {
    "grove::detail::Status::kCreated": "not started",
    "grove::detail::Status::kReady": "ready",
    "grove::detail::Status::kRunning": "running",
    "grove::detail::Status::kParked": "parked",
    "grove::detail::Status::kDead": "dead",
    "grove::detail::Status::kAbandoned": "abandoned at fork",
}


class GroveError(gdb.GdbError):
    pass


def _hub():
    try:
        hub = gdb.parse_and_eval("'grove::detail::Hub::tls_hub_'")
    except gdb.error as e:
        raise GroveError(
            "grove: cannot read grove::detail::Hub::tls_hub_ (%s). Is libgrove loaded, with its "
            "debug info (built with -g, or its -dbgsym package installed)?" % e)
    if int(hub) == 0:
        raise GroveError("grove: the selected OS thread has no hub (no green thread ran on it)")
    return hub.dereference()


def _string(s):
    try:
        length = int(s["_M_string_length"])
        return s["_M_dataplus"]["_M_p"].string(length=length) if length else ""
    except gdb.error:
        return str(s)


class _GT(object):
    """One GreenThreadState, read field by field at its address. (Dereferencing a
    GreenThreadState* would make gdb look up the dynamic type of the polymorphic
    control block, Task<R, F> of some lambda, and warn that it has no RTTI symbol.)"""

    _offsets = None

    def __init__(self, addr):
        self.addr = int(addr)
        if _GT._offsets is None:
            t = gdb.lookup_type("grove::detail::GreenThreadState")
            _GT._offsets = dict((f.name, (f.bitpos // 8, f.type)) for f in t.fields() if hasattr(f, "bitpos"))

    def __getitem__(self, name):
        off, ftype = _GT._offsets[name]
        return gdb.Value(self.addr + off).cast(ftype.pointer()).dereference()

    def __int__(self):
        return self.addr


def _green_threads(hub):
    """[_GT] of the hub: the root first, then every live one."""
    out = [_GT(hub["root_"].address)]
    g = int(hub["live_head_"])
    seen = 0
    while g != 0 and seen < 10000000:
        out.append(_GT(g))
        g = int(out[-1]["live_next"])
        seen += 1
    return out


def _name(g):
    name = _string(g["name"])
    if name:
        return name
    return "main" if bool(g["is_root"]) else "GreenThread-%d" % int(g["id"])


def _state(g):
    return _STATES.get(str(g["status"]), str(g["status"]))


def _describe_wait(g):
    what = g["wait_what"]
    text = what.string() if int(what) else "?"
    peer = g["wait_peer"]
    if int(peer):
        peer = _GT(peer)
        text += " of '%s' (id %d)" % (_name(peer), int(peer["id"]))
    return text


def _find(hub, gid):
    for g in _green_threads(hub):
        if int(g["id"]) == gid:
            return g
    raise GroveError("grove: no green thread with id %d on this OS thread's hub" % gid)


def _symbol_at(pc):
    try:
        return gdb.execute("info symbol 0x%x" % pc, to_string=True).split()[0]
    except gdb.error:
        return ""


class _SavedContext(object):
    """The registers jump_fcontext saved for a suspended green thread (x86-64)."""

    def __init__(self, fctx):
        u64 = gdb.lookup_type("unsigned long").pointer()
        p = gdb.Value(int(fctx)).cast(u64)
        self.regs = {
            "r12": int(p[1]), "r13": int(p[2]), "r14": int(p[3]), "r15": int(p[4]),
            "rbx": int(p[5]), "rbp": int(p[6]), "rip": int(p[7]), "rsp": int(fctx) + 64,
        }
        # grove switches through grove_jump_fcontext (core/src/context.cpp), whose saved
        # resume address is its final `ret`: step over that ret here, so the first frame
        # gdb unwinds is a real caller (gdb would look up the thunk's unwind rule one
        # byte too early, at pc - 1, as for any caller frame).
        if _symbol_at(self.regs["rip"]) == "grove_jump_fcontext":
            sp = self.regs["rsp"]
            self.regs["rip"] = int(gdb.Value(sp).cast(u64).dereference())
            self.regs["rsp"] = sp + 8


class _GreenThreadUnwinder(gdb.unwinder.Unwinder):
    """While `context` is set: the innermost frame's caller is that saved context."""

    def __init__(self):
        super(_GreenThreadUnwinder, self).__init__("grove green threads")
        self.context = None

    def __call__(self, pending_frame):
        if self.context is None or pending_frame.level() != 0:
            return None
        sp = pending_frame.read_register("rsp")
        pc = pending_frame.read_register("rip")
        info = pending_frame.create_unwind_info(_FrameId(sp, pc))
        ptr = gdb.lookup_type("void").pointer()
        for reg, value in self.context.regs.items():
            info.add_saved_register(reg, gdb.Value(value).cast(ptr))
        return info


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


_unwinder = _GreenThreadUnwinder()


def _frames_of(hub, g, limit=64):
    """Lines "#i 0xpc in function (file:line)" of green thread g's stack."""
    lines = []
    running = int(hub["current_"]) == int(g)
    if running or str(g["status"]) not in ("grove::detail::Status::kParked",
                                           "grove::detail::Status::kReady"):
        if not running:
            return ["  (no stack: %s)" % _state(g)]
        frame = gdb.newest_frame()  # the running one: the OS thread's own stack
        skip = 0
    else:
        _unwinder.context = _SavedContext(g["fctx"])
        gdb.invalidate_cached_frames()
        frame = gdb.newest_frame()
        skip = 1  # frame 0 is the OS thread's own innermost frame
    try:
        i = 0
        while frame is not None and i < limit + skip:
            if i >= skip:
                text = _frame_text(frame)
                # A green thread's stack begins in Boost.Context's trampoline; what lies
                # above it is the control block, not frames.
                if " in make_fcontext" in text:
                    break
                lines.append("#%-2d " % (i - skip) + text)
            frame = frame.older()
            i += 1
    finally:
        if _unwinder.context is not None:
            _unwinder.context = None
            gdb.invalidate_cached_frames()
    return lines


def _frame_text(frame):
    pc = frame.pc()
    name = frame.name() or _symbol_at(pc) or "??"
    sal = frame.find_sal()
    where = ""
    if sal.symtab is not None and sal.line:
        where = " at %s:%d" % (sal.symtab.filename, sal.line)
    else:
        lib = gdb.solib_name(pc)
        if lib:
            where = " from %s" % lib
    return "0x%016x in %s%s" % (pc, name, where)


def _header(hub, g):
    line = "green thread %d '%s' %s" % (int(g["id"]), _name(g), _state(g))
    if str(g["status"]) == "grove::detail::Status::kParked":
        line += " on " + _describe_wait(g)
    if int(hub["current_"]) == int(g):
        line += " (running now)"
    return line


class InfoGreenThreads(gdb.Command):
    """List the green threads of the selected OS thread: id, name, state, what each waits on."""

    def __init__(self):
        super(InfoGreenThreads, self).__init__("info green-threads", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        hub = _hub()
        threads = _green_threads(hub)
        gdb.write("%d green thread(s) on this OS thread's hub (the root included)\n" % len(threads))
        gdb.write("  %-5s %-24s %-12s %s\n" % ("Id", "Name", "State", "Waits on"))
        for g in threads:
            mark = "*" if int(hub["current_"]) == int(g) else " "
            waits = _describe_wait(g) if str(g["status"]) == "grove::detail::Status::kParked" else ""
            gdb.write("%s %-5d %-24s %-12s %s\n" % (mark, int(g["id"]), "'%s'" % _name(g), _state(g), waits))


class GreenThreadPrefix(gdb.Command):
    """Commands about grove's green threads: green-thread bt N, green-thread apply all bt."""

    def __init__(self):
        super(GreenThreadPrefix, self).__init__("green-thread", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class GreenThreadBt(gdb.Command):
    """Print the call stack of green thread N (its id, as `info green-threads` shows)."""

    def __init__(self):
        super(GreenThreadBt, self).__init__("green-thread bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise GroveError("usage: green-thread bt N")
        try:
            gid = int(arg.strip(), 0)
        except ValueError:
            raise GroveError("grove: green thread id must be a number, not %r" % arg)
        hub = _hub()
        g = _find(hub, gid)
        gdb.write(_header(hub, g) + "\n")
        for line in _frames_of(hub, g):
            gdb.write(line + "\n")


class GreenThreadApply(gdb.Command):
    """green-thread apply all bt: print the call stack of every green thread."""

    def __init__(self):
        super(GreenThreadApply, self).__init__("green-thread apply", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if arg.split() != ["all", "bt"]:
            raise GroveError("usage: green-thread apply all bt")
        hub = _hub()
        for g in _green_threads(hub):
            gdb.write("\n" + _header(hub, g) + "\n")
            for line in _frames_of(hub, g):
                gdb.write(line + "\n")


# gdb runs an objfile's -gdb.py each time it loads that objfile: register once.
if not getattr(gdb, "_grove_gdb_loaded", False):
    gdb._grove_gdb_loaded = True
    gdb.unwinder.register_unwinder(None, _unwinder, replace=True)
    InfoGreenThreads()
    GreenThreadPrefix()
    GreenThreadBt()
    GreenThreadApply()
