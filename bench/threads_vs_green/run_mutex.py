#!/usr/bin/env python3
"""Runs mutex_bench (std::mutex / std::condition_variable, no grove) three ways and
prints its figures side by side: native; under LD_PRELOAD=libgrove_monkey.so with the
threads area off (every hook one load and a branch before glibc's function); and with
GROVE_MONKEY=threads (the program's threads are green threads of one OS thread).

usage: run_mutex.py --build BUILD_DIR [--smoke]
"""
import argparse
import os
import subprocess
import sys


def run(exe, env, smoke):
    out = subprocess.run([exe] + (["--smoke"] if smoke else []), env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    figs = {}
    for line in out.splitlines():
        name, rest = line.split(":", 1)
        figs[name.strip()] = float(rest.split()[0])
    return figs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bench", "threads_vs_green", "mutex_bench")
    lib = os.path.join(a.build, "monkey", "libgrove_monkey.so")
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GROVE_MONKEY")}
    runs = {
        "native": run(exe, base, a.smoke),
        "hooked, off": run(exe, dict(base, LD_PRELOAD=lib), a.smoke),
        "patched": run(exe, dict(base, LD_PRELOAD=lib, GROVE_MONKEY="threads"), a.smoke),
    }
    names = list(runs["native"])
    print("%-22s %12s %12s %12s %9s" % ("", "native", "hooked, off", "patched", "patched/native"))
    for n in names:
        r = [runs[k][n] for k in ("native", "hooked, off", "patched")]
        print("%-22s %12.2f %12.2f %12.2f %9.2fx" % (n, r[0], r[1], r[2], r[2] / r[0]))
    ok = all(set(r) == set(names) and all(v > 0 for v in r.values()) for r in runs.values())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
