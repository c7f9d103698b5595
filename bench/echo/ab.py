#!/usr/bin/env python3
"""Interleaved wall-clock A/B of two echo servers (e.g. an earlier build's and this one's).

    bench/echo/ab.py A_SERVER B_SERVER CONNS ROUNDS SECONDS ECHO_LOAD

Each round starts A and B in turn (the order alternates), each taking --port, pinned to
CPU 0, drives it with ECHO_LOAD (bench/echo/echo_load) on CPU 1 for SECONDS after a
0.5 s warm-up, and reads the server's CPU time per message over the measured window
(echo_load --server-pid). Prints each side's medians and the median of the per-round
ratios B / A: on a shared machine, the ratio of runs made side by side is the figure
to quote (bench/README.md, "The hot path, counted").
"""
import subprocess, sys, time, socket, statistics, random
if len(sys.argv) != 7:
    sys.exit(__doc__)
a, b, conns, rounds, secs, load = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def run(server):
    port = free_port()
    p = subprocess.Popen(["taskset", "-c", "0", server, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try: socket.create_connection(("127.0.0.1", port), 0.2).close(); break
        except OSError: time.sleep(0.05)
    r = subprocess.run(["taskset", "-c", "1", load, "--port", str(port), "--conns", str(conns), "--seconds", str(secs),
                        "--warmup", "0.5", "--server-pid", str(p.pid)], capture_output=True, text=True)
    p.terminate(); p.wait()
    d = dict(l.split(": ") for l in r.stdout.strip().splitlines() if ": " in l)
    return float(d["server_cpu_ns_per_msg"]), float(d["msgs_per_sec"]), float(d["p99_us"])
res = {"A": [], "B": []}
for i in range(rounds):
    order = [("A", a), ("B", b)] if i % 2 == 0 else [("B", b), ("A", a)]
    for name, srv in order:
        res[name].append(run(srv))
for name in "AB":
    cpu = [x[0] for x in res[name]]; mps = [x[1] for x in res[name]]; p99 = [x[2] for x in res[name]]
    print(f"{name}: cpu_ns_per_msg median {statistics.median(cpu):.0f} (min {min(cpu):.0f}) msgs/s median {statistics.median(mps):.0f} p99 median {statistics.median(p99):.1f} us  all {[round(c) for c in cpu]}")
ratio = [x[0] / y[0] for x, y in zip(res["B"], res["A"])]
print(f"B/A cpu per msg, per-pair ratios: median {statistics.median(ratio):.3f}  {[round(r,3) for r in ratio]}")
