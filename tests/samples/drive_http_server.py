#!/usr/bin/env python3
"""Drives samples/http_server with clients no one here wrote: curl, wrk, python3's
http.client, and raw sockets for what those clients will not send (pipelined bursts,
malformed requests, traversal attempts, a slowloris).

    drive_http_server.py SCENARIO BUILD_SAMPLES_DIR

Each scenario starts http_server on port 0 over a fresh --root directory, reads the
"listening on H:P" line, talks to it, stops it with SIGINT and checks it exits cleanly
with nothing logged on stderr. No timing assertions: timeouts only bound the waits.
"""
import http.client
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

SAMPLES = sys.argv[2] if len(sys.argv) > 2 else "."
SECRET = b"grove-secret-outside-the-root\n"
BIG_SIZE = 12 << 20  # bigger than the socket buffers: streamed, not inlined


STARTED = []  # every process started, killed at exit if a scenario failed


class Server:
    def __init__(self, root, *args):
        self.proc = subprocess.Popen([os.path.join(SAMPLES, "http_server"), "--port", "0", "--root", root, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        STARTED.append(self.proc)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"no 'listening on' line, got {line!r}: {self.proc.stderr.read()}")
        self.port = int(m.group(2))
        self.url = f"http://127.0.0.1:{self.port}"

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}: {out} {err}"
        assert err == "", f"http_server logged: {err}"
        return out


def make_root():
    """A temporary tree: root/ (served) beside secret.txt (must never be served)."""
    top = tempfile.mkdtemp(prefix="grove-http-")
    root = os.path.join(top, "root")
    os.makedirs(os.path.join(root, "sub", "deeper"))
    os.makedirs(os.path.join(root, "docs"))
    with open(os.path.join(top, "secret.txt"), "wb") as f:
        f.write(SECRET)
    files = {
        "index.html": b"<!doctype html><title>grove</title>\n",
        "style.css": b"body { color: green }\n",
        "app.js": b"console.log('grove');\n",
        "data.json": b'{"grove": true}\n',
        "notes.txt": b"plain text\n",
        "pixel.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "photo.JPG": b"\xff\xd8\xff" + b"j" * 100,
        "blob.unknownext": b"?" * 10,
        "empty.txt": b"",
        "sub/deeper/page.html": b"<p>deep</p>\n",
        "docs/index.html": b"<p>docs index</p>\n",
        "medium.bin": os.urandom(200 << 10),
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(BIG_SIZE))
    os.symlink(os.path.join(top, "secret.txt"), os.path.join(root, "abs_link_out"))
    os.symlink("../secret.txt", os.path.join(root, "rel_link_out"))
    os.symlink("..", os.path.join(root, "sub", "up"))
    os.symlink("/", os.path.join(root, "rootfs"))
    os.symlink("notes.txt", os.path.join(root, "link_in"))
    return top, root


def read_file(root, name):
    with open(os.path.join(root, name), "rb") as f:
        return f.read()


def curl(*args, **kw):
    assert shutil.which("curl"), "curl missing (Debian package curl)"
    return subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True, timeout=60, **kw)


def headers_of(raw):
    """Header dict (lower-case names) of one response head as bytes."""
    lines = raw.decode("latin-1").split("\r\n")
    out = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return lines[0], out


def read_response(f, head_only=False):
    """One response from a buffered socket file: (status, headers, body)."""
    status_line = f.readline()
    assert status_line, "connection closed before a response"
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", status_line)
    assert m, f"bad status line {status_line!r}"
    hdrs = {}
    while True:
        line = f.readline()
        assert line, "connection closed inside a head"
        if line == b"\r\n":
            break
        k, v = line.decode("latin-1").split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = 0 if head_only else int(hdrs["content-length"])
    body = f.read(n)
    assert len(body) == n, f"short body: {len(body)} of {n}"
    return int(m.group(1)), hdrs, body


def raw_exchange(port, data, timeout=20):
    """Sends `data` on a new connection and reads until the server closes it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    s.close()
    return got


def status_of(resp):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp)
    assert m, f"no status line in {resp[:200]!r}"
    return int(m.group(1))


def closed_by_server(s, limit=30):
    """True once the server closes `s` (end of file or reset) within `limit` seconds."""
    s.settimeout(limit)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# --- scenarios ---

def http_curl():
    top, root = make_root()
    srv = Server(root)
    r = curl("-i", srv.url + "/")
    assert r.returncode == 0, r
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    status, h = headers_of(head)
    assert status == "HTTP/1.1 200 OK" and body == b"Hello, World!", r.stdout
    assert h["server"] == "grove" and h["content-type"] == "text/plain" and h["content-length"] == "13", h
    assert h["connection"] == "keep-alive" and h["date"].endswith(" GMT"), h
    # HEAD: the same head, no body.
    r = curl("-I", srv.url + "/")
    assert r.returncode == 0 and b"Content-Length: 13" in r.stdout and not r.stdout.endswith(b"Hello, World!"), r
    # Content types by extension.
    expect = {"index.html": "text/html", "style.css": "text/css", "app.js": "text/javascript",
              "data.json": "application/json", "notes.txt": "text/plain", "pixel.png": "image/png",
              "photo.JPG": "image/jpeg", "blob.unknownext": "application/octet-stream",
              "sub/deeper/page.html": "text/html", "empty.txt": "text/plain", "medium.bin":
              "application/octet-stream", "link_in": "application/octet-stream"}
    for name, ctype in expect.items():
        r = curl("-w", "%{http_code} %{content_type}", "-o", "/dev/null", srv.url + "/" + name)
        code, got_type = r.stdout.decode().split(" ", 1)
        assert code == "200" and got_type.split(";")[0] == ctype, (name, r.stdout)
    # Several URLs on one curl command line share one connection (keep-alive).
    urls = [srv.url + "/" + n for n in ("notes.txt", "index.html", "medium.bin", "")]
    r = curl("-v", *urls)
    assert r.returncode == 0, r
    want = read_file(root, "notes.txt") + read_file(root, "index.html") + read_file(root, "medium.bin") + \
        b"Hello, World!"
    assert r.stdout == want
    assert r.stderr.count(b"Connected to") == 1 and b"Re-using existing connection" in r.stderr, r.stderr
    # 404, 405 (with Allow), a directory redirect and its index.
    r = curl("-i", srv.url + "/no/such/file.txt")
    assert r.stdout.startswith(b"HTTP/1.1 404 "), r.stdout
    r = curl("-i", "-X", "DELETE", srv.url + "/notes.txt")
    assert r.stdout.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD\r\n" in r.stdout, r.stdout
    r = curl("-i", "--data-binary", "x", srv.url + "/notes.txt")
    assert r.stdout.startswith(b"HTTP/1.1 405 "), r.stdout
    r = curl("-i", srv.url + "/docs")
    assert r.stdout.startswith(b"HTTP/1.1 301 ") and b"Location: /docs/\r\n" in r.stdout, r.stdout
    r = curl("-L", srv.url + "/docs")
    assert r.stdout == read_file(root, "docs/index.html"), r
    r = curl("-i", srv.url + "/sub/")
    assert r.stdout.startswith(b"HTTP/1.1 404 "), r.stdout  # no index.html, no listing
    # A multi-MiB file, streamed with sendfile, arrives intact.
    out = os.path.join(top, "big.copy")
    r = curl("-o", out, srv.url + "/big.bin")
    assert r.returncode == 0 and read_file(top, "big.copy") == read_file(root, "big.bin"), r
    # Request bodies: Content-Length (curl sends Expect: 100-continue above 1 MiB) and chunked.
    body = os.urandom(3 << 20)
    want = f"{len(body)} bytes, crc32 {zlib.crc32(body):08x}\n".encode()
    r = curl("-v", "--data-binary", "@-", srv.url + "/", input=body)
    assert r.stdout == want and b"< HTTP/1.1 100 Continue" in r.stderr, r
    r = curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@-", srv.url + "/", input=body)
    assert r.stdout == want, r
    # HTTP/1.0 without keep-alive: the server closes.
    r = curl("-i", "--http1.0", srv.url + "/")
    assert b"Connection: close" in r.stdout and r.stdout.endswith(b"Hello, World!"), r.stdout
    srv.stop()
    shutil.rmtree(top)


def http_client_keepalive():
    top, root = make_root()
    srv = Server(root)
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("GET", "/")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"Hello, World!" and r.getheader("Connection") == "keep-alive"
    sock = c.sock
    for i in range(50):  # the same connection every time
        path = ["/", "/notes.txt", "/data.json", "/medium.bin"][i % 4]
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status)
        assert body == (b"Hello, World!" if path == "/" else read_file(root, path[1:])), path
        assert c.sock is sock, "http.client had to reconnect: keep-alive broken"
    c.request("HEAD", "/medium.bin")
    r = c.getresponse()
    assert r.status == 200 and int(r.getheader("Content-Length")) == 200 << 10 and r.read() == b""
    # Large bodies on the same connection: Content-Length, then chunked.
    body = os.urandom(8 << 20)
    want = f"{len(body)} bytes, crc32 {zlib.crc32(body):08x}\n".encode()
    c.request("POST", "/", body=body)
    r = c.getresponse()
    assert r.status == 200 and r.read() == want
    c.request("POST", "/", body=(body[i:i + 100003] for i in range(0, len(body), 100003)), encode_chunked=True,
              headers={"Transfer-Encoding": "chunked"})
    r = c.getresponse()
    assert r.status == 200 and r.read() == want
    # Big files over the same connection, then a small request after them.
    for _ in range(2):
        c.request("GET", "/big.bin")
        r = c.getresponse()
        assert r.status == 200 and int(r.getheader("Content-Length")) == BIG_SIZE
        assert r.read() == read_file(root, "big.bin")
    c.request("GET", "/")
    r = c.getresponse()
    assert r.read() == b"Hello, World!" and c.sock is sock
    # A body sent to a file path is read and dropped; the connection stays usable.
    c.request("PUT", "/notes.txt", body=b"z" * 70000)
    r = c.getresponse()
    assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"
    r.read()
    c.request("GET", "/")
    assert c.getresponse().read() == b"Hello, World!" and c.sock is sock
    c.close()
    # Expect: 100-continue: the server asks for the body before the client sends it.
    e = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    e.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    ef = e.makefile("rb")
    assert ef.readline() == b"HTTP/1.1 100 Continue\r\n" and ef.readline() == b"\r\n"
    e.sendall(b"hello")
    assert read_response(ef)[2] == f"5 bytes, crc32 {zlib.crc32(b'hello'):08x}\n".encode()
    e.close()
    # HTTP/1.0 with Connection: keep-alive stays open; without it, it closes.
    f = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    f.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /notes.txt HTTP/1.0\r\n\r\n")
    rf = f.makefile("rb")
    st, h, b = read_response(rf)
    assert st == 200 and h["connection"] == "keep-alive" and b == b"Hello, World!"
    st, h, b = read_response(rf)
    assert st == 200 and h["connection"] == "close" and b == read_file(root, "notes.txt")
    assert rf.read() == b""
    f.close()
    srv.stop()
    shutil.rmtree(top)


def http_pipelining():
    top, root = make_root()
    srv = Server(root)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    reqs, expect = [], []
    for i in range(300):
        kind = i % 6
        if kind in (0, 1, 2):
            reqs.append(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            expect.append((200, b"Hello, World!", False))
        elif kind == 3:
            reqs.append(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            expect.append((200, b"", True))
        elif kind == 4:
            reqs.append(b"GET /notes.txt?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            expect.append((200, read_file(root, "notes.txt"), False))
        else:
            body = b"p%d" % i
            reqs.append(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            expect.append((200, f"{len(body)} bytes, crc32 {zlib.crc32(body):08x}\n".encode(), False))
    # One burst, and a second burst split at awkward places (inside a head, a body).
    burst = b"".join(reqs)
    s.sendall(burst)
    rf = s.makefile("rb")
    for st_want, body_want, head_only in expect:
        st, h, body = read_response(rf, head_only)
        assert st == st_want and body == body_want, (st, body[:80])
    # A shorter burst split at every few bytes (inside request lines, heads, bodies).
    small, small_expect = reqs[:12], expect[:12]
    data = b"".join(small)
    for cut in range(1, len(data), 23):
        s.sendall(data[:cut])
        time.sleep(0.002)
        s.sendall(data[cut:])
        for st_want, body_want, head_only in small_expect:
            st, h, body = read_response(rf, head_only)
            assert st == st_want and body == body_want, (cut, st, body[:80])
    # A pipelined chunked body followed by a request in the same packet.
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
              b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    st, h, body = read_response(rf)
    assert body == f"11 bytes, crc32 {zlib.crc32(b'hello world'):08x}\n".encode(), body
    st, h, body = read_response(rf)
    assert body == b"Hello, World!" and h["connection"] == "close"
    assert rf.read() == b""
    s.close()
    srv.stop()
    shutil.rmtree(top)


def http_bad_requests():
    top, root = make_root()
    srv = Server(root, "--max-body-bytes", "100000")
    port = srv.port
    cases = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad(Header): y\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
        (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
        (b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 40000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad:" + b" " * 60000 + b"v\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"FFFF\r\n" + b"c" * 65535 +
         b"\r\nFFFF\r\n" + b"c" * 65535 + b"\r\n0\r\n\r\n", 413),
    ]
    for data, want in cases:
        try:
            resp = raw_exchange(port, data)
        except socket.timeout:
            raise AssertionError(f"no answer and no close for {data[:60]!r}")
        assert status_of(resp) == want, (data[:60], resp[:200])
        _, h = headers_of(resp.split(b"\r\n\r\n")[0])
        assert h["connection"] == "close", resp[:200]
        # raw_exchange returned: the server closed the connection after the error.
    # A bad request after good ones on a keep-alive connection: answers in order, then closes.
    resp = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\nBAD\r\n\r\n"
                              b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", resp)] == [200, 200, 400], resp
    # curl's view of the same limits.
    r = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", srv.url + "/" + "q" * 10000)
    assert r.stdout == b"414", r
    r = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Big: " + "h" * 40000, srv.url + "/")
    assert r.stdout == b"431", r
    # The server still serves.
    assert curl(srv.url + "/").stdout == b"Hello, World!"
    srv.stop()
    shutil.rmtree(top)


def model_status(root, target):
    """What http_server should answer to GET `target` (origin form): (status, body)."""
    path = urllib.parse.unquote(target.split("?")[0])
    parts = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                return 400, None
            parts.pop()
            continue
        parts.append(seg)
    if not parts:
        return 200, b"Hello, World!"
    full = os.path.join(root, *parts)
    last = [s for s in path.split("/") if s != ""]
    slash = path.endswith("/") or (last and last[-1] in (".", ".."))
    if os.path.isdir(full):
        if not slash:
            return 301, None
        full = os.path.join(full, "index.html")
    elif slash:
        return 404, None  # "/file.txt/" names no file (as nginx answers)
    if os.path.isfile(full):
        return 200, read_file(os.path.dirname(full), os.path.basename(full))
    return 404, None


def http_traversal():
    top, root = make_root()
    srv = Server(root)
    attempts = [
        b"/../secret.txt", b"/%2e%2e/secret.txt", b"/%2E%2E/secret.txt", b"/..%2fsecret.txt",
        b"/%2e%2e%2fsecret.txt", b"/sub/../../secret.txt", b"/sub/%2e%2e/%2e%2e/secret.txt",
        b"/./../secret.txt", b"/sub/deeper/../../../secret.txt", b"//../secret.txt", b"/..",
        b"/abs_link_out", b"/rel_link_out", b"/sub/up/secret.txt", b"/sub/up/root/notes.txt",
        b"/rootfs/etc/passwd", b"/etc/passwd", b"/..\\secret.txt", b"/%5c..%5csecret.txt",
        b"http://x/../secret.txt", b"http://x/%2e%2e/secret.txt", b"/secret.txt",
    ]
    for path in attempts:
        resp = raw_exchange(srv.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        st = status_of(resp)
        assert st in (400, 403, 404), (path, resp[:200])
        assert SECRET not in resp and b"root:" not in resp, (path, resp[:200])
    for path in (b"/sub/../notes.txt", b"/sub/./deeper/%2e%2e/../notes.txt", b"/link_in", b"/notes%2etxt",
                 b"http://example.com/notes.txt", b"//notes.txt", b"/notes.txt#frag"):
        resp = raw_exchange(srv.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(resp) == 200 and resp.endswith(read_file(root, "notes.txt")), (path, resp[:200])
    # Random targets built from traversal pieces, checked against a model of the rules
    # (decode, then normalise; above the root is 400), on one keep-alive connection
    # (http.client reconnects after a 400 closed it).
    rng = random.Random(6)
    pieces = ["/", "/", "..", ".", "%2e", "%2E", "%2f", "%2F", "sub", "deeper", "notes.txt", "page.html", "docs",
              "%2e%2e", "secret.txt", "//"]
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    for _ in range(400):
        target = "/" + "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        c.putrequest("GET", target, skip_accept_encoding=True)
        c.endheaders()
        r = c.getresponse()
        body = r.read()
        assert SECRET not in body, target
        want = model_status(root, target)
        assert r.status == want[0], (target, r.status, want)
        if r.status == 200:
            assert body == want[1], target
    c.close()
    # curl normalises ../ itself unless told not to.
    r = curl("--path-as-is", "-s", "-o", "/dev/null", "-w", "%{http_code}", srv.url + "/../secret.txt")
    assert r.stdout in (b"400", b"403", b"404"), r
    srv.stop()
    shutil.rmtree(top)


def http_slowloris():
    top, root = make_root()
    srv = Server(root, "--idle-timeout-ms", "500")
    base = srv.fds()
    # A client that connects and sends nothing, one that sends a head a byte at a time
    # (faster than the timeout, but never finishing within it), one that goes idle
    # after a request, and one that stops halfway through a body.
    idle = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    after = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    after.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert after.recv(4096).endswith(b"Hello, World!")
    body = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    body.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
    trickle = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 400 + b"\r\n\r\n"
    dropped = False
    deadline = time.time() + 60
    i = 0
    while i < len(head) and time.time() < deadline:
        try:
            trickle.sendall(head[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
            break
        i += 1
        time.sleep(0.05)
    if not dropped:
        dropped = closed_by_server(trickle)
    assert dropped and i < len(head), f"the trickling client was not dropped ({i} of {len(head)} bytes sent)"
    for name, s in (("idle", idle), ("idle after a request", after), ("stalled body", body)):
        assert closed_by_server(s), f"the {name} client was not dropped"
    for s in (idle, after, body, trickle):
        s.close()
    # Their green threads and fds are gone: back to the listener's fds only.
    deadline = time.time() + 20
    while srv.fds() > base and time.time() < deadline:
        time.sleep(0.05)
    assert srv.fds() == base, f"{srv.fds()} fds open, {base} before"
    # A client that keeps requesting in time is served throughout.
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    for _ in range(5):
        c.request("GET", "/")
        assert c.getresponse().read() == b"Hello, World!"
        time.sleep(0.1)
    c.close()
    out = srv.stop()
    assert "(0 connection(s) open)" in out or "(1 connection(s) open)" in out, out
    shutil.rmtree(top)


def http_big_files():
    top, root = make_root()
    srv = Server(root)
    # Two big downloads at once, one read slowly, while small requests keep being
    # answered: nothing waits for a file's transfer (or its disk reads) but its own.
    slow = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    slow.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    first = slow.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 ") and b"Content-Length: %d\r\n" % BIG_SIZE in first
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    for _ in range(20):
        c.request("GET", "/")
        assert c.getresponse().read() == b"Hello, World!"
    r = curl(srv.url + "/big.bin")
    assert r.returncode == 0 and r.stdout == read_file(root, "big.bin")
    got = first.split(b"\r\n\r\n", 1)[1]
    slow.settimeout(30)
    while len(got) < BIG_SIZE:
        chunk = slow.recv(1 << 20)
        assert chunk, f"the slow download ended after {len(got)} bytes"
        got += chunk
    assert got == read_file(root, "big.bin")
    # The same connection goes on after the file.
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(slow.makefile("rb"))[2] == b"Hello, World!"
    slow.close()
    c.close()
    srv.stop()
    shutil.rmtree(top)


def http_batching():
    """A pipelined burst of 100 `GET /` read in one recv is answered with one send,
    not one per request (counted with strace)."""
    if subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True).returncode != 0:
        print("strace cannot trace here (ptrace refused): skipped")
        sys.exit(77)
    top, root = make_root()
    trace = os.path.join(top, "strace.txt")
    # LeakSanitizer cannot run under ptrace (an ASan build's server would fail at exit).
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", trace, "-e", "trace=sendto,sendmsg,write,writev",
                             os.path.join(SAMPLES, "http_server"), "--port", "0", "--root", root],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    STARTED.append(proc)

    def server_pid():
        # The traced server itself (a signal to strace would only detach it).
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            for pid in f.read().split():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as c:
                        if c.read().split(b"\0")[0].endswith(b"http_server"):
                            return int(pid)
                except FileNotFoundError:
                    pass
        return None

    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        assert m, line
        s = socket.create_connection(("127.0.0.1", int(m.group(2))), timeout=30)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 100)
        rf = s.makefile("rb")
        for _ in range(100):
            assert read_response(rf)[2] == b"Hello, World!"
        s.close()
    finally:
        pid = server_pid()
        if pid:
            os.kill(pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out, (out, err)
    with open(trace) as f:
        sends = [ln for ln in f if "HTTP/1.1 200" in ln]
    # One send in the common case; a few if the burst arrived in pieces.
    assert 1 <= len(sends) <= 5, f"{len(sends)} sends for 100 pipelined requests"
    print(f"{len(sends)} send(s) for 100 pipelined requests")
    shutil.rmtree(top)


def http_wrk():
    assert shutil.which("wrk"), "wrk missing (Debian package wrk)"
    top, root = make_root()
    srv = Server(root)
    r = subprocess.run(["wrk", "-t1", "-c50", "-d2s", "--timeout", "20s", srv.url + "/"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r
    m = re.search(r"(\d+) requests in", r.stdout)
    assert m and int(m.group(1)) > 0, r.stdout
    assert "Socket errors" not in r.stdout and "Non-2xx" not in r.stdout, r.stdout
    r = subprocess.run(["wrk", "-t1", "-c10", "-d1s", "--timeout", "20s", srv.url + "/notes.txt"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Socket errors" not in r.stdout and "Non-2xx" not in r.stdout, r.stdout
    srv.stop()
    shutil.rmtree(top)


def http_many_keepalive(srv, root, clients=20, requests=25):
    """clients keep-alive connections, each making `requests` GETs of / and a file; every
    body checked. The clients are interleaved so that several hubs / workers serve at once."""
    conns = [http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20) for _ in range(clients)]
    notes = read_file(root, "notes.txt")
    for i in range(requests):
        for c in conns:
            path, want = ("/", b"Hello, World!") if i % 2 == 0 else ("/notes.txt", notes)
            c.request("GET", path)
            r = c.getresponse()
            assert r.status == 200 and r.read() == want, (path, r.status)
    for c in conns:
        c.close()


def http_hubs():
    """--hubs 2: both hubs' Date caches and responses stay right under wrk and keep-alive clients."""
    top, root = make_root()
    srv = Server(root, "--hubs", "2")
    assert len(os.listdir(f"/proc/{srv.proc.pid}/task")) >= 2
    http_many_keepalive(srv, root)
    r = subprocess.run(["wrk", "-t2", "-c50", "-d2s", "--timeout", "20s", srv.url + "/"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "Socket errors" not in r.stdout and "Non-2xx" not in r.stdout, r.stdout
    srv.stop()
    shutil.rmtree(top)


def http_workers():
    """--workers 2: two worker processes serve; SIGINT to the supervisor stops both, none left."""
    top, root = make_root()
    srv = Server(root, "--workers", "2")
    pid = srv.proc.pid
    deadline = time.time() + 15
    kids = []
    while time.time() < deadline:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
        if len(kids) == 2:
            break
        time.sleep(0.05)
    assert len(kids) == 2, kids
    http_many_keepalive(srv, root)
    out = srv.stop()
    assert "stopped" in out, out
    for k in kids:
        assert not os.path.exists(f"/proc/{k}"), f"worker {k} left behind"
    shutil.rmtree(top)


SCENARIOS = {f.__name__: f for f in (http_curl, http_client_keepalive, http_pipelining, http_bad_requests,
                                     http_traversal, http_slowloris, http_big_files, http_batching, http_wrk,
                                     http_hubs, http_workers)}

if __name__ == "__main__":
    try:
        SCENARIOS[sys.argv[1]]()
    finally:
        for p in STARTED:
            if p.poll() is None:
                p.kill()
                p.wait()
    print(f"{sys.argv[1]}: ok")
