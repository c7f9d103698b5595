#!/usr/bin/env python3
"""Can green threads replace threads? The same blocking echo server (server.cpp) on
one OS thread per connection (tvg_threads) and on one green thread per connection
under grove::monkey::patch_all() (tvg_green), with grove's own StreamServer echo
(samples/echo_server) for reference, driven by bench/echo/echo_load.

    bench/threads_vs_green/run.py --build BUILD_DIR [--reps 3] [--seconds 3]
        [--conns 10,100,1000,10000] [--cpu-conns 10,100,1000] [--work-kib 64]
        [--out FILE.json] [--chart FILE.png] [--smoke] [--chart-only]

Two variants:
  io   64-byte echo; server pinned to CPU 0, load generator to CPU 1 (taskset).
  cpu  each message costs the server a 64 KiB FNV-1a hash (64 to 73 us on a 2.6 GHz
       Xeon) before the echo;
       nothing pinned, so a server may use both cores, which it shares with the
       load generator. Modes: threads, green (the hash runs on the hub's one OS
       thread), green + run_in_thread (the hash runs in grove's thread pool) with the
       default 10 workers and with 2 (GROVE_THREADPOOL_SIZE, one per core).

For each point, the median over --reps interleaved runs (the order of the servers
rotates) of: msgs/s, the server's CPU time per message (exact, from schedstat over the
measured window), p50 and p99 latency (from echo_load), and, sampled every 50 ms while
the load runs: the server's OS threads (/proc/PID/status Threads), its peak RSS
(VmHWM) and page tables (VmPTE), and the machine's fall in MemAvailable and rise in
KernelStack, PageTables and SUnreclaim (/proc/meminfo) since just before the server
started. MemAvailable is machine-wide: it also counts the load generator, both ends'
socket buffers and anything else running.

On a shared machine: each run waits for a quiet machine (--quiet-threshold CPUs busy,
at most --quiet-wait s) and records the CPUs that anything else used meanwhile; a
disturbed run, or one where the server had not accepted every connection before the
measured window, is repeated (--retries) while the --budget (600 s) allows.

Writes the figures to --out (default bench/threads_vs_green/results.json) and a PNG
chart (gnuplot) to --chart (default docs/threads-vs-green-threads.png). --chart-only
redraws the chart from --out. --smoke: a few seconds, 10 connections, output to a
temporary directory; checks that everything runs and produces numbers.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Replaced in a server's environment by the path of libgrove_monkey.so in --build.
MONKEY_LIB = "@monkey_lib"
# Bytes of kernel stack per OS thread (THREAD_SIZE on x86-64, without KASAN).
KERNEL_STACK_KIB = 16

# (name, executable relative to the build dir, extra arguments, label, environment)
IO_SERVERS = [
    ("threads", "bench/threads_vs_green/tvg_threads", [], "OS threads (std::thread per conn)", {}),
    ("green", "bench/threads_vs_green/tvg_green", [], "green threads (same code, monkey)", {}),
    ("grove_native", "samples/echo_server", [], "grove StreamServer (native API)", {}),
    # The OS-thread binary itself, unmodified (built without grove), with monkey
    # preloaded and every area patched: each std::thread becomes a green thread.
    ("threads_preload", "bench/threads_vs_green/tvg_threads", [], "OS-thread binary under LD_PRELOAD monkey (all)",
     {"LD_PRELOAD": MONKEY_LIB, "GROVE_MONKEY": "all"}),
    # The same with grove's default 64 KiB stacks instead of the 256 KiB a green pthread
    # gets when its attributes set none (what the page tables cost).
    ("threads_preload_64k", "bench/threads_vs_green/tvg_threads", [],
     "OS-thread binary under LD_PRELOAD monkey (all), 64 KiB stacks",
     {"LD_PRELOAD": MONKEY_LIB, "GROVE_MONKEY": "all", "GROVE_STACK_SIZE": "65536"}),
]
CPU_SERVERS = [
    ("threads", "bench/threads_vs_green/tvg_threads", [], "OS threads", {}),
    ("green", "bench/threads_vs_green/tvg_green", [], "green threads (hash on the hub thread)", {}),
    ("green_pool", "bench/threads_vs_green/tvg_green", ["--offload"], "green + run_in_thread, 10 workers (default)",
     {"GROVE_THREADPOOL_SIZE": "10"}),
    ("green_pool2", "bench/threads_vs_green/tvg_green", ["--offload"], "green + run_in_thread, 2 workers",
     {"GROVE_THREADPOOL_SIZE": "2"}),
]
METRICS = ["msgs_per_sec", "server_cpu_ns_per_msg", "p50_us", "p99_us", "server_cores", "threads",
           "vm_hwm_kib", "vm_pte_kib", "mem_total_kib", "mem_available_fall_kib", "kernel_stack_rise_kib",
           "page_tables_rise_kib", "slab_unreclaimable_rise_kib", "client_cores", "other_cores",
           "ksoftirqd_cores"]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by every child
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for ln in f:
            k, v = ln.split(":", 1)
            out[k] = int(v.split()[0])
    return out


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                k, v = ln.split(":", 1)
                if k in ("Threads", "VmHWM", "VmRSS", "VmPTE"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def busy_cores(interval=1.0):
    """CPUs busy over `interval` seconds, machine-wide (from /proc/stat): what else runs."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return round((1 - (i1 - i0) / max(t1 - t0, 1)) * (os.cpu_count() or 1), 2)


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def ksoftirqd_pids():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().startswith("ksoftirqd/"):
                        out.append(int(d))
            except OSError:
                pass
    return out


KSOFTIRQD = ksoftirqd_pids()


def cpu_snapshot(server_pid):
    """(machine busy s, server s, children s, self s, ksoftirqd s): to compute what
    else ran. ksoftirqd runs the network stack's deferred work (at 10,000 connections
    a visible share), for this benchmark's sockets as much as anyone's."""
    tck = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = (sum(v[:8]) - v[3] - v[4]) / tck  # user..steal, minus idle and iowait
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return (busy, proc_cpu_s(server_pid), ch.ru_utime + ch.ru_stime, me.ru_utime + me.ru_stime,
            sum(proc_cpu_s(p) for p in KSOFTIRQD))


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def count_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def start_server(exe, args, cpu, errfile, env):
    cmd = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [exe, "--port", "0"] + args
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile, text=True, env={**os.environ, **env})
    line = p.stdout.readline()
    m = re.search(r"listening on \S+:(\d+)", line)
    if not m:
        p.kill()
        p.wait()
        raise RuntimeError(f"{exe}: no 'listening on' line: {line!r}")
    return p, int(m.group(1)), line.strip()


def stop_server(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def warmup_for(conns, a):
    """The warm-up grows with the connection count: the thread-per-connection server
    needs time to accept them all. Its accept loop is one of N runnable threads on
    CPU 0, so once the first connections are busy it gets ~1/N of the core (at 1,000
    connections it has been seen to take seconds); at 10,000, connects beyond the
    listen backlog also wait for SYN retransmits."""
    if a.smoke or conns < 1000:
        return a.warmup
    return a.warmup + max(2.0, conns / 1600.0)


def one_run(build, exe, args, env, conns, a, pinned):
    """One server, one load: returns the load generator's figures plus the sampled ones."""
    time.sleep(0.3)  # let the previous run's memory go back
    mi0 = meminfo()
    la = loadavg()
    warmup = warmup_for(conns, a)
    errfile = tempfile.TemporaryFile(mode="w+")
    env = {k: (os.path.join(build, "monkey/libgrove_monkey.so") if v == MONKEY_LIB else v) for k, v in env.items()}
    server, port, banner = start_server(exe, args, 0 if pinned else None, errfile, env)
    load = None
    try:
        fds0 = count_fds(server.pid)
        cmd = (["taskset", "-c", "1"] if pinned else []) + [
            os.path.join(build, "bench/echo/echo_load"), "--port", str(port), "--conns", str(conns),
            "--size", str(a.size), "--seconds", str(a.seconds), "--warmup", str(warmup),
            "--server-pid", str(server.pid)]
        cpu0 = cpu_snapshot(server.pid)
        t_start = time.monotonic()
        load = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = {"threads": 0, "vm_pte_kib": 0, "mem_available_min": mi0["MemAvailable"],
                "kernel_stack_max": mi0["KernelStack"], "page_tables_max": mi0["PageTables"],
                "sunreclaim_max": mi0["SUnreclaim"]}
        all_accepted_s = None  # when the server first held one fd per connection
        deadline = t_start + a.seconds + warmup + 120
        while load.poll() is None:
            st = proc_status(server.pid)
            mi = meminfo()
            peak["threads"] = max(peak["threads"], st.get("Threads", 0))
            peak["vm_pte_kib"] = max(peak["vm_pte_kib"], st.get("VmPTE", 0))
            peak["mem_available_min"] = min(peak["mem_available_min"], mi["MemAvailable"])
            peak["kernel_stack_max"] = max(peak["kernel_stack_max"], mi["KernelStack"])
            peak["page_tables_max"] = max(peak["page_tables_max"], mi["PageTables"])
            peak["sunreclaim_max"] = max(peak["sunreclaim_max"], mi["SUnreclaim"])
            if all_accepted_s is None and count_fds(server.pid) - fds0 >= conns:
                all_accepted_s = time.monotonic() - t_start
            if time.monotonic() > deadline:
                load.kill()
                break
            time.sleep(0.05)
        t_end = time.monotonic() - t_start
        out, err = load.communicate()
        cpu1 = cpu_snapshot(server.pid)
        wall = time.monotonic() - t_start
        hwm = proc_status(server.pid).get("VmHWM", 0)
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
        stop_server(server)
    errfile.seek(0)
    server_err = errfile.read().strip()
    errfile.close()
    if load.returncode != 0:
        raise RuntimeError(f"echo_load against {os.path.basename(exe)} {' '.join(args)} at {conns} conns "
                           f"failed ({load.returncode}): {err.strip()} {server_err}")
    r = {k: float(v) for k, v in re.findall(r"^(\w+): ([\d.]+)", out, re.M)}
    if "server_cpu_ns_per_msg" not in r:
        raise RuntimeError(f"echo_load printed no server CPU figure: {out!r}")
    r["server_cores"] = r["server_cpu_ns_per_msg"] * r["msgs_per_sec"] / 1e9
    r["threads"] = peak["threads"]
    r["vm_hwm_kib"] = hwm
    r["vm_pte_kib"] = peak["vm_pte_kib"]
    # The server's memory: peak RSS, page tables, and a kernel stack per OS thread.
    r["mem_total_kib"] = hwm + peak["vm_pte_kib"] + peak["threads"] * KERNEL_STACK_KIB
    r["mem_available_fall_kib"] = mi0["MemAvailable"] - peak["mem_available_min"]
    r["kernel_stack_rise_kib"] = peak["kernel_stack_max"] - mi0["KernelStack"]
    r["page_tables_rise_kib"] = peak["page_tables_max"] - mi0["PageTables"]
    r["slab_unreclaimable_rise_kib"] = peak["sunreclaim_max"] - mi0["SUnreclaim"]
    # CPUs busy with something other than this server, the load generator, this
    # script and ksoftirqd, averaged over the whole load run (machine-wide /proc/stat
    # minus their CPU time): a check that the machine was otherwise quiet.
    d = [y - x for x, y in zip(cpu0, cpu1)]
    r["other_cores"] = round((d[0] - d[1] - d[2] - d[3] - d[4]) / wall, 3)
    r["ksoftirqd_cores"] = round(d[4] / wall, 3)
    r["client_cores"] = round(d[2] / wall, 3)  # echo_load, whole run (connects and warm-up too)
    r["warmup_s"] = warmup
    r["load_s"] = round(t_end, 2)
    # The measured window is the last `seconds` of the load generator's run (give or
    # take its final /proc reads): were all connections accepted before it began?
    r["all_accepted_s"] = None if all_accepted_s is None else round(all_accepted_s, 2)
    r["all_accepted_before_window"] = all_accepted_s is not None and all_accepted_s < t_end - a.seconds
    r["loadavg_before"] = la
    r["banner"] = banner
    m = re.search(r"work: \d+ KiB, ([\d.]+) us", banner)
    if m:
        r["work_us_calibrated"] = float(m.group(1))
    if server_err:
        r["server_stderr"] = server_err[:2000]
    return r


class Budget:
    """--budget: the whole run should end within this many seconds. Waiting for a
    quiet machine and repeating disturbed runs stop once the runs still to do would
    not fit otherwise."""

    def __init__(self, seconds, remaining):
        self.end = time.monotonic() + seconds
        self.remaining = list(remaining)  # estimated seconds of each run still to do

    def done_one(self):
        if self.remaining:
            self.remaining.pop(0)

    def spare(self):
        return self.end - time.monotonic() - sum(self.remaining)


def run_estimate(conns, a):
    return a.seconds + warmup_for(conns, a) + 1.5 + (conns / 2000.0 if conns > 1000 else 0)


def wait_quiet(a, log, budget):
    """Waits (up to --quiet-wait s, and only while the budget allows) until the machine
    is quiet: fewer than --quiet-threshold CPUs busy. Returns the seconds waited."""
    if a.quiet_wait <= 0 or budget.spare() <= 0:
        return 0.0
    t0 = time.monotonic()
    while True:
        busy = busy_cores(0.5)
        if busy < a.quiet_threshold or time.monotonic() - t0 > a.quiet_wait or budget.spare() <= 0:
            waited = time.monotonic() - t0
            if waited > 1:
                log(f"    (waited {waited:.0f} s for a quiet machine; {busy:.2f} CPUs busy)")
            return round(waited, 1)


def measured_run(build, exe, args, env, conns, a, pinned, log, budget):
    """one_run on a quiet machine, in steady state: if something else used more than
    --quiet-threshold CPUs during the run, or the server had not accepted every
    connection before the measured window began, the run is repeated (at most
    --retries times, while the budget allows). Every attempt's conditions are kept."""
    attempts = []
    for _ in range(a.retries + 1):
        waited = wait_quiet(a, log, budget)
        r = one_run(build, exe, args, env, conns, a, pinned)
        r["quiet_wait_s"] = waited
        attempts.append(r)
        why = []
        if r["other_cores"] >= a.quiet_threshold:
            why.append(f"disturbed: {r['other_cores']:.2f} other CPUs busy")
        if not r["all_accepted_before_window"]:
            why.append(f"not every connection accepted before the measured window "
                       f"(at {r['all_accepted_s']} s; {r['threads']} OS threads at most)")
        if not why:
            break
        if budget.spare() < run_estimate(conns, a):
            log(f"    ({'; '.join(why)}; no time left to repeat it)")
            break
        log(f"    ({'; '.join(why)}; again)")
    # A run with every connection served in the window wins, then the least disturbed
    # one: chosen on the conditions of the run, never on its figures.
    best = min(attempts, key=lambda x: (not x["all_accepted_before_window"], x["other_cores"]))
    best["attempts_other_cores"] = [x["other_cores"] for x in attempts]
    best["attempts_all_accepted_s"] = [x["all_accepted_s"] for x in attempts]
    best["attempts_threads"] = [x["threads"] for x in attempts]
    budget.done_one()
    return best


def run_variant(name, servers, conns_list, build, a, pinned, extra_args, log, budget):
    if a.servers:
        servers = [s for s in servers if s[0] in a.servers.split(",")]
    results = {}  # (server, conns) -> list of runs
    for conns in conns_list:
        for rep in range(a.reps):
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for sname, rel, args, _, env in order:
                t0 = time.monotonic()
                r = measured_run(build, os.path.join(build, rel), args + extra_args, env, conns, a, pinned, log,
                                 budget)
                results.setdefault((sname, conns), []).append(r)
                log(f"{name:3} {sname:12} {conns:6} conns rep {rep + 1}: {r['msgs_per_sec']:9.0f} msgs/s "
                    f"{r['server_cpu_ns_per_msg']:8.0f} ns/msg p50 {r['p50_us']:9.1f} p99 {r['p99_us']:9.1f} us "
                    f"threads {r['threads']:5} hwm {r['vm_hwm_kib'] / 1024:7.1f} MiB "
                    f"memfall {r['mem_available_fall_kib'] / 1024:7.1f} MiB other {r['other_cores']:.2f} CPUs, "
                    f"all accepted at {r['all_accepted_s']} s "
                    f"{'ok' if r['all_accepted_before_window'] else 'LATE'} ({time.monotonic() - t0:.1f} s)"
                    + (f" stderr: {r['server_stderr']!r}" if "server_stderr" in r else ""))
    points = []
    for conns in conns_list:
        for sname, rel, args, label, env in servers:
            runs = results[(sname, conns)]
            med = {k: statistics.median(r[k] for r in runs) for k in METRICS}
            points.append({"server": sname, "label": label, "env": env, "conns": conns, "median": med,
                           "runs": runs})
    return points


def machine_info(nofile):
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "nofile": list(nofile)}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for key in ("Model name", "CPU(s)", "Thread(s) per core", "Hypervisor vendor", "L2 cache", "L3 cache"):
            m = re.search(rf"^{re.escape(key)}:\s*(.+)$", lscpu, re.M)
            if m:
                info[key] = m.group(1).strip()
    except OSError:
        pass
    info["MemTotal_kib"] = meminfo()["MemTotal"]
    try:
        with open("/proc/sys/kernel/threads-max") as f:
            info["threads_max"] = int(f.read())
        with open("/proc/sys/vm/max_map_count") as f:
            info["max_map_count"] = int(f.read())
        with open("/proc/sys/net/core/somaxconn") as f:
            info["somaxconn"] = int(f.read())
        info["RLIMIT_NPROC"] = list(resource.getrlimit(resource.RLIMIT_NPROC))
        info["RLIMIT_STACK"] = list(resource.getrlimit(resource.RLIMIT_STACK))
    except OSError:
        pass
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        info["git_head"] = head
    except OSError:
        pass
    return info


# ---- chart -------------------------------------------------------------------------

def chart(res, png):
    """Draws results (the JSON object) into png with gnuplot (pngcairo)."""
    gp = shutil.which("gnuplot")
    if not gp:
        raise RuntimeError("gnuplot not found: install gnuplot-nox (scripts/setup.sh --test)")
    tmp = tempfile.mkdtemp(prefix="tvg_chart_")
    try:
        files = {}
        for variant in ("io", "cpu"):
            for pt in res[variant]["points"]:
                files.setdefault((variant, pt["server"]), []).append(pt)
        labels = {}
        for (variant, server), pts in files.items():
            path = os.path.join(tmp, f"{variant}_{server}.dat")
            labels[(variant, server)] = pts[0]["label"]
            with open(path, "w") as f:
                f.write("# conns msgs/s cpu_us/msg p50_ms p99_ms hwm_mib memfall_mib threads cores kstack_mib\n")
                for pt in sorted(pts, key=lambda p: p["conns"]):
                    m = pt["median"]
                    f.write(f"{pt['conns']} {m['msgs_per_sec']:.1f} {m['server_cpu_ns_per_msg'] / 1000:.4f} "
                            f"{m['p50_us'] / 1000:.5f} {m['p99_us'] / 1000:.5f} {m['vm_hwm_kib'] / 1024:.3f} "
                            f"{max(m['mem_available_fall_kib'], 1) / 1024:.3f} {m['threads']} "
                            f"{m['server_cores']:.3f} {max(m['kernel_stack_rise_kib'], 1) / 1024:.3f}\n")
        colors = {"threads": "#d62728", "green": "#1f77b4", "grove_native": "#2ca02c", "green_pool": "#9467bd",
                  "green_pool2": "#ff7f0e", "threads_preload": "#17becf",
                  "threads_preload_64k": "#8c564b", "threads_preload_256k": "#7f7f7f"}

        def plot(variant, col, col2=None):
            """One line per server of column col; col2: a second, thin dashed line each."""
            parts = []
            for (v, server), label in labels.items():
                if v != variant:
                    continue
                path = os.path.join(tmp, f"{v}_{server}.dat")
                parts.append(f"'{path}' using 1:{col} with linespoints lw 2 pt 7 lc rgb '{colors[server]}' "
                             f"title '{label}'")
                if col2:
                    parts.append(f"'{path}' using 1:{col2} with linespoints lw 1 dt 2 pt 6 "
                                 f"lc rgb '{colors[server]}' notitle")
            if not parts:
                return "set multiplot next\n"  # variant not run: leave the panel empty
            return "plot " + ", \\\n     ".join(parts) + "\n"

        def xr(variant):
            cs = res[variant]["conns"] or [10]
            return f"{min(cs) / 1.6:g}:{max(cs) * 1.6:g}"

        io, cpu = res["io"], res["cpu"]
        reps = res["settings"]["reps"]
        secs = res["settings"]["seconds"]
        s = [
            f"set terminal pngcairo noenhanced size 1500,1250 font 'sans,10'\n",
            f"set output '{png}'\n",
            "set multiplot layout 3,3 title "
            f"\"{io['title']}  (median of {reps}, {secs:g} s windows; {res['machine'].get('nproc')} CPUs)\" "
            "font 'sans,12'\n",
            "set logscale x\nset grid\nset key box font 'sans,8'\nset xlabel 'concurrent connections'\n",
            f"set xrange [{xr('io')}]\n",
            "set format y '%g'\n",
            "set title 'echo: messages per second (higher is better)'\nset yrange [0:*]\nset key bottom left\n",
            plot("io", 2),
            "set title 'echo: server CPU time per message, us (lower is better)'\nset key top left\n",
            plot("io", 3),
            "set title 'echo: latency p99 (solid) and p50 (dashed), ms'\nset logscale y\nset yrange [*:*]\n",
            plot("io", 5, 4),
            "set title 'echo: server peak RSS (VmHWM), MiB'\n",
            plot("io", 6),
            "set title 'echo: fall in MemAvailable at peak, MiB (whole machine)'\n",
            plot("io", 7),
            "set title 'echo: server OS threads (OS-thread server: 1 + connections accepted)'\n",
            plot("io", 8),
            f"unset logscale y\nset yrange [0:*]\nset xrange [{xr('cpu')}]\n",
            f"set title \"{cpu['title']}: messages per second\"\nset key bottom right\n",
            plot("cpu", 2),
            "set title 'CPU-heavy: cores the server used (CPU s per s)'\n",
            plot("cpu", 9),
            "set title 'CPU-heavy: latency p99, ms'\nset logscale y\nset yrange [*:*]\nset key top left\n",
            plot("cpu", 5),
            "unset multiplot\n",
        ]
        script = os.path.join(tmp, "chart.gp")
        with open(script, "w") as f:
            f.write("".join(s))
        out = subprocess.run([gp, script], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"gnuplot failed: {out.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- main --------------------------------------------------------------------------

def table(points, log):
    log("| server | conns | msgs/s | CPU us/msg | server cores | p50 us | p99 us | OS threads | "
        "VmHWM MiB | VmPTE MiB | memory MiB (RSS+PTE+kstacks) | MemAvailable fall MiB | KernelStack rise MiB | Slab unrecl. rise MiB | "
        "client cores | other cores |")
    log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for pt in points:
        m = pt["median"]
        log(f"| {pt['server']} | {pt['conns']} | {m['msgs_per_sec']:.0f} | {m['server_cpu_ns_per_msg'] / 1000:.2f} | "
            f"{m['server_cores']:.2f} | {m['p50_us']:.0f} | {m['p99_us']:.0f} | {m['threads']:.0f} | "
            f"{m['vm_hwm_kib'] / 1024:.1f} | {m['vm_pte_kib'] / 1024:.1f} | {m['mem_total_kib'] / 1024:.1f} | "
            f"{m['mem_available_fall_kib'] / 1024:.1f} | {m['kernel_stack_rise_kib'] / 1024:.1f} | "
            f"{m['slab_unreclaimable_rise_kib'] / 1024:.1f} | {m['client_cores']:.2f} | {m['other_cores']:.2f} |")


def proof(build, conns, rounds=10):
    """tvg_threads, unmodified, natively and under LD_PRELOAD monkey: tvg_check's output
    must match, and with every connection open the patched server is one OS thread."""
    raise_nofile()
    exe = os.path.join(build, "bench/threads_vs_green/tvg_threads")
    check = os.path.join(build, "bench/threads_vs_green/tvg_check")
    outs = []
    for label, env in (("native", {}), ("patched", {"LD_PRELOAD": os.path.join(build, "monkey/libgrove_monkey.so"),
                                                   "GROVE_MONKEY": "all"})):
        errfile = tempfile.TemporaryFile(mode="w+")
        server, port, banner = start_server(exe, [], None, errfile, env)
        try:
            c = subprocess.run([check, "--port", str(port), "--conns", str(conns), "--rounds", str(rounds),
                                "--server-pid", str(server.pid), "--timeout", "300"], capture_output=True, text=True)
        finally:
            stop_server(server)
        threads = re.search(r"server_threads: (-?\d+)", c.stderr)
        print(f"{label}: {banner}\n{c.stdout.strip()}\n{c.stderr.strip()}", flush=True)
        if c.returncode != 0 or not threads:
            print(f"{label}: tvg_check failed ({c.returncode})")
            return 1
        outs.append((re.sub(r":\d+ \(", ":PORT (", banner), c.stdout, int(threads.group(1))))
    same = outs[0][:2] == outs[1][:2]
    print(f"same output: {'yes' if same else 'NO'}; OS threads with every connection open: "
          f"native {outs[0][2]}, patched {outs[1][2]}")
    return 0 if same and outs[1][2] == 1 and "mismatches: 0" in outs[1][1] else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--conns", default="10,100,1000,10000", help="connection counts, echo variant")
    ap.add_argument("--cpu-conns", default="10,100,1000", help="connection counts, CPU-heavy variant")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--work-kib", type=int, default=64)
    ap.add_argument("--variants", default="io,cpu")
    ap.add_argument("--servers", default="", help="only these servers (comma list of names; default: all)")
    ap.add_argument("--proof", type=int, default=0, metavar="N",
                    help="instead of measuring: tvg_threads natively and under LD_PRELOAD monkey "
                         "(GROVE_MONKEY=all) against tvg_check, N connections, every byte checked")
    ap.add_argument("--quiet-threshold", type=float, default=0.12,
                    help="CPUs busy with other work above which a run waits / is repeated")
    ap.add_argument("--quiet-wait", type=float, default=30, help="longest wait for a quiet machine, s")
    ap.add_argument("--retries", type=int, default=2, help="repeats of a disturbed run")
    ap.add_argument("--budget", type=float, default=600,
                    help="seconds the whole run should take at most (waits and repeats give way)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--chart", default=os.path.join(ROOT, "docs", "threads-vs-green-threads.png"))
    ap.add_argument("--chart-only", action="store_true", help="redraw the chart from --out")
    ap.add_argument("--smoke", action="store_true", help="a few seconds; checks it works, not the figures")
    a = ap.parse_args()

    if a.proof:
        return proof(os.path.abspath(a.build), a.proof)
    if a.chart_only:
        with open(a.out) as f:
            chart(json.load(f), a.chart)
        print(f"chart: {a.chart}")
        return 0

    # SIGTERM unwinds like Ctrl-C, so that no server or load generator is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    smoke_dir = None
    if a.smoke:
        a.conns, a.cpu_conns, a.seconds, a.warmup, a.reps = "10", "10", 0.3, 0.2, 1
        a.quiet_wait, a.retries = 0, 0  # CI machines are busy; the smoke run checks nothing timed
        smoke_dir = tempfile.mkdtemp(prefix="tvg_smoke_")
        a.out = os.path.join(smoke_dir, "results.json")
        a.chart = os.path.join(smoke_dir, "chart.png")
    build = os.path.abspath(a.build)
    for _, rel, _, _, _ in IO_SERVERS + CPU_SERVERS:
        if not os.path.exists(os.path.join(build, rel)):
            sys.exit(f"missing {rel} in {build}: ninja -C {build} bench/threads_vs_green/tvg_threads "
                     "bench/threads_vs_green/tvg_green samples/echo_server bench/echo/echo_load")
    nofile = raise_nofile()
    variants = a.variants.split(",")
    io_conns = [int(c) for c in a.conns.split(",")] if "io" in variants else []
    cpu_conns = [int(c) for c in a.cpu_conns.split(",")] if "cpu" in variants else []
    # Each side holds one fd per connection plus a few of its own.
    skipped = [c for c in sorted(set(io_conns + cpu_conns)) if c + 64 > nofile[0]]
    io_conns = [c for c in io_conns if c not in skipped]
    cpu_conns = [c for c in cpu_conns if c not in skipped]
    if len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than 2 CPUs; pinning server and client apart is impossible", file=sys.stderr)

    def log(msg):
        print(msg, flush=True)

    log(f"# RLIMIT_NOFILE {nofile[0]}/{nofile[1]}; skipped for the fd limit: {skipped or 'none'}")
    started = datetime.datetime.now(datetime.timezone.utc)
    la0 = loadavg()
    busy0 = busy_cores()
    log(f"# load average {la0}; busy CPUs before the run: {busy0}")
    res = {
        "machine": machine_info(nofile),
        "settings": {"seconds": a.seconds, "warmup": a.warmup, "reps": a.reps, "size": a.size,
                     "quiet_threshold_cpus": a.quiet_threshold, "quiet_wait_s": a.quiet_wait,
                     "retries": a.retries, "budget_s": a.budget,
                     "work_kib": a.work_kib, "smoke": a.smoke, "skipped_conns_fd_limit": skipped,
                     "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])},
        "started_utc": started.isoformat(timespec="seconds"),
        "loadavg_start": la0,
        "busy_cores_before": busy0,
    }
    t0 = time.monotonic()
    budget = Budget(a.budget, [run_estimate(c, a) for c in io_conns for _ in range(a.reps * len(IO_SERVERS))] +
                    [run_estimate(c, a) for c in cpu_conns for _ in range(a.reps * len(CPU_SERVERS))])
    log(f"# at least {sum(budget.remaining):.0f} s of runs; budget {a.budget:g} s")
    res["io"] = {"title": f"Echo, {a.size}-byte messages, server on CPU 0, load on CPU 1",
                 "pinned": True, "conns": io_conns,
                 "points": run_variant("io", IO_SERVERS, io_conns, build, a, True, [], log, budget)}
    res["cpu"] = {"title": f"CPU-heavy ({a.work_kib} KiB FNV-1a per message), nothing pinned",
                  "pinned": False, "conns": cpu_conns,
                  "points": run_variant("cpu", CPU_SERVERS, cpu_conns, build, a, False,
                                        ["--work-kib", str(a.work_kib), "--size", str(a.size)], log, budget)}
    res["loadavg_end"] = loadavg()
    res["busy_cores_after"] = busy_cores()
    res["elapsed_s"] = round(time.monotonic() - t0, 1)
    res["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    all_la = [r["loadavg_before"][0] for v in ("io", "cpu") for p in res[v]["points"] for r in p["runs"]]
    if all_la:
        res["loadavg_1min_during"] = [min(all_la), max(all_la)]

    for v in ("io", "cpu"):
        log(f"\n# {res[v]['title']}")
        table(res[v]["points"], log)
    log(f"\nelapsed {res['elapsed_s']} s; load average {la0} at start, {res['loadavg_end']} at end; "
        f"busy CPUs {busy0} before, {res['busy_cores_after']} after")

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    chart(res, a.chart)
    log(f"results: {a.out}\nchart: {a.chart}")

    if a.smoke:
        # Everything ran and produced numbers; the figures themselves are not checked.
        for v in ("io", "cpu"):
            for pt in res[v]["points"]:
                m = pt["median"]
                assert m["msgs_per_sec"] > 0 and m["server_cpu_ns_per_msg"] > 0, pt
                assert m["p99_us"] > 0 and m["threads"] >= 1 and m["vm_hwm_kib"] > 0, pt
        with open(a.chart, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", "the chart is not a PNG"
        shutil.rmtree(smoke_dir, ignore_errors=True)
        log("smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
