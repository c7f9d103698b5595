#!/usr/bin/env python3
"""Runs chat_server (a std::thread + std::mutex + std::condition_variable program built
without grove) natively and under LD_PRELOAD=libgrove_monkey.so with threads patched,
drives CLIENTS connections through it, and checks every byte each one receives.

usage: run_chat.py SERVER MONKEY_LIB [CLIENTS] [LINES]
(MONKEY_LIB may be a space-separated preload list, sanitizer runtime first.)

Each client waits for its "welcome", then (once every client is in the room) sends
LINES lines; every client must then receive every client's lines, each sender's in
order and byte for byte. Under grove the server must do it on one OS thread (its
/proc/<pid>/status Threads while all connections are open), natively on 2*CLIENTS+1.
Exit status 0 if both runs pass and print the same thing.
"""
import os
import selectors
import socket
import subprocess
import sys
import time


def line(sender, seq):
    return ("c%03d m%03d " % (sender, seq) + ("%d-%d;" % (sender, seq)) * 6 + "\n").encode()


def os_threads(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("Threads:"):
                return int(l.split()[1])
    return -1


def run(server, env, clients, lines):
    p = subprocess.Popen([server, str(clients)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        first = p.stdout.readline().split()
        assert first and first[0] == "PORT", "server said %r" % first
        port = int(first[1])
        socks = []
        for _ in range(clients):
            s = socket.create_connection(("127.0.0.1", port), timeout=20)
            socks.append(s)
        bufs = [b""] * clients
        deadline = time.time() + 30
        for i, s in enumerate(socks):  # each one in the room
            while b"\n" not in bufs[i]:
                assert time.time() < deadline, "no welcome"
                bufs[i] += s.recv(65536)
            assert bufs[i].startswith(b"welcome\n"), bufs[i][:40]
            bufs[i] = bufs[i][len(b"welcome\n"):]
        threads = os_threads(p.pid)
        for i, s in enumerate(socks):
            s.sendall(b"".join(line(i, j) for j in range(lines)))
        want = sum(len(line(i, j)) for i in range(clients) for j in range(lines))
        sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        remaining = set(range(clients))
        while remaining:
            assert time.time() < deadline, "timed out: %d clients still short" % len(remaining)
            for key, _ in sel.select(timeout=1):
                i = key.data
                try:
                    data = key.fileobj.recv(1 << 20)
                except BlockingIOError:
                    continue
                assert data, "server closed client %d early" % i
                bufs[i] += data
                if len(bufs[i]) >= want:
                    remaining.discard(i)
        for i in range(clients):  # every byte: each sender's lines, in its order
            assert len(bufs[i]) == want, "client %d got %d bytes, want %d" % (i, len(bufs[i]), want)
            got = bufs[i].split(b"\n")[:-1]
            nxt = [0] * clients
            for g in got:
                sender = int(g[1:4])
                assert g + b"\n" == line(sender, nxt[sender]), "client %d: bad line %r" % (i, g[:40])
                nxt[sender] += 1
            assert nxt == [lines] * clients
        for s in socks:
            s.close()
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0, "server exit status %d" % p.returncode
        return out, threads, want * clients
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    server, monkey = sys.argv[1], sys.argv[2]
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    lines = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    native_env = dict(os.environ)
    native_env.pop("LD_PRELOAD", None)
    native_env.pop("GROVE_MONKEY", None)
    green_env = dict(native_env, LD_PRELOAD=monkey, GROVE_MONKEY="all")
    t0 = time.time()
    out_n, threads_n, nbytes = run(server, native_env, clients, lines)
    t1 = time.time()
    out_g, threads_g, _ = run(server, green_env, clients, lines)
    t2 = time.time()
    print("native: %s (%d OS threads, %.2f s)" % (out_n.strip(), threads_n, t1 - t0))
    print("grove:  %s (%d OS threads, %.2f s)" % (out_g.strip(), threads_g, t2 - t1))
    print("%d clients, %d bytes checked per run" % (clients, nbytes))
    ok = True
    if out_n != out_g:
        print("FAIL: outputs differ")
        ok = False
    if threads_n != 2 * clients + 1:
        print("FAIL: native run had %d OS threads, expected %d" % (threads_n, 2 * clients + 1))
        ok = False
    if threads_g != 1:
        print("FAIL: under grove the server had %d OS threads, expected 1" % threads_g)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
