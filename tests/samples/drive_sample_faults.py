#!/usr/bin/env python3
"""Bad-input cases for chat_server, port_forwarder and udp_echo.

    drive_sample_faults.py SCENARIO BUILD_SAMPLES_DIR
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drive_samples  # noqa: E402  (Sample, recv_all, read_line, wait_joined)

drive_samples.SAMPLES = sys.argv[2] if len(sys.argv) > 2 else "."
Sample = drive_samples.Sample


def socket_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class IdleUpstream:
    """Accepts connections and keeps them open after end of file, sending nothing."""

    def __init__(self):
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(8)
        self.port = self.lst.getsockname()[1]
        self.conns = []
        self.eof = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.lst.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.read, args=(c,), daemon=True).start()

    def read(self, c):
        try:
            while c.recv(65536):
                pass
            self.eof.set()
        except OSError:
            self.eof.set()


def forwarder_client_reset_idle_upstream():
    """A client that resets its connection while the upstream is idle: the forwarder
    should close both sides, not keep the session (two sockets, a handler) forever."""
    up = IdleUpstream()
    fwd = Sample("port_forwarder", "--port", "0", "--to", f"127.0.0.1:{up.port}")
    time.sleep(0.2)
    base = socket_fds(fwd.proc.pid)
    c = socket.create_connection(("127.0.0.1", fwd.port), timeout=10)
    c.sendall(b"hello\n")
    for _ in range(100):
        if up.conns:
            break
        time.sleep(0.05)
    assert up.conns, "the forwarder did not connect upstream"
    time.sleep(0.2)
    during = socket_fds(fwd.proc.pid)
    reset(c)
    assert up.eof.wait(5), "the upstream saw nothing after the client's reset"
    time.sleep(1.0)
    after = socket_fds(fwd.proc.pid)
    fwd.stop()
    assert after == base, (f"forwarder sockets: {base} idle, {during} with the session, {after} 1 s after the "
                           f"client's reset (the session is kept while the upstream stays open)")


def forwarder_upstream_refused():
    """No upstream listening: the client's connection is closed, the forwarder lives on."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    port = lst.getsockname()[1]
    lst.close()
    fwd = Sample("port_forwarder", "--port", "0", "--to", f"127.0.0.1:{port}")
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", fwd.port), timeout=10)
        try:
            assert c.recv(10) == b""
        except ConnectionResetError:
            pass
        c.close()
    fwd.stop()


def chat_long_line_and_reset():
    """A 200 kB line without a newline arrives in max-line pieces; a peer reset does not
    disturb the others. (A queue of 1000 lines: see chat_burst for the default of 64.)"""
    srv = Sample("chat_server", "--port", "0", "--max-line", "1024", "--queue", "1000")
    a, b = (socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(2))
    drive_samples.wait_joined(a, b)
    a.sendall(b"z" * 200000 + b"\n")
    got = 0
    pieces = 0
    while got < 200000:
        line = drive_samples.read_line(b)
        assert line.endswith(b"\n"), line[:80]
        body = line.split(b": ", 1)[1]
        assert len(body) <= 1025
        got += len(body.rstrip(b"\n"))
        pieces += 1
    assert got == 200000 and pieces >= 196, (got, pieces)
    r = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    drive_samples.wait_joined(a, r)
    reset(r)
    for _ in range(100):
        line = drive_samples.read_line(a)
        if line.endswith(b" left\n"):
            break
    a.sendall(b"still here\n")
    for _ in range(10):  # b also sees r join and leave
        line = drive_samples.read_line(b)
        if not line or line.endswith(b": still here\n"):
            break
    assert line.endswith(b": still here\n"), line
    srv.stop()


def chat_burst():
    """65 short lines in one send from one client (more than a queue holds): a reader
    that keeps up must get them all and not be disconnected as slow, although the
    sender's lines arrive together and are read without parking."""
    srv = Sample("chat_server", "--port", "0")  # --queue 64
    a, b = (socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(2))
    drive_samples.wait_joined(a, b)
    a.sendall(b"hi\n" * 65)
    n = 0
    while n < 65:
        line = drive_samples.read_line(b)
        if not line:
            break
        n += 1
    srv.stop()
    assert n == 65, f"an attentive client got {n} of 65 lines, then the server disconnected it"


def chat_max_line_zero():
    """--max-line 0 must be refused (exit 2) or work, never drop every client on arrival."""
    p = drive_samples.subprocess.Popen([os.path.join(drive_samples.SAMPLES, "chat_server"), "--port", "0",
                                        "--max-line", "0"], stdout=drive_samples.subprocess.PIPE,
                                       stderr=drive_samples.subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = drive_samples.re.search(r"listening on (\S+):(\d+)", line)
    if not m:
        assert p.wait(10) == 2, "no listening line and no usage error"
        return
    port = int(m.group(2))
    a = socket.create_connection(("127.0.0.1", port), timeout=10)
    a.settimeout(1)
    a.sendall(b"hello\n")
    try:
        got = a.recv(100)
    except socket.timeout:
        got = None  # still connected: fine
    except ConnectionResetError:
        got = b""
    p.send_signal(drive_samples.signal.SIGINT)
    p.communicate(timeout=10)
    assert got != b"", "chat_server --max-line 0 disconnects every client at once"


def forwarder_bad_target_port():
    """--to 127.0.0.1:70000 must be refused (exit 2), not forward to port 4464."""
    p = drive_samples.subprocess.Popen([os.path.join(drive_samples.SAMPLES, "port_forwarder"), "--port", "0",
                                        "--to", "127.0.0.1:70000"], stdout=drive_samples.subprocess.PIPE,
                                       stderr=drive_samples.subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line:
        p.send_signal(drive_samples.signal.SIGINT)
        p.communicate(timeout=10)
        raise AssertionError(f"accepted an out-of-range target port: {line.strip()!r}")
    assert p.wait(10) == 2, p.returncode


def udp_echo_big():
    """The largest IPv4 UDP payload comes back whole."""
    srv = Sample("udp_echo", "--port", "0")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    u.settimeout(5)
    m = os.urandom(65507)
    u.sendto(m, ("127.0.0.1", srv.port))
    data, _ = u.recvfrom(70000)
    assert data == m, len(data)
    u.sendto(b"", ("127.0.0.1", srv.port))
    data, _ = u.recvfrom(10)
    assert data == b""
    srv.stop()


SCENARIOS = {f.__name__: f for f in (forwarder_client_reset_idle_upstream, forwarder_upstream_refused,
                                     chat_long_line_and_reset, chat_burst, chat_max_line_zero,
                                     forwarder_bad_target_port, udp_echo_big)}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
    print(f"{sys.argv[1]}: ok")
