#!/usr/bin/env python3
"""Runs deadlock (two std::threads deadlocked on two std::mutex; built without grove)
under LD_PRELOAD=libgrove_monkey.so GROVE_MONKEY=all: it must end within seconds (not
hang, as it does natively) with grove's LoopExit naming both threads, each waiting in
pthread_mutex_lock for a mutex a green thread of the same OS thread holds.

usage: run_deadlock.py PROGRAM MONKEY_LIB
"""
import os
import subprocess
import sys


def main():
    prog, monkey = sys.argv[1], sys.argv[2]
    env = dict(os.environ, LD_PRELOAD=monkey, GROVE_MONKEY="all")
    try:
        p = subprocess.run([prog], env=env, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        print("FAIL: the deadlocked program hung")
        sys.exit(1)
    print(p.stderr.strip())
    want = ["LoopExit", "'lock-a-then-b'", "'lock-b-then-a'",
            "waits on pthread_mutex_lock (held by a green thread of this OS thread)"]
    missing = [w for w in want if w not in p.stderr]
    if p.returncode == 0 or missing:
        print("FAIL: exit status %d, missing from the message: %s" % (p.returncode, missing))
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
