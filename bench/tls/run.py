#!/usr/bin/env python3
"""TLS: samples/http_server --tls-cert against nginx, samples/tls_echo_server against
samples/echo_server, and what an idle TLS connection costs next to a plaintext one.

    python3 bench/tls/run.py --build build [--seconds 3] [--reps 3] [--idle-conns 10000] [--json out.json]
    python3 bench/tls/run.py --build build --smoke      # a few seconds, for CI

One throwaway certificate (ECDSA P-256, made with `openssl req` in a temporary
directory) for every server, loopback only. Every handshake is TLS 1.3 with
TLS_AES_128_GCM_SHA256 and X25519: nginx is configured so (nginx_tls.conf.in), grove's
servers and wrk get it from an OpenSSL configuration file (OPENSSL_CONF, its
system_default section), and bench/tls/load.cpp offers nothing else. nginx runs as in
bench/servers: one process (master_process off), session tickets on, its own temporary
prefix, no root needed.

Each server is pinned to CPU 0 and its client to CPU 1 (taskset). For each repetition
every server runs once, interleaved (the order rotates), and medians are reported.
Server CPU time is exact: /proc/PID/task/*/schedstat over the measured window.

  https_keepalive   wrk -t1 -c100 over https, GET / ("Hello, World!"), grove vs nginx
  https_handshake   tls_load --mode https: a new connection per request ("Connection:
                    close"), 50 at a time; full handshakes, then resumed ones (--resume:
                    the newest session ticket offered); grove vs nginx, server CPU per
                    handshake
  handshake_paired  the same handshakes measured side by side in time: grove and nginx both
                    running on CPU 0, a tls_load of --handshake-conns / 2 connections
                    against each on CPU 1, both loads over the same window, so the
                    machine's drift (other tenants, frequency) falls on both alike. Per
                    window the ratio grove / nginx of server CPU per handshake. Each
                    window starts both servers afresh (a process's memory layout moves
                    its figure by up to 1 % for its whole life), and windows alternate
                    which server starts first and which load starts first (either
                    choice alone moved an A/A ratio by up to 0.8 %). Reported: the
                    median ratio, a bootstrap 95 % interval of it, and the windows where
                    grove was below nginx. With --grove-alt, grove_alt / grove the same
                    way (an A/B). --pairs N windows per kind (default 30), each
                    --warmup (1 s) + --seconds long.
  echo              tls_load --mode echo, 64-byte messages, 100 and 1,000 connections:
                    samples/tls_echo_server vs samples/echo_server (plaintext), server CPU
                    per message; the same with bench/tls/idle_server.cpp's TLS server
                    with OpenSSL's buffers released while idle (idle_tls, the default)
                    and kept (idle_tls_keep: --keep-buffers); then one more TLS run under `perf record` for the share
                    of the server's CPU (user and kernel) in libssl and libcrypto
                    (optional: skipped when perf is missing or not allowed)
  client            grove as an HTTPS client (bench/tls/grove_client.cpp: 100 green
                    threads, each a verified keep-alive connection, GET / in a loop) vs
                    wrk -t1 -c100, both against nginx: the client's own CPU per request
                    (grove: its measured window; wrk: its whole run, by rusage, so its
                    100 handshakes are in and its figure is slightly high)
  idle              tls_load --mode idle: N connections, each after its handshake and one
                    64-byte echo, then untouched; the server's RSS growth / N (all, and
                    its parts in malloc's heap and in other anonymous mappings, which
                    are grove's stacks), for
                    bench/tls/idle_server.cpp plaintext, TLS (OpenSSL's buffers released
                    while idle, the default) and TLS with --keep-buffers. Needs N + 100 fds
                    in both processes (the soft limit is raised to the hard one).

Prints `name: value unit` lines.
"""
import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

OPENSSL_CONF = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_module
[ssl_module]
system_default = tls_defaults
[tls_defaults]
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def rss_kib(pid):
    """Resident KiB: all, malloc's heap ([heap]: brk; OpenSSL's objects) and other
    anonymous mappings (grove's stack pool: green threads' stacks)."""
    total = heap = anon = 0
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                name = m.group(1)
                continue
            m = re.match(r"^Rss:\s+(\d+) kB", line)
            if m:
                kib = int(m.group(1))
                total += kib
                heap += kib if name == "[heap]" else 0
                anon += kib if name == "" else 0
    return total, heap, anon


class Pki:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="grove-bench-tls-")
        self.cert, self.key = self.path("cert.pem"), self.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", self.key, "-out", self.cert], check=True, capture_output=True, timeout=30)
        self.conf = self.path("openssl.cnf")
        with open(self.conf, "w") as f:
            f.write(OPENSSL_CONF)
        self.env = dict(os.environ, OPENSSL_CONF=self.conf)

    def path(self, name):
        return os.path.join(self.dir, name)


class Server:
    def __init__(self, cmd, port, env, tmp=None):
        self.port, self.tmp = port, tmp
        self.proc = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env)
        wait_port(port, self.proc)
        self.pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def start(name, a, pki):
    port = free_port()
    exe = lambda *p: os.path.join(a.build, *p)
    if name in ("grove", "grove_alt"):
        http_server = a.grove_alt if name == "grove_alt" else exe("samples", "http_server")
        return Server([http_server, "--port", str(port), "--tls-cert", pki.cert, "--tls-key", pki.key], port,
                      pki.env)
    if name == "nginx":
        tmp = tempfile.mkdtemp(prefix="grove-nginx-tls-")
        conf = open(os.path.join(HERE, "nginx_tls.conf.in")).read()
        for k, v in (("@PORT@", str(port)), ("@DIR@", tmp), ("@CERT@", pki.cert), ("@KEY@", pki.key)):
            conf = conf.replace(k, v)
        path = os.path.join(tmp, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return Server(["nginx", "-c", path, "-p", tmp], port, pki.env, tmp)
    if name == "tls_echo":
        return Server([exe("samples", "tls_echo_server"), "--port", str(port), "--cert", pki.cert, "--key", pki.key],
                      port, pki.env)
    if name == "plain_echo":
        return Server([exe("samples", "echo_server"), "--port", str(port)], port, pki.env)
    idle = [exe("bench", "tls", "tls_idle_server"), "--port", str(port)]
    if name == "idle_plain":
        return Server(idle, port, pki.env)
    if name == "idle_tls":
        return Server(idle + ["--cert", pki.cert, "--key", pki.key], port, pki.env)
    if name == "idle_tls_keep":
        return Server(idle + ["--cert", pki.cert, "--key", pki.key, "--keep-buffers"], port, pki.env)
    raise ValueError(name)


def parse(out):
    return {k: float(v) for k, v in re.findall(r"^(\w+): ([\d.]+)$", out, re.M)}


def run_wrk(s, seconds, env):
    c0 = cpu_ns(s.pid)
    r = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c100", f"-d{max(1, round(seconds))}s", f"https://127.0.0.1:{s.port}/"],
                       capture_output=True, text=True, timeout=seconds + 30, env=env)
    c1 = cpu_ns(s.pid)
    out = r.stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not m or not total or "Socket errors" in out or "Non-2xx" in out:
        raise RuntimeError("wrk: errors or output not understood:\n" + out + r.stderr)
    return {"rps": float(m.group(1)), "cpu_ns_per_req": (c1 - c0) / max(int(total.group(1)), 1)}


def cpu_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def start_load(a, s, *args):
    """tls_load against server s on CPU 1, started and not waited for (finish_load)."""
    cmd = ["taskset", "-c", "1", os.path.join(a.build, "bench", "tls", "tls_load"), "--port", str(s.port),
           "--seconds", str(a.seconds), "--warmup", str(a.warmup), "--server-pid", str(s.pid), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), cmd, args


def finish_load(a, load):
    """What a start_load run measured, once it has checked what was negotiated."""
    p, cmd, args = load
    out, err = p.communicate(timeout=a.seconds + a.warmup + 60)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{out}{err}")
    if "--plain" not in args and "TLSv1.3 TLS_AES_128_GCM_SHA256 group x25519" not in err:
        raise RuntimeError("not TLS 1.3 / AES-128-GCM / X25519: " + err)
    return parse(out)


def run_load(a, s, *args):
    return finish_load(a, start_load(a, s, *args))


def check_resumed(name, r, resume):
    """Handshakes of an https load were resumed as asked: nearly all with --resume, none without."""
    if resume and r["resumed"] < 0.99 * r["handshakes"]:
        raise RuntimeError(f"{name}: only {r['resumed']:.0f} of {r['handshakes']:.0f} resumed")
    if not resume and r["resumed"] != 0:
        raise RuntimeError(f"{name}: {r['resumed']:.0f} resumed without --resume")


def run_client(a, s, name, pki):
    """grove's HTTPS client or wrk, 100 keep-alive connections to nginx: its own CPU per request."""
    if name == "grove":
        cmd = ["taskset", "-c", "1", os.path.join(a.build, "bench", "tls", "tls_grove_client"), "--port", str(s.port),
               "--ca", pki.cert, "--conns", "100", "--seconds", str(a.seconds), "--warmup", str(a.warmup)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.seconds + a.warmup + 60, env=pki.env)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        v = parse(r.stdout)
        return {"rps": v["requests_per_sec"], "cpu_ns_per_req": v["client_cpu_ns_per_req"]}
    # wrk: its CPU over the whole run (rusage), its 100 connections' handshakes included.
    secs = max(1, round(a.seconds))
    ru = lambda: (lambda r: (r.ru_utime + r.ru_stime) * 1e9)(resource.getrusage(resource.RUSAGE_CHILDREN))
    c0 = ru()  # no other child ends meanwhile: the server stops after
    p = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c100", f"-d{secs}s", f"https://127.0.0.1:{s.port}/"],
                       capture_output=True, text=True, env=pki.env, timeout=secs + 30)
    cpu = ru() - c0
    out, err = p.stdout, p.stderr
    total = re.search(r"(\d+) requests in", out)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or not total or "Socket errors" in out:
        raise RuntimeError("wrk: errors or output not understood:\n" + out + err)
    return {"rps": float(m.group(1)), "cpu_ns_per_req": cpu / int(total.group(1))}


def paired_windows(a, pki, names, n, *args):
    """Per window, names[0]'s / names[1]'s server CPU per op, both loaded at once (see
    handshake_paired above). Each window starts both servers afresh: where a process's
    heap, stacks and libraries land moves its figure by up to 1 % for as long as it
    runs, so windows of the same two processes agree with each other more than with
    the next pair's."""
    ratios = []
    for w in range(n):
        order = names if w % 2 == 0 else names[::-1]  # which server starts first
        launch = order if (w // 2) % 2 == 0 else order[::-1]  # which load starts first
        srv = {}
        try:
            for name in order:
                srv[name] = start(name, a, pki)
            loads = {name: start_load(a, srv[name], *args) for name in launch}
            got = {}
            for name, load in loads.items():
                r = finish_load(a, load)
                check_resumed(name, r, "--resume" in args)
                got[name] = r["server_cpu_ns_per_op"]
            ratios.append(got[names[0]] / got[names[1]])
        finally:
            for s in srv.values():
                s.stop()
    return ratios


def median_interval(xs, rounds=2000):
    """A bootstrap 95 % interval of the median of xs (a fixed seed: reruns agree)."""
    rng = random.Random(1)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(rounds))
    return meds[int(0.025 * rounds)], meds[int(0.975 * rounds) - 1]


def interleaved(names, reps, body):
    """body(name, rep) for each rep, each name once per rep, the order rotating."""
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            body(name, rep)


def perf_share(a, pki, conns):
    """The share of tls_echo_server's CPU samples (user and kernel) in libssl and libcrypto."""
    if not shutil.which("perf"):
        return None
    s = start("tls_echo", a, pki)
    data = pki.path("perf.data")
    try:
        load = subprocess.Popen(["taskset", "-c", "1", os.path.join(a.build, "bench", "tls", "tls_load"), "--port",
                                 str(s.port), "--conns", str(conns), "--seconds", str(a.seconds + 1), "--warmup",
                                 "0.5"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        r = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "2999", "-p", str(s.pid), "-o", data,
                            "--", "sleep", str(a.seconds)], capture_output=True, text=True, timeout=a.seconds + 30)
        load.wait(timeout=a.seconds + 30)
        if r.returncode != 0:
            print(f"perf record failed ({r.stderr.strip()[:200]}): no OpenSSL share", file=sys.stderr)
            return None
        rep = subprocess.run(["perf", "report", "-i", data, "--sort", "dso", "--stdio"], capture_output=True,
                             text=True, timeout=120).stdout
    finally:
        s.stop()
    shares = {m.group(2): float(m.group(1)) for m in re.finditer(r"^\s+([\d.]+)%\s+(\S+)", rep, re.M)}
    return {"openssl": sum(v for k, v in shares.items() if k.startswith(("libssl", "libcrypto"))),
            "kernel": sum(v for k, v in shares.items() if k.startswith("[kernel")),
            "libgrove": sum(v for k, v in shares.items() if k.startswith("libgrove"))}


def idle_bytes(a, name, pki, n):
    s = start(name, a, pki)
    try:
        time.sleep(0.3)
        r0 = rss_kib(s.pid)
        load = subprocess.Popen(["taskset", "-c", "1", os.path.join(a.build, "bench", "tls", "tls_load"), "--port",
                                 str(s.port), "--mode", "idle", "--conns", str(n), "--parallel", "200"] +
                                (["--plain"] if name == "idle_plain" else []),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = load.stdout.readline()
        if line.strip() != f"ready {n}":
            load.kill()
            raise RuntimeError(f"tls_load --mode idle: {line!r} {load.stderr.read()}")
        time.sleep(0.5)
        r1 = rss_kib(s.pid)
        load.stdin.close()
        load.wait(timeout=60)
    finally:
        s.stop()
    return {k: (r1[i] - r0[i]) * 1024 / n for i, k in enumerate(("total", "heap", "stacks"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--handshake-conns", type=int, default=50,
                    help="handshakes in flight at a time in the handshake part (default 50)")
    ap.add_argument("--parts", default="keepalive,handshake,handshake_paired,echo,idle,client")
    ap.add_argument("--pairs", type=int, default=30, help="windows per kind in handshake_paired")
    ap.add_argument("--json")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--grove-alt", help="another http_server binary (a copy from another tree) measured as "
                    "grove_alt next to grove and nginx in the keepalive and handshake parts: an A/B comparison")
    a = ap.parse_args()
    a.warmup = 1
    if a.smoke:  # every part once, briefly; no perf
        a.seconds, a.warmup, a.reps, a.idle_conns, a.pairs = 0.5, 0.3, 1, 300, 2
    parts = set(a.parts.split(","))
    os.environ["PATH"] += ":/usr/sbin"
    for tool in ("taskset", "wrk", "nginx", "openssl"):
        if not shutil.which(tool):
            print(f"missing {tool}: run scripts/setup.sh --test", file=sys.stderr)
            return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.idle_conns + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        if hard < want:
            a.idle_conns = hard - 100
            print(f"fd limit {hard}: idle connections cut to {a.idle_conns}", file=sys.stderr)

    pki = Pki()
    summary, runs = {}, {}
    med = lambda xs: statistics.median(xs)
    try:
        if "keepalive" in parts:
            res = {}

            def keepalive(name, rep):
                s = start(name, a, pki)
                try:
                    if not a.smoke:
                        run_wrk(s, 1, pki.env)  # warm-up
                    res.setdefault(name, []).append(run_wrk(s, a.seconds, pki.env))
                finally:
                    s.stop()
            hs = ["grove", "nginx"] + (["grove_alt"] if a.grove_alt else [])
            interleaved(hs, a.reps, keepalive)
            runs["https_keepalive"] = res
            for name in hs:
                summary[f"https_keepalive_{name}_rps"] = (med(r["rps"] for r in res[name]), "req/s")
                summary[f"https_keepalive_{name}_cpu_ns_per_req"] = (med(r["cpu_ns_per_req"] for r in res[name]), "ns")
            summary["https_keepalive_rps_vs_nginx"] = (
                summary["https_keepalive_grove_rps"][0] / summary["https_keepalive_nginx_rps"][0], "x")
            summary["https_keepalive_cpu_vs_nginx"] = (
                summary["https_keepalive_grove_cpu_ns_per_req"][0] / summary["https_keepalive_nginx_cpu_ns_per_req"][0],
                "x")

        if "handshake" in parts:
            res = {}

            def handshake(name, rep):
                s = start(name, a, pki)
                try:
                    for kind, extra in (("full", []), ("resumed", ["--resume"])):
                        r = run_load(a, s, "--mode", "https", "--conns", str(a.handshake_conns), *extra)
                        check_resumed(name, r, kind == "resumed")
                        res.setdefault(f"{name}_{kind}", []).append(r)
                finally:
                    s.stop()
            hs = ["grove", "nginx"] + (["grove_alt"] if a.grove_alt else [])
            interleaved(hs, a.reps, handshake)
            runs["https_handshake"] = res
            for kind in ("full", "resumed"):
                for name in hs:
                    rs = res[f"{name}_{kind}"]
                    summary[f"https_handshake_{kind}_{name}_per_sec"] = (med(r["handshakes_per_sec"] for r in rs), "/s")
                    summary[f"https_handshake_{kind}_{name}_cpu_ns"] = (med(r["server_cpu_ns_per_op"] for r in rs), "ns")
                for name in hs:
                    if name != "nginx":
                        tag = "" if name == "grove" else name[len("grove"):]
                        summary[f"https_handshake_{kind}{tag}_cpu_vs_nginx"] = (
                            summary[f"https_handshake_{kind}_{name}_cpu_ns"][0] /
                            summary[f"https_handshake_{kind}_nginx_cpu_ns"][0], "x")

        if "handshake_paired" in parts:
            res = {}
            half = str(max(1, a.handshake_conns // 2))
            for kind, extra in (("full", []), ("resumed", ["--resume"])):
                pairs = [("grove", "nginx")] + ([("grove_alt", "grove")] if a.grove_alt else [])
                for names in pairs:
                    r = paired_windows(a, pki, list(names), a.pairs, "--mode", "https", "--conns", half, *extra)
                    res[f"{names[0]}_vs_{names[1]}_{kind}"] = r
                    lo, hi = median_interval(r)
                    tag = f"handshake_paired_{kind}_{names[0]}_vs_{names[1]}"
                    summary[tag] = (med(r), "x")
                    summary[tag + "_low95"] = (lo, "x")
                    summary[tag + "_high95"] = (hi, "x")
                    summary[tag + "_windows_below_1"] = (sum(x < 1 for x in r), "windows")
            runs["handshake_paired"] = res

        if "echo" in parts:
            res = {}
            for conns in (100, 1000) if not a.smoke else (100,):
                def echo(name, rep):
                    s = start(name, a, pki)
                    try:
                        res.setdefault(f"{name}_{conns}", []).append(
                            run_load(a, s, "--mode", "echo", "--conns", str(conns), "--size", "64",
                                     *(["--plain"] if name in ("plain_echo", "idle_plain") else [])))
                    finally:
                        s.stop()
                names = ["tls_echo", "plain_echo"] + ([] if a.smoke else ["idle_tls", "idle_tls_keep"])
                interleaved(names, a.reps, echo)
                for name in names:
                    rs = res[f"{name}_{conns}"]
                    summary[f"echo_{name}_{conns}_msgs_per_sec"] = (med(r["msgs_per_sec"] for r in rs), "msg/s")
                    summary[f"echo_{name}_{conns}_cpu_ns_per_msg"] = (med(r["server_cpu_ns_per_op"] for r in rs), "ns")
                summary[f"echo_{conns}_tls_cpu_vs_plain"] = (
                    summary[f"echo_tls_echo_{conns}_cpu_ns_per_msg"][0] /
                    summary[f"echo_plain_echo_{conns}_cpu_ns_per_msg"][0], "x")
                if not a.smoke:
                    summary[f"echo_{conns}_release_vs_keep_buffers"] = (
                        summary[f"echo_idle_tls_{conns}_cpu_ns_per_msg"][0] /
                        summary[f"echo_idle_tls_keep_{conns}_cpu_ns_per_msg"][0], "x")
                share = None if a.smoke else perf_share(a, pki, conns)
                if share:
                    summary[f"echo_tls_{conns}_openssl_share"] = (share["openssl"], "%")
                    summary[f"echo_tls_{conns}_kernel_share"] = (share["kernel"], "%")
                    summary[f"echo_tls_{conns}_libgrove_share"] = (share["libgrove"], "%")
            runs["echo"] = res

        if "client" in parts:
            res = {}

            def client(name, rep):
                s = start("nginx", a, pki)
                try:
                    res.setdefault(name, []).append(run_client(a, s, name, pki))
                finally:
                    s.stop()
            interleaved(["grove", "wrk"], a.reps, client)
            runs["client"] = res
            for name in ("grove", "wrk"):
                summary[f"client_{name}_rps"] = (med(r["rps"] for r in res[name]), "req/s")
                summary[f"client_{name}_cpu_ns_per_req"] = (med(r["cpu_ns_per_req"] for r in res[name]), "ns")
            summary["client_cpu_grove_vs_wrk"] = (
                summary["client_grove_cpu_ns_per_req"][0] / summary["client_wrk_cpu_ns_per_req"][0], "x")

        if "idle" in parts:
            res = {}
            interleaved(["idle_plain", "idle_tls", "idle_tls_keep"], a.reps,
                        lambda name, rep: res.setdefault(name, []).append(idle_bytes(a, name, pki, a.idle_conns)))
            runs["idle"] = res
            summary["idle_connections"] = (a.idle_conns, "connections")
            for name in ("idle_plain", "idle_tls", "idle_tls_keep"):
                summary[f"{name}_bytes_per_conn"] = (med(r["total"] for r in res[name]), "B")
                summary[f"{name}_heap_bytes_per_conn"] = (med(r["heap"] for r in res[name]), "B")
                summary[f"{name}_stack_bytes_per_conn"] = (med(r["stacks"] for r in res[name]), "B")
    finally:
        shutil.rmtree(pki.dir, ignore_errors=True)

    for k, (v, unit) in summary.items():
        print(f"{k}: {v:.3f} {unit}" if unit == "x" else f"{k}: {v:.1f} {unit}" if unit == "%" else f"{k}: {v:.0f} {unit}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": {k: v for k, (v, _) in summary.items()}, "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
