#!/usr/bin/env python3
"""The echo benchmark: grove's samples/echo_server against a raw epoll loop and a
Boost.Asio callback server, driven by bench/echo/echo_load (plain epoll, not grove).

    bench/echo/run.py --build BUILD_DIR [--conns 1,100,1000] [--seconds 5] [--reps 3]
                      [--size 64] [--servers raw_epoll,asio,grove,grove_2hubs,monkey]
                      [--spread] [--no-strace] [--smoke]

Server pinned to CPU 0, load generator to CPU 1 (taskset). For each connection
count, runs every server once per repetition, interleaved (the order rotates), and
reports medians: messages/s, p50/p99 latency, and the server's CPU time per message
(exact, from /proc/PID/task/*/schedstat over the measured window only, all threads).
Then a short separate run of each server under `strace -c -f` gives syscalls per message.

grove_2hubs is samples/echo_server --hubs 2 (two hubs on two OS threads, one
SO_REUSEPORT listener each); pinned to CPU 0 like the others, its CPU per message
against grove's is the cost of serving on two hubs. --spread instead lets every server
use CPUs 0 and 1 and drives it with two echo_load processes (half the connections
each), also on CPUs 0 and 1: messages per second with the server on 2 cores and the
load on 2 cores (on a 2-core machine they share them).
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SERVERS = [
    ("raw_epoll", "bench/echo/echo_raw_epoll", []),
    ("asio", "bench/echo/echo_asio", []),
    ("grove", "samples/echo_server", []),
    # The same server on two hubs (two OS threads, one SO_REUSEPORT listener each).
    ("grove_2hubs", "samples/echo_server", ["--hubs", "2"]),
    # The same blocking libc echo loop as an OS-thread server would use, one green
    # thread per connection under grove::monkey::patch_all() (bench/threads_vs_green).
    ("monkey", "bench/threads_vs_green/tvg_green", []),
    # Experiments, run only when named in --servers: raw epoll touching per-connection
    # memory laid out like grove's stacks (raw_epoll_server.cpp: --conn-state, one line in
    # each connection's own page, one line per connection in a dense array).
    ("raw_epoll_state", "bench/echo/echo_raw_epoll", ["--conn-state"]),
    ("raw_epoll_page1", "bench/echo/echo_raw_epoll", ["--conn-page-line"]),
    ("raw_epoll_dense1", "bench/echo/echo_raw_epoll", ["--conn-dense-line"]),
    ("raw_epoll_page1c", "bench/echo/echo_raw_epoll", ["--conn-page-line-colored"]),
    ("raw_epoll_page1_s1", "bench/echo/echo_raw_epoll", ["--conn-page-line", "--slot-pages", "1"]),
    # grove's echo_server with 16 KiB stacks (32 KiB from one stack's top to the next).
    ("grove_stack16k", "samples/echo_server", [], {"GROVE_STACK_SIZE": "16384"}),
]
DEFAULT_SERVERS = "raw_epoll,asio,grove,grove_2hubs,monkey"


def start(cmd, cpu):
    full = (["taskset", "-c", str(cpu)] if cpu is not None else []) + cmd + ["--port", "0"]
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    m = re.search(r"listening on \S+:(\d+)", line)
    if not m:
        p.kill()
        raise RuntimeError(f"{cmd[0]}: no 'listening on' line: {line!r}")
    return p, int(m.group(1))


def stop(p):
    # SIGTERM, not SIGINT: a shell running this in the background makes its children
    # ignore SIGINT, and the peers have no handler of their own.
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def load_cmd(build, port, conns, seconds, warmup, size, pid, cpus="1"):
    cmd = ["taskset", "-c", cpus, os.path.join(build, "bench/echo/echo_load"), "--port", str(port), "--conns",
           str(conns), "--seconds", str(seconds), "--warmup", str(warmup), "--size", str(size)]
    if pid:
        cmd += ["--server-pid", str(pid)]
    return cmd


def parse_load(out):
    if out.returncode != 0:
        raise RuntimeError(f"echo_load failed: {out.stderr}")
    return {k: float(v) for k, v in re.findall(r"^(\w+): ([\d.]+)", out.stdout, re.M)}


def load(build, port, conns, seconds, warmup, size, pid):
    out = subprocess.run(load_cmd(build, port, conns, seconds, warmup, size, pid), capture_output=True, text=True,
                         timeout=seconds + warmup + 60)
    return parse_load(out)


def load_spread(build, port, conns, seconds, warmup, size, pid):
    """Two echo_load processes on CPUs 0-1, half the connections each, started together;
    the first also reads the server's CPU time. Messages add up; the latencies are the
    first one's; CPU per message is the server's CPU over all the messages."""
    halves = [conns - conns // 2, conns // 2] if conns > 1 else [conns]
    procs = [subprocess.Popen(load_cmd(build, port, n, seconds, warmup, size, pid if i == 0 else None, "0,1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, n in enumerate(halves)]
    rs = []
    for p in procs:
        out, err = p.communicate(timeout=seconds + warmup + 60)
        rs.append(parse_load(subprocess.CompletedProcess(p.args, p.returncode, out, err)))
    r = dict(rs[0])
    r["msgs"] = sum(x["msgs"] for x in rs)
    r["msgs_per_sec"] = sum(x["msgs_per_sec"] for x in rs)
    if "server_cpu_ns" in r:
        r["server_cpu_ns_per_msg"] = r["server_cpu_ns"] / r["msgs"]
    return r


def strace_run(build, exe, conns, seconds, size):
    """Syscalls per echoed message for one server, from strace -c -f."""
    with tempfile.NamedTemporaryFile(suffix=".strace", delete=False) as f:
        path = f.name
    p = subprocess.Popen(["taskset", "-c", "0", "strace", "-c", "-f", "-o", path] + exe + ["--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    port = int(re.search(r"listening on \S+:(\d+)", line).group(1))
    r = load(build, port, conns, seconds, 0.2, size, None)
    # Stop the traced server (strace's child), so strace writes its summary.
    children = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
    for c in children:
        os.kill(int(c), signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        for c in children:
            os.kill(int(c), signal.SIGKILL)
        p.wait()
    calls = {}
    for ln in open(path):
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", ln)
        if m and m.group(2) != "total":
            calls[m.group(2)] = int(m.group(1))
    os.unlink(path)
    # The load generator counts only the measured window; strace counts the whole
    # run, warm-up included, so scale by the messages of the whole run.
    msgs = r["msgs"] * (seconds + 0.2) / seconds
    return {k: v / msgs for k, v in calls.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--conns", default="1,100,1000")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--servers", default=DEFAULT_SERVERS,
                    help="comma-separated; also the experiments raw_epoll_state, raw_epoll_page1, "
                         "raw_epoll_page1c, raw_epoll_page1_s1, raw_epoll_dense1, grove_stack16k")
    ap.add_argument("--spread", action="store_true",
                    help="server and two load generators all on CPUs 0-1 (messages/s on 2 cores), not 0 and 1")
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="short run for CI: checks it works, not the numbers")
    a = ap.parse_args()
    if a.smoke:
        a.conns, a.seconds, a.warmup, a.reps = "1,100", 0.5, 0.2, 1
    conns = [int(c) for c in a.conns.split(",")]
    wanted = a.servers.split(",")
    servers = [(n, ["env"] + [f"{k}={v}" for k, v in (rest[0] if rest else {}).items()]
                 + [os.path.join(a.build, p)] + args)
               for n, p, args, *rest in SERVERS
               if n in wanted and os.path.exists(os.path.join(a.build, p))]
    missing = [n for n in wanted if n not in (s[0] for s in servers)]
    if missing:  # a server asked for (the default set included) that was not built
        sys.exit(f"run.py: no such server or not built in {a.build}: {', '.join(missing)}")
    if len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than 2 CPUs; pinning is meaningless", file=sys.stderr)

    results = {}
    for c in conns:
        for rep in range(a.reps):
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for name, exe in order:
                p, port = start(exe, "0,1" if a.spread else 0)
                try:
                    r = (load_spread if a.spread else load)(a.build, port, c, a.seconds, a.warmup, a.size, p.pid)
                finally:
                    stop(p)
                results.setdefault((name, c), []).append(r)

    where = ("server and two load generators on CPUs 0-1" if a.spread else "server on CPU 0, load on CPU 1")
    print(f"# echo, {a.size}-byte messages, {a.seconds:g} s per run, median of {a.reps}, {where}")
    print("| server | conns | msgs/s | p50 us | p99 us | server CPU ns/msg | vs raw_epoll |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    med = {}
    for c in conns:
        for name, _ in servers:
            rs = results[(name, c)]
            m = {k: statistics.median(r[k] for r in rs) for k in ("msgs_per_sec", "p50_us", "p99_us",
                                                                   "server_cpu_ns_per_msg")}
            med[(name, c)] = m
        base = med[("raw_epoll", c)]["server_cpu_ns_per_msg"] if ("raw_epoll", c) in med else None
        for name, _ in servers:
            m = med[(name, c)]
            ratio = m["server_cpu_ns_per_msg"] / base if base else float("nan")
            print(f"| {name} | {c} | {m['msgs_per_sec']:.0f} | {m['p50_us']:.1f} | {m['p99_us']:.1f} | "
                  f"{m['server_cpu_ns_per_msg']:.0f} | {ratio:.3f} |")
    for (name, c), m in med.items():
        print(f"echo_{name}_{c}conns_cpu_per_msg: {m['server_cpu_ns_per_msg']:.0f} ns")
        print(f"echo_{name}_{c}conns_msgs_per_sec: {m['msgs_per_sec']:.0f} msgs/s")

    if not a.no_strace and shutil.which("strace"):
        sc = 100 if 100 in conns else conns[-1]
        secs = 0.5 if a.smoke else 2
        print(f"\n# syscalls per echoed message (strace -c -f, {sc} conns, {secs:g} s; strace slows the server, "
              "so only the counts mean anything)")
        print("| server | total | epoll_wait | read/recv | write/send | epoll_ctl | other |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, exe in servers:
            per = strace_run(a.build, exe, sc, secs, a.size)
            rd = per.get("read", 0) + per.get("recvfrom", 0) + per.get("recvmsg", 0)
            wr = per.get("write", 0) + per.get("sendto", 0) + per.get("sendmsg", 0) + per.get("writev", 0)
            ew = per.get("epoll_wait", 0) + per.get("epoll_pwait", 0)
            ctl = per.get("epoll_ctl", 0)
            tot = sum(per.values())
            print(f"| {name} | {tot:.3f} | {ew:.3f} | {rd:.3f} | {wr:.3f} | {ctl:.4f} | {tot - rd - wr - ew - ctl:.4f} |")
            print(f"echo_{name}_syscalls_per_msg: {tot:.3f} calls")


if __name__ == "__main__":
    main()
