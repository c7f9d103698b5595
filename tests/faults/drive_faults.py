#!/usr/bin/env python3
"""The samples behind the fault proxy (fault_proxy): each scenario starts one sample
on a free loopback port, and the proxy in front of it with one path per fault; real
clients (python3 sockets, http.client and urllib, curl, redis-cli, hiredis) go through
the faulty paths while healthy clients keep talking to the sample, directly and
through the proxy's clean path, with every byte checked. Then:

  - every healthy request was served, and none waited long (the sample kept serving);
  - each server-side timeout the sample has fired within 10 % of its setting, timed
    from the proxy's event log (CLOCK_MONOTONIC) and from /proc (the server's socket
    leaving /proc/PID/fd);
  - the sample's open fds and live green threads (its hub's dump, GROVE_DUMP_ON_SIGUSR1)
    are back to what they were before the faults, and its RSS stopped growing over a
    second round of faulty connections (not under ASan, whose quarantine grows it);
  - sample and proxy stop cleanly: exit 0, no connection left, nothing on stderr
    besides the dumps asked for (LeakSanitizer's report would be there under ASan).

    drive_faults.py SCENARIO BUILD_SAMPLES_DIR FAULT_PROXY KV_FAULT_CLIENT
"""
import http.client
import os
import random
import re
import selectors
import shutil
import signal
import errno
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples"))
import drive_http_server as H  # noqa: E402
import drive_kv_server as K  # noqa: E402

SAMPLES = sys.argv[2] if len(sys.argv) > 2 else "."
PROXY = sys.argv[3] if len(sys.argv) > 3 else "fault_proxy"
KV_CLIENT = sys.argv[4] if len(sys.argv) > 4 else "kv_fault_client"
TOLERANCE = 0.10  # every timeout fires within 10 % of its setting
IDLE_MS = 400     # http_server --idle-timeout-ms
STARTED = []
CASES = []        # (what, detail), printed at the end


def now_ms():
    return time.monotonic() * 1000  # CLOCK_MONOTONIC, the proxy's clock


def case(what, detail=""):
    CASES.append((what, detail))


def within(measured_ms, setting_ms, what):
    ok = abs(measured_ms - setting_ms) <= TOLERANCE * setting_ms
    assert ok, f"{what}: fired after {measured_ms:.1f} ms, setting {setting_ms} ms (10 % allowed)"
    case(what, f"{measured_ms:.1f} ms for {setting_ms} ms")


def client_timeout(measured_ms, setting_ms, what):
    """A client's own timeout through the blackhole: it must not fire early (nothing
    answered it), and fires about on time; the client's timer and a loaded machine's
    scheduling are not the sample's, so 25 % are allowed late."""
    assert 0.99 * setting_ms <= measured_ms <= 1.25 * setting_ms, \
        f"{what}: fired after {measured_ms:.1f} ms, setting {setting_ms} ms"
    case(what, f"{measured_ms:.1f} ms for {setting_ms} ms")


def wait_until(pred, what, timeout=5.0, step=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


# --- the processes ---

class Sample:
    """A sample on port 0, its stderr in a file (the hub dumps go there)."""

    def __init__(self, name, *args):
        self.name = name
        self.errf = tempfile.NamedTemporaryFile(prefix=f"grove-{name}-", suffix=".err", delete=False)
        env = dict(os.environ, GROVE_DUMP_ON_SIGUSR1="1")
        self.proc = subprocess.Popen([os.path.join(SAMPLES, name), "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=self.errf, text=True, env=env)
        STARTED.append(self.proc)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"{name}: no 'listening on' line, got {line!r}: {self.stderr()}")
        self.port = int(m.group(2))
        self.dumps = 0
        with open(f"/proc/{self.proc.pid}/maps") as f:
            self.asan = "libasan" in f.read()

    def stderr(self):
        with open(self.errf.name, errors="replace") as f:
            return f.read()

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def socket_inodes(self):
        out = set()
        for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
            try:
                link = os.readlink(f"/proc/{self.proc.pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(int(link[8:-1]))
        return out

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def green_threads(self):
        """Live green threads of the sample's hub, from the dump SIGUSR1 asks for."""
        self.proc.send_signal(signal.SIGUSR1)
        self.dumps += 1

        def header():
            found = re.findall(r"^grove: (\d+) green thread\(s\) besides the root$", self.stderr(), re.M)
            return found[self.dumps - 1] if len(found) >= self.dumps else None
        return int(wait_until(header, f"{self.name}'s dump"))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        err = self.stderr()
        os.unlink(self.errf.name)
        assert self.proc.returncode == 0, f"{self.name}: exit {self.proc.returncode}: {out} {err}"
        m = re.search(r"stopping \((\d+) connection\(s\) open\)", out)
        assert m and m.group(1) == "0", f"{self.name}: connections left open at the stop: {out}"
        # Only the dumps asked for: their header and indented lines.
        other = [ln for ln in err.splitlines() if ln and not ln.startswith((" ", "grove: "))]
        assert not other, f"{self.name} wrote to stderr: {other}"


class Proxy:
    """fault_proxy in front of a sample; its events collected as they come."""

    def __init__(self, target_port, specs):
        self.specs = specs
        self.proc = subprocess.Popen([PROXY, "--target", f"127.0.0.1:{target_port}", *specs],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        STARTED.append(self.proc)
        self.ports = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"fault_proxy did not start: {self.proc.stderr.read()}")
            if line.startswith("fault_proxy ready"):
                break
            m = re.match(r"fault_proxy path (\d+) listening on \S+:(\d+) ", line)
            assert m, line
            self.ports.append(int(m.group(2)))
        assert len(self.ports) == len(specs)
        self.events = []
        self.out = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            m = re.match(r"event t=([\d.]+) path=(\d+) conn=(\d+) (.*)", line)
            with self.lock:
                if m:
                    self.events.append((float(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)))
                else:
                    self.out.append(line)

    def port(self, spec):
        return self.ports[self.specs.index(spec)]

    def event(self, spec, what, after=0.0, timeout=5.0):
        """The first event on `spec`'s path starting with `what` at or after `after` (ms):
        (t, conn, text)."""
        path = self.specs.index(spec)

        def find():
            with self.lock:
                for t, p, c, w in self.events:
                    if p == path and w.startswith(what) and t >= after:
                        return (t, c, w)
            return None
        return wait_until(find, f"proxy event '{what}' on '{spec}'", timeout)

    def conn_event(self, spec, conn, what, timeout=5.0):
        path = self.specs.index(spec)

        def find():
            with self.lock:
                for t, p, c, w in self.events:
                    if p == path and c == conn and w.startswith(what):
                        return (t, c, w)
            return None
        try:
            return wait_until(find, f"proxy event '{what}' of connection {conn} on '{spec}'", timeout)
        except AssertionError as e:
            with self.lock:
                seen = [f"{t:.1f} {w}" for t, p, c, w in self.events if p == path and c == conn]
            raise AssertionError(f"{e}; its events: {seen}") from None

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        self.reader.join(timeout=10)
        err = self.proc.stderr.read()
        out = "".join(self.out)
        assert self.proc.returncode == 0, f"fault_proxy: exit {self.proc.returncode}: {out} {err}"
        m = re.search(r"stopped \((\d+) connection\(s\) were open, (\d+) green thread\(s\) left\)", out)
        assert m and m.group(2) == "0", f"fault_proxy: green threads left: {out}"
        assert not err, f"fault_proxy wrote to stderr: {err}"


def server_socket_inode(server_port, proxy_end):
    """The inode of the sample's socket whose peer is the proxy's end `proxy_end`
    ("127.0.0.1:P", from the proxy's "connected" event), from /proc/net/tcp."""
    peer_port = int(proxy_end.rsplit(":", 1)[1])
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == peer_port:
                return inode
    raise AssertionError(f"no socket of port {server_port} with peer {proxy_end}")


def closed_at(sample, inode, timeout=5.0):
    """Polls (1 ms) until the sample's fd for `inode` is gone; when it went (ms)."""
    wait_until(lambda: inode not in sample.socket_inodes(), f"{sample.name} to close its socket", timeout, 0.001)
    return now_ms()


HEALTHY = []  # stopped before a failed scenario cleans up


class Healthy(threading.Thread):
    """Runs `step()` over and over until stopped; keeps the first error and the
    longest wait between two steps."""

    def __init__(self, name, step):
        super().__init__(daemon=True, name=name)
        HEALTHY.append(self)
        self.step = step
        self.stopped = threading.Event()
        self.error = None
        self.count = 0
        self.longest = 0.0

    def run(self):
        last = time.monotonic()
        try:
            while not self.stopped.is_set():
                self.step()
                t = time.monotonic()
                self.longest = max(self.longest, t - last)
                last = t
                self.count += 1
                time.sleep(0.003)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.error = e
            traceback.print_exc()

    def check(self):
        self.stopped.set()
        self.join(timeout=30)
        assert self.error is None, f"healthy client {self.name}: {self.error!r}"
        assert self.count >= 20, f"healthy client {self.name}: only {self.count} exchanges"
        # Never left waiting: the faults of other connections do not hold it up.
        assert self.longest < 1.0, f"healthy client {self.name}: waited {self.longest:.2f} s once"
        case(f"healthy {self.name}", f"{self.count} exchanges, longest {self.longest * 1000:.0f} ms")


def baseline(sample, steps):
    """The sample's fds and green threads with the healthy clients connected (each
    has made one exchange, so the sample has accepted it). The first dump loads
    what names frames (libunwind, libdw: a few fds kept open), so it goes first."""
    for step in steps:
        step()
    gt = sample.green_threads()
    return sample.fds(), gt


def check_back_to(sample, base, what):
    """fds and green threads return to their values before the faults."""
    fds0, gt0 = base
    wait_until(lambda: sample.fds() == fds0, f"{sample.name}'s fds back to {fds0} after {what} "
               f"(now {sample.fds()})", timeout=5)
    wait_until(lambda: sample.green_threads() == gt0, f"{sample.name}'s green threads back to {gt0} after {what}",
               timeout=5, step=0.05)
    case(f"{sample.name}: no fd or green thread left after {what}", f"{fds0} fds, {gt0} green threads")


def churn(sample, base, one_round, rounds_what):
    """Runs `one_round` twice, each until the sample's fds are back: the second must
    not grow the RSS (by more than 1 MiB). No dump meanwhile (naming new frames
    loads debug information, and holds the hub for ~0.2 s). Under ASan (quarantine)
    the RSS is not checked, LeakSanitizer at exit is."""
    rss = []
    for _ in range(2):
        one_round()
        wait_until(lambda: sample.fds() == base[0], f"{sample.name}'s fds back to {base[0]} after {rounds_what} "
                   f"(now {sample.fds()})", timeout=5)
        rss.append(sample.rss_kb())
    if not sample.asan:
        assert rss[1] - rss[0] <= 1024, \
            f"{sample.name}: RSS grew {rss[1] - rss[0]} KiB over a second round of {rounds_what}"
    case(f"{sample.name}: RSS over a second round of {rounds_what}", f"{rss[0]} -> {rss[1]} KiB")


def finish(srv, proxy, base, healthy, socks):
    """The healthy clients were served throughout; then (a dump holds the hub a
    moment, so after them) no fd or green thread is left of the faults, nor of the
    healthy clients once they close; proxy and sample stop cleanly."""
    for h in healthy:
        h.check()
    check_back_to(srv, base, "every fault")
    for s in socks:
        s.close()
    check_back_to(srv, (base[0] - 2, base[1] - 2), "the healthy clients closed")
    proxy.stop()
    srv.stop()


def recv_all(s, limit=None):
    """Reads until end of file (or `limit` bytes); returns (data, error or None)."""
    data = b""
    try:
        while limit is None or len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                return data, None
            data += chunk
    except OSError as e:
        return data, e
    return data, None


def reset_close(s):
    """Closes with SO_LINGER {1, 0}: a RST."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


# --- echo_server ---

ECHO_SPECS = ["clean", "latency=20,jitter=10,seed=5", "down.rate=500000", "split=1", "up.stall=1000:150",
              "down.reset=3000", "up.halfclose=2000", "down.noread=0,rcvbuf=4096", "blackhole"]


def echo_roundtrip(port, payload, timeout=10):
    """Sends `payload`, half-closes, reads until the end: (echoed, error or None). A
    reset while sending is left for the reads to report."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
    except (ConnectionResetError, BrokenPipeError):
        pass
    except OSError as e:  # shutdown after the reset arrived: ENOTCONN
        if e.errno != errno.ENOTCONN:
            raise
    data, err = recv_all(s)
    s.close()
    return data, err


def echo_faults():
    srv = Sample("echo_server")
    proxy = Proxy(srv.port, ECHO_SPECS)
    rng = random.Random(1)

    def echo_step(port):
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)

        def step():
            msg = rng.randbytes(rng.randint(1, 4000))
            conn.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = conn.recv(65536)
                assert chunk, "closed"
                got += chunk
            assert got == msg, "echo differs"
        return conn, step

    direct_sock, direct = echo_step(srv.port)
    clean_sock, via_clean = echo_step(proxy.port("clean"))
    base = baseline(srv, [direct, via_clean])
    healthy = [Healthy("echo direct", direct), Healthy("echo via the clean path", via_clean)]
    for h in healthy:
        h.start()

    payload = rng.randbytes(50000)
    # Latency and jitter: every byte back, in order, no sooner than two one-way delays.
    t0 = time.monotonic()
    data, err = echo_roundtrip(proxy.port("latency=20,jitter=10,seed=5"), payload)
    assert err is None and data == payload
    assert time.monotonic() - t0 >= 0.020
    case("echo: latency 20 ms, jitter 10 ms", "50,000 bytes back intact")
    # Bandwidth: 50,000 bytes back at 500,000 B/s take 0.1 s (the first 1/100 s at once).
    t0 = time.monotonic()
    data, err = echo_roundtrip(proxy.port("down.rate=500000"), payload)
    took = time.monotonic() - t0
    assert err is None and data == payload
    assert took >= 0.9 * (len(payload) - 5000) / 500000, took
    case("echo: 500,000 B/s", f"50,000 bytes back intact in {took * 1000:.0f} ms")
    # 1-byte writes both ways.
    small = payload[:3000]
    data, err = echo_roundtrip(proxy.port("split=1"), small)
    assert err is None and data == small
    case("echo: 1-byte pieces both ways", "3,000 bytes back intact")
    # A 150 ms stall after 1,000 bytes.
    t0 = time.monotonic()
    data, err = echo_roundtrip(proxy.port("up.stall=1000:150"), small)
    assert err is None and data == small and time.monotonic() - t0 >= 0.15
    case("echo: a 150 ms stall after 1,000 bytes", "3,000 bytes back intact")
    # A reset after 3,000 bytes back: the client gets exactly those, then ECONNRESET.
    data, err = echo_roundtrip(proxy.port("down.reset=3000"), payload)
    assert data == payload[:3000] and isinstance(err, ConnectionResetError), (len(data), err)
    case("echo: a reset after 3,000 bytes", "the client got 3,000 bytes then ECONNRESET")
    # A half-close after 2,000 bytes: the server echoes those and closes.
    data, err = echo_roundtrip(proxy.port("up.halfclose=2000"), payload)
    assert err is None and data == payload[:2000], (len(data), err)
    case("echo: a half-close after 2,000 bytes", "2,000 bytes back, then end of file")
    # A client that stops reading: the server's writes block, then its reads; the
    # others go on. When the client leaves, the server's connection ends.
    s = socket.create_connection(("127.0.0.1", proxy.port("down.noread=0,rcvbuf=4096")), timeout=0.3)
    sent = 0
    try:
        while sent < 64 << 20:
            sent += s.send(payload)
    except socket.timeout:
        pass
    assert sent < 64 << 20, "the writes never blocked"
    time.sleep(0.2)  # the healthy clients keep going meanwhile
    reset_close(s)  # a plain close's FIN would wait behind the bytes nobody reads
    case("echo: a client that stops reading", f"server blocked after {sent} bytes, freed when it reset")
    # Never answered: the client's own timeout fires; the server holds the idle
    # connection until the client leaves.
    s = socket.create_connection(("127.0.0.1", proxy.port("blackhole")), timeout=0.3)
    s.sendall(b"hello?")
    t0 = now_ms()
    try:
        s.recv(10)
        raise AssertionError("the blackhole answered")
    except socket.timeout:
        client_timeout(now_ms() - t0, 300, "echo: python's socket timeout through the blackhole")
    s.close()
    # Many at once: resets, client resets, half-closes and blackholes, twice (RSS).

    def churn_round():
        socks = []
        for i in range(20):
            for spec in ("down.reset=3000", "up.halfclose=2000", "blackhole", "clean"):
                c = socket.create_connection(("127.0.0.1", proxy.port(spec)), timeout=10)
                c.sendall(payload[:5000])
                socks.append((spec, c))
        for spec, c in socks:
            if spec == "clean":
                reset_close(c)
            elif spec == "blackhole":
                c.close()
            else:
                recv_all(c)
                c.close()
    churn(srv, base, churn_round, "80 faulty connections")
    finish(srv, proxy, base, healthy, [direct_sock, clean_sock])


# --- http_server ---

HTTP_SPECS = ["clean", "latency=20,jitter=10,seed=7", "down.rate=2000000", "up.split=1", "split=1",
              "up.split=1,up.rate=50", "down.reset=100000", "down.noread=0,rcvbuf=4096", "blackhole"]


def http_healthy(port, root, tag):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    medium = H.read_file(root, "medium.bin")
    notes = H.read_file(root, "notes.txt")
    rng = random.Random(tag)

    def step():
        which = rng.randrange(3)
        if which < 2:
            path, want = ("/medium.bin", medium) if which == 0 else ("/notes.txt", notes)
            conn.request("GET", path)
            r = conn.getresponse()
            got = r.read()
            assert r.status == 200 and got == want, f"GET {path}: {r.status}, {len(got)} bytes, " \
                f"{'equal' if got == want else 'different'} ({len(want)} expected)"
        else:
            body = rng.randbytes(rng.randint(0, 20000))
            conn.request("POST", "/", body=body)
            r = conn.getresponse()
            got = r.read()
            assert got == f"{len(body)} bytes, crc32 {zlib.crc32(body):08x}\n".encode(), (r.status, got)
    return conn, step


def http_faults():
    top, root = H.make_root()
    srv = Sample("http_server", "--root", root, "--idle-timeout-ms", str(IDLE_MS))
    proxy = Proxy(srv.port, HTTP_SPECS)
    try:
        http_faults_on(srv, proxy, root)
    finally:
        for h in HEALTHY:  # (a failure) before the files go
            h.stopped.set()
            h.join(timeout=30)
        shutil.rmtree(top)


def http_faults_on(srv, proxy, root):
    medium = H.read_file(root, "medium.bin")
    direct_conn, direct = http_healthy(srv.port, root, 1)
    clean_conn, via_clean = http_healthy(proxy.port("clean"), root, 2)
    base = baseline(srv, [direct, via_clean])
    healthy = [Healthy("http.client direct", direct), Healthy("http.client via the clean path", via_clean)]
    for h in healthy:
        h.start()

    # curl and urllib through latency and jitter, a bandwidth limit, 1-byte writes.
    for spec in ("latency=20,jitter=10,seed=7", "down.rate=2000000", "up.split=1"):
        url = f"http://127.0.0.1:{proxy.port(spec)}"
        r = H.curl("-w", "%{time_total}", "-o", "-", url + "/medium.bin")
        assert r.returncode == 0 and r.stdout[:len(medium)] == medium, (spec, r.returncode, r.stderr)
        took = float(r.stdout[len(medium):])
        if spec.startswith("down.rate"):
            assert took >= 0.9 * (len(medium) - 20000) / 2000000, took
        with urllib.request.urlopen(url + "/medium.bin", timeout=10) as resp:
            assert resp.read() == medium
        case(f"http: curl and urllib GET 200 KiB through '{spec}'", f"intact (curl {took * 1000:.0f} ms)")
    # 1-byte writes both ways: a chunked POST from http.client, read a byte at a time.
    c = http.client.HTTPConnection("127.0.0.1", proxy.port("split=1"), timeout=10)
    body = random.Random(3).randbytes(1500)
    c.request("POST", "/", body=iter([body[:700], body[700:]]), encode_chunked=True,
              headers={"Transfer-Encoding": "chunked"})
    r = c.getresponse()
    assert r.read() == f"{len(body)} bytes, crc32 {zlib.crc32(body):08x}\n".encode()
    c.close()
    case("http: a chunked POST in 1-byte pieces both ways (http.client)", "size and CRC-32 right")

    # The idle timeout, three ways. (1) Never answered: the connection the server
    # accepted gets nothing; it closes it IDLE_MS after the accept.
    bh = proxy.port("blackhole")
    t_start = now_ms()
    r = H.curl("--max-time", "0.5", "-w", "%{time_total}", "-o", "/dev/null", f"http://127.0.0.1:{bh}/notes.txt")
    assert r.returncode == 28, r  # curl's operation timeout
    client_timeout(float(r.stdout) * 1000, 500, "http: curl --max-time 0.5 through the blackhole")
    connected = proxy.event("blackhole", "connected", after=t_start)
    eof = proxy.conn_event("blackhole", connected[1], "eof down")
    within(eof[0] - connected[0], IDLE_MS, "http: idle timeout of a connection that never sends")
    t0 = now_ms()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{bh}/", timeout=0.3)
        raise AssertionError("the blackhole answered")
    except (urllib.error.URLError, socket.timeout, TimeoutError):
        client_timeout(now_ms() - t0, 300, "http: urllib's timeout 0.3 through the blackhole")
    # (2) A head trickled in a byte at a time at 50 B/s (slowloris): the head has one
    # deadline, IDLE_MS after the accept; no response.
    sl = "up.split=1,up.rate=50"
    t_start = now_ms()
    s = socket.create_connection(("127.0.0.1", proxy.port(sl)), timeout=5)
    s.sendall(b"GET /notes.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n")
    data, err = recv_all(s)
    s.close()
    assert data == b"", data  # no response (end of file, or a reset once the proxy writes on)
    connected = proxy.event(sl, "connected", after=t_start)
    # The server's close: an end of file, or a reset when a trickled byte came in after
    # its last read (a close with unread data resets), seen by the proxy's read or by
    # its next write, whichever comes first.
    gone = proxy.conn_event(sl, connected[1], ("eof down", "recv-error down", "send-error up"))
    within(gone[0] - connected[0], IDLE_MS, "http: head deadline of a 1-byte-at-50-B/s head (slowloris)")
    # (3) A keep-alive connection idle after its response, through the clean path.
    s = socket.create_connection(("127.0.0.1", proxy.port("clean")), timeout=5)
    s.sendall(b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, got = H.read_response(s.makefile("rb"))
    t_done = now_ms()
    assert status == 200 and got == H.read_file(root, "notes.txt")
    data, err = recv_all(s)
    within(now_ms() - t_done, IDLE_MS, "http: idle timeout of a keep-alive connection after a response")
    s.close()

    # The write timeout: a client that stops reading a 12 MiB response; each write
    # must make progress within IDLE_MS.
    nr = "down.noread=0,rcvbuf=4096"
    t_start = now_ms()
    s = socket.create_connection(("127.0.0.1", proxy.port(nr)), timeout=5)
    connected = proxy.event(nr, "connected", after=t_start)
    inode = server_socket_inode(srv.port, connected[2].split()[1])
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    t_req = now_ms()
    within(closed_at(srv, inode) - t_req, IDLE_MS, "http: write timeout toward a client that stopped reading")
    s.close()
    # The body timeout: a POST whose body stalls for 1 s after 100 bytes; each read
    # must make progress within IDLE_MS.
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    st = f"up.stall={len(head) + 100}:1000"
    stall_proxy = Proxy(srv.port, [st])
    s = socket.create_connection(("127.0.0.1", stall_proxy.port(st)), timeout=5)
    s.sendall(head + b"b" * 1000)
    stall = stall_proxy.event(st, "stall up")
    eof = stall_proxy.conn_event(st, stall[1], "eof down")
    within(eof[0] - stall[0], IDLE_MS, "http: read timeout of a request body that stalls")
    data, err = recv_all(s)
    assert data == b"", data  # closed without a response
    s.close()
    stall_proxy.stop()

    # A reset in the middle of a 12 MiB response: curl fails (56: recv failure),
    # urllib too; the server's connection ends.
    url = f"http://127.0.0.1:{proxy.port('down.reset=100000')}/big.bin"
    r = H.curl("-o", "/dev/null", url)
    assert r.returncode in (18, 56), r
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            resp.read()
        raise AssertionError("urllib read a reset response whole")
    except (ConnectionResetError, http.client.IncompleteRead):
        pass
    case("http: a reset after 100,000 bytes of a 12 MiB response", f"curl exit {r.returncode}, urllib raised")
    # A request, then the client's half-close: the response still comes, then the end.
    s = socket.create_connection(("127.0.0.1", proxy.port("clean")), timeout=5)
    s.sendall(b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    data, err = recv_all(s)
    s.close()
    assert err is None and data.startswith(b"HTTP/1.1 200 ") and data.endswith(H.read_file(root, "notes.txt")), data
    case("http: a half-close after a request", "the response, then end of file")

    def churn_round():
        socks = []
        for i in range(10):
            for spec in ("down.reset=100000", "down.noread=0,rcvbuf=4096", "blackhole", "clean"):
                c = socket.create_connection(("127.0.0.1", proxy.port(spec)), timeout=10)
                c.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                socks.append((spec, c))
        time.sleep(0.05)
        for spec, c in socks:
            if spec == "clean":
                reset_close(c)
            elif spec == "down.reset=100000":
                recv_all(c)
                c.close()
            else:
                c.close()
    churn(srv, base, churn_round, "40 faulty connections")
    finish(srv, proxy, base, healthy, [direct_conn, clean_conn])


# --- kv_server ---

KV_SPECS = ["clean", "latency=20,jitter=10,seed=9", "split=1", "down.rate=200000", "up.stall=20:150",
            "down.reset=100000", "down.reset=3000", "down.noread=0,rcvbuf=4096", "blackhole"]


def kv_client(port, timeout_ms, *args):
    r = subprocess.run([KV_CLIENT, str(port), str(timeout_ms), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    return r.stdout.strip()


def kv_faults():
    srv = Sample("kv_server")
    proxy = Proxy(srv.port, KV_SPECS)
    rng = random.Random(2)

    def kv_step(port, tag):
        conn = K.Resp(port)
        n = [0]

        def step():
            n[0] += 1
            value = rng.randbytes(rng.randint(0, 3000))
            key = f"healthy:{tag}:{n[0] % 50}"
            assert conn.cmd("SET", key, value) == "OK"
            assert conn.cmd("GET", key) == value
            assert conn.cmd("INCR", f"healthy:{tag}:count") == n[0]
        return conn, step

    direct_conn, direct = kv_step(srv.port, "direct")
    clean_conn, via_clean = kv_step(proxy.port("clean"), "clean")
    base = baseline(srv, [direct, via_clean])
    healthy = [Healthy("RESP direct", direct), Healthy("RESP via the clean path", via_clean)]
    for h in healthy:
        h.start()

    # hiredis pipelines and redis-cli through latency and jitter, 1-byte writes both
    # ways, a bandwidth limit, a stall.
    for spec, n, size in (("latency=20,jitter=10,seed=9", 100, 1000), ("split=1", 10, 100),
                          ("down.rate=200000", 20, 2000), ("up.stall=20:150", 20, 500)):
        assert kv_client(proxy.port(spec), 10000, "check", str(n), str(size)) == f"ok {n}"
        p = proxy.port(spec)
        assert K.cli(p, "SET", f"cli:{spec}", "value with spaces\r\n") == "OK"
        assert K.cli(p, "GET", f"cli:{spec}") == '"value with spaces\\r\\n"'
        assert K.cli(p, "INCRBY", "cli:n", "5").startswith("(integer) ")
        case(f"kv: hiredis ({n} x {size} B pipelined) and redis-cli through '{spec}'", "every byte checked")

    # The server-side timeout kv_server has: BLPOP's, from hiredis, through the clean
    # path and through 20 ms (+- 10) each way.
    out = kv_client(proxy.port("clean"), 5000, "cmd", "BLPOP", "nothing:here", "0.3")
    assert out.startswith("reply nil "), out
    within(float(out.split()[-1]), 300, "kv: BLPOP timeout 0.3 s (hiredis, clean path)")
    out = kv_client(proxy.port("latency=20,jitter=10,seed=9"), 5000, "cmd", "BLPOP", "nothing:here", "0.3")
    assert out.startswith("reply nil "), out
    took = float(out.split()[-1])
    assert 300 + 20 <= took <= 1.1 * 300 + 60, f"BLPOP 0.3 through 40 +- 20 ms of round trip took {took} ms"
    case("kv: BLPOP timeout 0.3 s through latency 20 ms, jitter 10 ms", f"{took:.1f} ms")
    # Never answered: hiredis's own timeout fires; kv_server holds the idle
    # connection until the client leaves.
    out = kv_client(proxy.port("blackhole"), 300, "cmd", "PING")
    assert out.startswith("error "), out
    client_timeout(float(out.split()[-1]), 300, "kv: hiredis's 300 ms command timeout through the blackhole")

    # A reset while blocked in BLPOP: kv_server drops the blocked pop, so a later
    # push stays in the list.
    blpop = K.Resp.encode("BLPOP", "fault:queue", "0")
    spec = f"up.stall={len(blpop)}:100,up.reset={len(blpop)}"  # blocked for 100 ms, then reset
    rp = Proxy(srv.port, [spec])
    s = socket.create_connection(("127.0.0.1", rp.port(spec)), timeout=5)
    s.sendall(blpop)
    data, err = recv_all(s)
    assert data == b"" and isinstance(err, ConnectionResetError), (data, err)
    connected = rp.event(spec, "connected")
    s.close()
    ctl = K.Resp(srv.port)
    wait_until(lambda: K.blocked_clients(ctl) == 0, "the reset BLPOP to be dropped")
    assert ctl.cmd("LPUSH", "fault:queue", "kept") == 1
    assert ctl.cmd("LLEN", "fault:queue") == 1
    ctl.cmd("DEL", "fault:queue")
    ctl.close()
    rp.stop()
    case("kv: a reset while blocked in BLPOP", "the pop is dropped, a later LPUSH stays")
    # A reset in the middle of a 2 MB reply.
    big = os.urandom(2 << 20)
    ctl = K.Resp(srv.port)
    ctl.cmd("SET", "fault:big", big)
    out = kv_client(proxy.port("down.reset=100000"), 5000, "cmd", "GET", "fault:big")
    assert out.startswith("error "), out
    case("kv: a reset after 100,000 bytes of a 2 MiB reply (hiredis)", out.rsplit(" ", 1)[0])
    # Commands, then the client's half-close: every reply comes, then the end.
    frames = K.Resp.encode("PING") + K.Resp.encode("SET", "hc", "v") + K.Resp.encode("GET", "hc")
    s = socket.create_connection(("127.0.0.1", proxy.port("clean")), timeout=5)
    s.sendall(frames)
    s.shutdown(socket.SHUT_WR)
    data, err = recv_all(s)
    s.close()
    assert err is None and data == b"+PONG\r\n+OK\r\n$1\r\nv\r\n", (data, err)
    case("kv: three commands, then a half-close", "three replies, then end of file")
    # A client that stops reading 200 pipelined GETs of 2 MiB: kv_server blocks on it,
    # serves the others, and frees it when it leaves.
    t_start = now_ms()
    nr = "down.noread=0,rcvbuf=4096"
    s = socket.create_connection(("127.0.0.1", proxy.port(nr)), timeout=5)
    connected = proxy.event(nr, "connected", after=t_start)
    inode = server_socket_inode(srv.port, connected[2].split()[1])
    s.sendall(K.Resp.encode("GET", "fault:big") * 200)
    time.sleep(0.2)
    assert inode in srv.socket_inodes()
    s.close()
    closed_at(srv, inode)
    case("kv: a client that stops reading 400 MiB of replies", "the others served, its connection freed when it left")
    ctl.cmd("DEL", "fault:big")
    # Read, never written, by the churn: the keyspace stays as it is; small, so that
    # the replies' buffers do not swamp the RSS.
    ctl.cmd("SET", "churn:value", os.urandom(2000))
    ctl.close()

    def churn_round():
        socks = []
        for i in range(20):
            for spec in ("down.reset=3000", "blackhole", "clean"):
                c = socket.create_connection(("127.0.0.1", proxy.port(spec)), timeout=10)
                c.sendall(K.Resp.encode("GET", "churn:value") * 3)
                socks.append((spec, c))
        time.sleep(0.05)
        for spec, c in socks:
            if spec == "clean":
                reset_close(c)
            elif spec == "down.reset=3000":
                recv_all(c)
                c.close()
            else:
                c.close()
    churn(srv, base, churn_round, "60 faulty connections")
    finish(srv, proxy, base, healthy, [direct_conn, clean_conn])


SCENARIOS = {"echo": echo_faults, "http": http_faults, "kv": kv_faults}


def main():
    name = sys.argv[1]
    t0 = time.monotonic()
    try:
        SCENARIOS[name]()
        ok = True
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        ok = False
    finally:
        for h in HEALTHY:  # (a failure) before their server goes
            h.stopped.set()
            h.join(timeout=30)
        for p in STARTED:
            if p.poll() is None:
                p.kill()
                p.wait()
    for what, detail in CASES:
        print(f"  {what}: {detail}")
    print(f"{name}: {'ok' if ok else 'FAILED'} ({len(CASES)} checks, {time.monotonic() - t0:.1f} s)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
