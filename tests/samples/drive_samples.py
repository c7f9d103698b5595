#!/usr/bin/env python3
"""Drives grove's samples with clients no one here wrote: python3's socket module,
nc (netcat-openbsd) and socat.

    drive_samples.py SCENARIO BUILD_SAMPLES_DIR

Each scenario starts the sample(s) on port 0, reads the "listening on H:P" line,
talks to them, stops them with SIGINT/SIGTERM and checks they exit cleanly.
"""
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time

SAMPLES = sys.argv[2] if len(sys.argv) > 2 else "."


class Sample:
    def __init__(self, name, *args):
        self.proc = subprocess.Popen([os.path.join(SAMPLES, name), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"{name}: no 'listening on' line, got {line!r}: {self.proc.stderr.read()}")
        self.port = int(m.group(2))

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}: {out} {err}"
        return out


def recv_all(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def echo_python():
    srv = Sample("echo_server", "--port", "0")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"hello grove\n")
    assert recv_all(s, 12) == b"hello grove\n"
    big = os.urandom(3 << 20)
    s.sendall(big[:1000])
    assert recv_all(s, 1000) == big[:1000]
    # A payload larger than the socket buffers, sent while reading (select loop).
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sent, got = 0, bytearray()
    deadline = time.time() + 20
    while len(got) < len(big) and time.time() < deadline:
        for key, ev in sel.select(1):
            if ev & selectors.EVENT_WRITE and sent < len(big):
                try:
                    sent += s.send(big[sent:sent + 65536])
                except BlockingIOError:
                    pass
                if sent == len(big):
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    got += s.recv(65536)
                except BlockingIOError:
                    pass
    assert bytes(got) == big, f"echoed {len(got)} of {len(big)} bytes"
    s.close()
    out = srv.stop(signal.SIGINT)
    assert "stopped" in out, out


def echo_many(port, n, tag="client"):
    """n clients at once, each sends one distinct line and checks every byte of its echo."""
    sel = selectors.DefaultSelector()
    conns = {}
    for i in range(n):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        msg = (f"{tag} {i:04d} " + "x" * 80 + "\n").encode()
        conns[c] = [msg, 0, b""]  # message, bytes sent, bytes received
        sel.register(c, selectors.EVENT_WRITE)
    done = 0
    deadline = time.time() + 60
    while done < n and time.time() < deadline:
        for key, ev in sel.select(1):
            c = key.fileobj
            st = conns[c]
            if ev & selectors.EVENT_WRITE:
                try:
                    st[1] += c.send(st[0][st[1]:])
                except (BlockingIOError, InterruptedError):
                    continue
                if st[1] == len(st[0]):
                    sel.modify(c, selectors.EVENT_READ)
            elif ev & selectors.EVENT_READ:
                data = c.recv(4096)
                assert data, "server closed a connection early"
                st[2] += data
                if len(st[2]) >= len(st[0]):
                    assert st[2] == st[0], "bytes came back altered"
                    sel.unregister(c)
                    done += 1
    assert done == n, f"only {done} of {n} clients got their bytes back"
    for c in conns:
        c.close()


def echo_1000_clients():
    srv = Sample("echo_server", "--port", "0")
    echo_many(srv.port, 1000)
    srv.stop(signal.SIGTERM)


def os_threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def children(pid):
    """The pids of pid's child processes (those alive or not yet reaped)."""
    kids = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return sorted(kids)


def wait_until(what, cond, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def gone(pid):
    """True once pid has exited and been reaped (the supervisor reaps every worker)."""
    return not os.path.exists(f"/proc/{pid}")


def echo_hubs():
    """--hubs 3: three hubs (OS threads) serve; 1,000 clients get every byte back; a clean stop."""
    srv = Sample("echo_server", "--port", "0", "--hubs", "3")
    assert os_threads(srv.proc.pid) >= 3, f"{os_threads(srv.proc.pid)} OS threads"
    echo_many(srv.port, 1000)
    out = srv.stop(signal.SIGTERM)
    assert "stopped" in out, out


def echo_workers():
    """--workers 3: three worker processes; one killed with SIGKILL is replaced while the
    others serve; SIGHUP replaces every worker; SIGTERM stops them all, leaving none."""
    srv = Sample("echo_server", "--port", "0", "--workers", "3")
    pid = srv.proc.pid
    first = wait_until("3 workers", lambda: (lambda k: k if len(k) == 3 else None)(children(pid)))
    echo_many(srv.port, 300)
    os.kill(first[0], signal.SIGKILL)
    echo_many(srv.port, 300, "during-restart")  # the other two (and the backlog) serve meanwhile
    second = wait_until("the killed worker replaced",
                        lambda: (lambda k: k if len(k) == 3 and first[0] not in k else None)(children(pid)))
    assert set(second) & set(first) == set(first[1:]), (first, second)
    echo_many(srv.port, 300, "after-restart")
    os.kill(pid, signal.SIGHUP)
    third = wait_until("every worker replaced by SIGHUP",
                       lambda: (lambda k: k if len(k) == 3 and not set(k) & set(second) else None)(children(pid)),
                       30)
    echo_many(srv.port, 300, "after-sighup")
    out = srv.stop(signal.SIGTERM)
    assert "stopped" in out, out
    for w in first + second + third:
        assert gone(w), f"worker {w} still exists after the supervisor exited"


def echo_nc():
    assert shutil.which("nc"), "nc missing (Debian package netcat-openbsd)"
    srv = Sample("echo_server", "--port", "0")
    r = subprocess.run(["nc", "-N", "127.0.0.1", str(srv.port)], input=b"through netcat\n", capture_output=True,
                       timeout=10)
    assert r.stdout == b"through netcat\n", r
    srv.stop()


def echo_socat():
    assert shutil.which("socat"), "socat missing (Debian package socat)"
    srv = Sample("echo_server", "--port", "0")
    r = subprocess.run(["socat", "-t", "2", "-", f"TCP:127.0.0.1:{srv.port}"], input=b"through socat\n" * 100,
                       capture_output=True, timeout=10)
    assert r.stdout == b"through socat\n" * 100, r
    srv.stop()


def echo_client():
    srv = Sample("echo_server", "--port", "0")
    r = subprocess.run([os.path.join(SAMPLES, "echo_client"), "--port", str(srv.port), "--conns", "50", "--seconds",
                        "1"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "msgs/s" in r.stdout and ", 0 errors" in r.stdout, r
    srv.stop()


def udp_echo():
    srv = Sample("udp_echo", "--port", "0")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    for i in range(20):
        m = f"datagram {i}".encode()
        u.sendto(m, ("127.0.0.1", srv.port))
        data, addr = u.recvfrom(1024)
        assert data == m and addr[1] == srv.port
    if shutil.which("socat"):
        r = subprocess.run(["socat", "-t", "1", "-", f"UDP:127.0.0.1:{srv.port}"], input=b"via socat\n",
                           capture_output=True, timeout=10)
        assert r.stdout == b"via socat\n", r
    srv.stop()


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        data += c
    return data


def drain(s):
    s.setblocking(False)
    try:
        while s.recv(1 << 20):
            pass
    except BlockingIOError:
        pass
    s.settimeout(10)


def wait_joined(watcher, joiner):
    """Reads watcher's lines until the server announces joiner: it is then registered."""
    name = "%s:%d" % joiner.getsockname()[:2]
    want = ("* " + name + " joined\n").encode()
    for _ in range(100):
        line = read_line(watcher)
        assert line, "connection closed while waiting for a join notice"
        if line == want:
            return
    raise AssertionError("no join notice for " + name)


def chat():
    srv = Sample("chat_server", "--port", "0", "--queue", "16")
    a, b = (socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(2))
    wait_joined(a, b)  # both are registered (a before b announced b)
    a.sendall(b"hello room\n")
    assert read_line(b).endswith(b": hello room\n")
    # A reader that never reads: flood until the server drops it; its queue is bounded.
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", srv.port))
    wait_joined(a, slow)
    # More than the kernel can buffer for it (the server's send buffer grows up to
    # tcp_wmem's maximum, 4 MiB by default), so the server's queue must fill.
    line = b"y" * 900 + b"\n"
    wmem_max = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
    count = min(2 * wmem_max // len(line) + 1000, 40000)
    b.setblocking(False)
    for _ in range(count):
        a.sendall(line)
        try:
            while b.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
    time.sleep(0.5)
    slow.settimeout(10)
    total, closed = 0, False
    try:
        while True:
            d = slow.recv(1 << 20)
            if not d:
                closed = True
                break
            total += len(d)
    except ConnectionResetError:
        closed = True
    assert closed, "the slow client was not disconnected"
    assert total < count * len(line), "the slow client got everything: the queue was not bounded"
    srv.stop()


def forwarder():
    echo = Sample("echo_server", "--port", "0")
    fwd = Sample("port_forwarder", "--port", "0", "--to", f"127.0.0.1:{echo.port}")
    s = socket.create_connection(("127.0.0.1", fwd.port), timeout=10)
    payload = os.urandom(200000)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)  # the half-close travels through the proxy
    assert recv_all(s, len(payload) + 1) == payload
    s.close()
    if shutil.which("nc"):
        r = subprocess.run(["nc", "-N", "127.0.0.1", str(fwd.port)], input=b"nc via proxy\n", capture_output=True,
                           timeout=10)
        assert r.stdout == b"nc via proxy\n", r
    fwd.stop()
    echo.stop()


def command_lines():
    """A misspelled option, a missing value or a bad number is refused with the usage
    line and status 2 (never ignored, never a server on some other port); --help
    prints the usage line and exits 0."""
    names = [n for n in ("echo_server", "echo_client", "chat_server", "port_forwarder", "udp_echo", "kv_server",
                         "http_server", "monkey_fetch") if os.path.exists(os.path.join(SAMPLES, n))]
    assert "echo_server" in names and "udp_echo" in names, names
    bad = [["--port", "0", "--bogus", "1"], ["--port"], ["--port", "7x"], ["--port", "65536"], ["--port", "-1"],
           ["--port", "0", "--host"]]
    for n in names:
        exe = os.path.join(SAMPLES, n)
        r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and r.stdout.startswith(f"usage: {n}"), (n, r)
        for args in bad:
            if n == "monkey_fetch":  # its only required argument is a URL
                args = [{"--port": "--concurrency", "65536": "0"}.get(a, a) for a in args] + ["http://127.0.0.1:1/"]
            r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=10)
            assert r.returncode == 2 and f"usage: {n}" in r.stderr and "listening" not in r.stdout, (n, args, r)


SCENARIOS = {f.__name__: f for f in (echo_python, echo_1000_clients, echo_hubs, echo_workers, echo_nc, echo_socat,
                                     echo_client, udp_echo, chat, forwarder, command_lines)}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
    print(f"{sys.argv[1]}: ok")
