#!/usr/bin/env python3
"""Runs every benchmark of the project and draws the figures as PNG charts.

    python3 bench/report.py --build build            # full run, about 15 minutes
    python3 bench/report.py --build build --smoke    # seconds; checks it all works

Runs core_bench and sync_bench (pinned to CPU 1), bench/echo/run.py (grove's echo
server, the monkey-patched blocking echo server, raw epoll, Boost.Asio),
bench/servers/run.py (http_server vs nginx, kv_server vs redis-server), then writes
bench/results/latest.json (every figure) and bench/results/*.png (gnuplot): grove
beside each peer as a ratio (1.0 = the peer; lower is better for CPU and time).
With --smoke the output goes to a temporary directory instead.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def lines_to_dict(text):
    return {k: float(v) for k, v in re.findall(r"^(\w+): ([\d.]+)", text, re.M)}


def run(cmd, timeout):
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def echo_table(text):
    """Rows of bench/echo/run.py's markdown table -> {server: {conns: {field: value}}}."""
    out = {}
    for m in re.finditer(r"^\| (\w+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", text, re.M):
        name, conns = m.group(1), int(m.group(2))
        out.setdefault(name, {})[conns] = {"msgs_per_sec": float(m.group(3)), "p50_us": float(m.group(4)),
                                            "p99_us": float(m.group(5)), "cpu_ns_per_msg": float(m.group(6))}
    return out


def machine():
    try:
        model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except Exception:
        model = platform.processor()
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "loadavg": open("/proc/loadavg").read().split()[:3], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def bar_chart(path, title, ylabel, bars):
    """bars: [(label, value)] drawn as boxes with a line at 1.0."""
    data = path + ".dat"
    with open(data, "w") as f:
        for i, (label, v) in enumerate(bars):
            f.write(f'{i} "{label}" {v:.4f}\n')
    script = f"""
set terminal pngcairo size 900,420 noenhanced font ",10"
set output "{path}"
set title "{title}"
set ylabel "{ylabel}"
set style fill solid 0.6
set boxwidth 0.6
set yrange [0:*]
set xtics rotate by -30
set grid ytics
unset key
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb "black"
plot "{data}" using 1:3:xtic(2) with boxes lc rgb "#3a7d44", "" using 1:3:(sprintf("%.2f", $3)) with labels offset 0,0.7
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.remove(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    out_dir = a.out or (tempfile.mkdtemp(prefix="grove-report-") if a.smoke else os.path.join(HERE, "results"))
    os.makedirs(out_dir, exist_ok=True)
    smoke = ["--smoke"] if a.smoke else []
    b = a.build
    res = {"machine": machine(), "smoke": a.smoke}

    res["core"] = lines_to_dict(run(["taskset", "-c", "1", os.path.join(b, "bench/core/core_bench"), *smoke], 600))
    res["sync"] = lines_to_dict(run(["taskset", "-c", "1", os.path.join(b, "bench/sync/sync_bench"), *smoke], 600))
    echo_args = ["--no-strace"] + (smoke if a.smoke else ["--conns", "1,100,1000"])
    res["echo"] = echo_table(run([sys.executable, os.path.join(HERE, "echo/run.py"), "--build", b, *echo_args], 3600))
    srv_json = os.path.join(out_dir, "servers.json")
    run([sys.executable, os.path.join(HERE, "servers/run.py"), "--build", b, "--json", srv_json, *smoke], 3600)
    res["servers"] = json.load(open(srv_json))["summary"]
    os.remove(srv_json)

    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)

    c, s = res["core"], res["sync"]
    bar_chart(os.path.join(out_dir, "micro.png"), "grove micro-benchmarks: time relative to a raw Boost.Context switch / fiber (same run)",
              "x raw", [("yield / raw switch", c["yield_ns"] / c["raw_switch_ns"]),
                        ("spawn+join / raw fiber", c["spawn_join_ns"] / c["raw_fiber_spawn_join_ns"]),
                        ("channel hand-off / raw switch", s["channel_handoff_ns"] / s["raw_switch_ns"])])
    e = res["echo"]
    bars = []
    for name in ("grove", "monkey", "asio"):
        for conns in sorted(e.get(name, {})):
            if conns in e.get("raw_epoll", {}):
                bars.append((f"{name} {conns} conns", e[name][conns]["cpu_ns_per_msg"] / e["raw_epoll"][conns]["cpu_ns_per_msg"]))
    bar_chart(os.path.join(out_dir, "echo.png"), "echo: server CPU per message relative to raw epoll (1.0)", "x raw epoll", bars)
    v = res["servers"]
    bar_chart(os.path.join(out_dir, "servers.png"), "http_server vs nginx, kv_server vs redis-server (1.0 = the peer)", "x peer",
              [("HTTP req/s (higher is better)", v["http_rps_vs_nginx"]), ("HTTP CPU/req", v["http_cpu_vs_nginx"])] +
              [(f"RESP {t} CPU/req", v[f"resp_{t}_cpu_vs_redis"]) for t in ("ping_inline", "ping_mbulk", "set", "get")])
    print(f"wrote {out_dir}/latest.json and {out_dir}/{{micro,echo,servers}}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
