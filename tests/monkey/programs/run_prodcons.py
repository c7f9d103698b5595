#!/usr/bin/env python3
"""Runs prodcons (std::condition_variable, std::future, std::async, a std::thread pool,
std::latch; built without grove) natively and under LD_PRELOAD=libgrove_monkey.so with
threads patched. Both must print the same stdout; under grove every thread the program
starts must be a green thread of its one OS thread ("threads 1 1" on stderr).

usage: run_prodcons.py PROGRAM MONKEY_LIB   (MONKEY_LIB: a preload list is fine)
"""
import os
import subprocess
import sys


def run(prog, env):
    p = subprocess.run([prog], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "exit status %d: %s" % (p.returncode, p.stderr)
    threads = [int(x) for x in p.stderr.split("threads")[-1].split()[:2]]
    return p.stdout, threads


def main():
    prog, monkey = sys.argv[1], sys.argv[2]
    native_env = dict(os.environ)
    native_env.pop("LD_PRELOAD", None)
    native_env.pop("GROVE_MONKEY", None)
    out_n, thr_n = run(prog, native_env)
    out_g, thr_g = run(prog, dict(native_env, LD_PRELOAD=monkey, GROVE_MONKEY="all"))
    sys.stdout.write(out_g)
    print("OS threads: native %s, grove %s" % (thr_n, thr_g))
    ok = True
    if out_n != out_g:
        print("FAIL: outputs differ:\n" + out_n)
        ok = False
    if "expected" in out_g and out_g.split("sum ")[1].split()[0] != out_g.split("expected ")[1].rstrip(")\n").split(")")[0]:
        print("FAIL: the queue's sum is wrong")
        ok = False
    if thr_n[0] < 17:
        print("FAIL: natively the program should have run 17 OS threads, had %d" % thr_n[0])
        ok = False
    if thr_g != [1, 1]:
        print("FAIL: under grove the program should have run on one OS thread")
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
