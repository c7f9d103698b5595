#!/usr/bin/env python3
"""Runs exit_parked (built without grove) natively and under LD_PRELOAD=
libgrove_monkey.so GROVE_MONKEY=all, in each mode: the process ends while its
threads are blocked (mutex, condition variable, recv, sleep; one never started).
Natively and patched alike, stderr must be empty and the exit status the program's
own; patched, the blocked threads must have been green (one OS thread).

usage: run_exit_parked.py PROGRAM MONKEY_LIB
"""
import os
import subprocess
import sys

MODES = {"return": 3, "exit": 4, "unstarted": 5}


def run(prog, mode, env):
    try:
        p = subprocess.run([prog, mode], env=env, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return None
    return p


def main():
    prog, monkey = sys.argv[1], sys.argv[2]
    native_env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GROVE_MONKEY")}
    green_env = dict(native_env, LD_PRELOAD=monkey, GROVE_MONKEY="all")
    failed = False
    for mode, status in MODES.items():
        # GROVE_MONKEY=1 and "all" are patch_all(), threads included; "nothreads"
        # leaves pthreads OS threads.
        for name, env, threads in (("native", native_env, 5), ("patched", green_env, 1),
                                   ("GROVE_MONKEY=1", dict(green_env, GROVE_MONKEY="1"), 1),
                                   ("GROVE_MONKEY=nothreads", dict(green_env, GROVE_MONKEY="nothreads"), 5)):
            p = run(prog, mode, env)
            if p is None:
                print("FAIL %s %s: hung" % (name, mode))
                failed = True
                continue
            out = p.stdout.strip()
            ok = p.returncode == status and p.stderr == "" and out == "threads %d" % threads
            print("%s %s %s: status %d (want %d), stdout %r (want 'threads %d'), stderr %r" %
                  ("ok  " if ok else "FAIL", name, mode, p.returncode, status, out, threads, p.stderr))
            failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
