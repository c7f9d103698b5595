#!/usr/bin/env python3
"""samples/http_server against nginx and samples/kv_server against redis-server.

    python3 bench/servers/run.py --build build [--seconds 5] [--reps 3] [--json out.json]
    python3 bench/servers/run.py --build build --smoke      # a few seconds, for CI

Each server is pinned to CPU 0 and its client to CPU 1 (taskset). For each
repetition every server runs once, interleaved (the order rotates), and the median
is reported. Server CPU time is exact: the sum of field 1 of
/proc/PID/task/*/schedstat (ns on CPU, all threads) over the measured window.

HTTP: wrk -t1 -c100 against GET / (grove: "Hello, World!"; nginx: return 200 with the
same body, bench/servers/nginx.conf.in). RESP: redis-benchmark -c 50 for PING_INLINE,
PING_MBULK, SET and GET, one test per run so each gets its own CPU figure; the
reference is redis-server --save '' --appendonly no.

Prints `name: value unit` lines, and a ratio line per test.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def wait_port(port, proc, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Server:
    def __init__(self, name, cmd, port, tmp=None):
        self.name, self.port, self.tmp = name, port, tmp
        self.proc = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        wait_port(port, self.proc)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def start_http(name, build):
    port = free_port()
    if name == "grove":
        return Server(name, [os.path.join(build, "samples", "http_server"), "--port", str(port)], port)
    tmp = tempfile.mkdtemp(prefix="grove-nginx-")
    conf = open(os.path.join(HERE, "nginx.conf.in")).read().replace("@PORT@", str(port)).replace("@DIR@", tmp)
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return Server(name, ["nginx", "-c", path, "-p", tmp], port, tmp)


def start_resp(name, build):
    port = free_port()
    if name == "grove":
        return Server(name, [os.path.join(build, "samples", "kv_server"), "--port", str(port)], port)
    return Server(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--daemonize", "no", "--logfile", ""], port)


def run_wrk(port, seconds, pid):
    c0 = cpu_ns(pid)
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c100", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=seconds + 30).stdout
    c1 = cpu_ns(pid)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if not m or not total:
        raise RuntimeError("wrk output not understood:\n" + out)
    n = int(total.group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1, "ms": 1000, "s": 1e6}
    return {"rps": float(m.group(1)), "cpu_ns_per_req": (c1 - c0) / max(n, 1),
            "p50_us": float(p50.group(1)) * scale[p50.group(2)] if p50 else None,
            "errors": errors.group(0) if errors else ""}


def run_redis_benchmark(port, test, requests, pid):
    c0 = cpu_ns(pid)
    out = subprocess.run(["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests),
                          "-t", test, "--csv"], capture_output=True, text=True, timeout=300).stdout
    c1 = cpu_ns(pid)
    rows = [l for l in out.splitlines() if l.startswith('"') and not l.startswith('"test"')]
    if len(rows) != 1:
        raise RuntimeError(f"redis-benchmark {test}: output not understood:\n{out}")
    cols = [c.strip('"') for c in rows[0].split(",")]
    return {"rps": float(cols[1]), "cpu_ns_per_req": (c1 - c0) / requests}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--requests", type=int, default=500000)
    ap.add_argument("--json")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.seconds, a.reps, a.requests = 1, 1, 20000
    for tool in ("taskset", "wrk", "nginx", "redis-server", "redis-benchmark"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            print(f"missing {tool}: run scripts/setup.sh --test", file=sys.stderr)
            return 2
    os.environ["PATH"] += ":/usr/sbin"

    results = {"http": {}, "resp": {}}
    names = ["grove", "nginx"]
    for rep in range(a.reps):
        order = names[rep % 2:] + names[:rep % 2]
        for name in order:
            s = start_http(name, a.build)
            try:
                run_wrk(s.port, 1, s.proc.pid)  # warm-up
                results["http"].setdefault(name, []).append(run_wrk(s.port, a.seconds, s.proc.pid))
            finally:
                s.stop()
    tests = ["ping_inline", "ping_mbulk", "set", "get"]
    names = ["grove", "redis"]
    for rep in range(a.reps):
        order = names[rep % 2:] + names[:rep % 2]
        for name in order:
            s = start_resp(name, a.build)
            try:
                for t in tests:
                    results["resp"].setdefault(name, {}).setdefault(t, []).append(
                        run_redis_benchmark(s.port, t, a.requests, s.proc.pid))
            finally:
                s.stop()

    med = lambda runs, k: statistics.median(r[k] for r in runs)
    summary = {}
    for name, runs in results["http"].items():
        summary[f"http_{name}_rps"] = (med(runs, "rps"), "req/s")
        summary[f"http_{name}_cpu_ns_per_req"] = (med(runs, "cpu_ns_per_req"), "ns")
    summary["http_rps_vs_nginx"] = (summary["http_grove_rps"][0] / summary["http_nginx_rps"][0], "x")
    summary["http_cpu_vs_nginx"] = (summary["http_grove_cpu_ns_per_req"][0] / summary["http_nginx_cpu_ns_per_req"][0], "x")
    for t in tests:
        for name in ("grove", "redis"):
            runs = results["resp"][name][t]
            summary[f"resp_{t}_{name}_rps"] = (med(runs, "rps"), "req/s")
            summary[f"resp_{t}_{name}_cpu_ns_per_req"] = (med(runs, "cpu_ns_per_req"), "ns")
        summary[f"resp_{t}_cpu_vs_redis"] = (summary[f"resp_{t}_grove_cpu_ns_per_req"][0] /
                                            summary[f"resp_{t}_redis_cpu_ns_per_req"][0], "x")
    for k, (v, unit) in summary.items():
        print(f"{k}: {v:.3f} {unit}" if unit == "x" else f"{k}: {v:.0f} {unit}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": {k: v for k, (v, _) in summary.items()}, "runs": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
