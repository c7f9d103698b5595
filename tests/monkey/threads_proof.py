#!/usr/bin/env python3
"""The threads area's proof on a program no one rewrote: bench/threads_vs_green's
tvg_threads (one std::thread per connection, built without grove) serves CONNS
connections natively and then under LD_PRELOAD=libgrove_monkey.so GROVE_MONKEY=all;
tvg_check (plain epoll) checks every echoed byte. Both runs must print the same, and
with every connection open the patched server must be one OS thread (its hub; no
grove helper thread is started by this program), the native one 1 + CONNS.

usage: threads_proof.py SERVER CHECKER MONKEY_LIB [CONNS] [ROUNDS]
"""
import os
import re
import subprocess
import sys


def run(server, checker, env, conns, rounds):
    p = subprocess.Popen([server, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **env})
    try:
        banner = p.stdout.readline()
        m = re.search(r"listening on \S+:(\d+)", banner)
        if not m:
            raise SystemExit(f"no 'listening on' line from the server: {banner!r} {p.stderr.read()}")
        c = subprocess.run([checker, "--port", m.group(1), "--conns", str(conns), "--rounds", str(rounds),
                            "--server-pid", str(p.pid), "--timeout", "60"], capture_output=True, text=True,
                           timeout=90)
        if c.returncode != 0:
            raise SystemExit(f"tvg_check failed ({c.returncode}): {c.stdout} {c.stderr}")
        threads = int(re.search(r"server_threads: (-?\d+)", c.stderr).group(1))
        return re.sub(r":\d+ \(", ":PORT (", banner), c.stdout, threads
    finally:
        p.kill()
        _, err = p.communicate()
        if err.strip():
            print(f"server stderr ({env or 'native'}): {err.strip()[:2000]}")


def main():
    server, checker, lib = sys.argv[1:4]
    conns = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    nb, nout, nthreads = run(server, checker, {}, conns, rounds)
    gb, gout, gthreads = run(server, checker, {"LD_PRELOAD": lib, "GROVE_MONKEY": "all"}, conns, rounds)
    print(f"native: {nthreads} OS threads; patched: {gthreads}\n{gout}")
    ok = True
    if (nb, nout) != (gb, gout):
        print(f"output differs:\n native: {nb!r} {nout!r}\n patched: {gb!r} {gout!r}")
        ok = False
    if f"bytes_checked: {conns * rounds * 64}" not in gout or "mismatches: 0" not in gout:
        print("not every byte was checked, or some differed")
        ok = False
    if nthreads != conns + 1:
        print(f"the native server should run {conns + 1} OS threads with every connection open, not {nthreads}")
        ok = False
    if gthreads != 1:
        print(f"the patched server should be one OS thread with every connection open, not {gthreads}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
