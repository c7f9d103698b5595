#!/usr/bin/env python3
"""Drives grove's TLS samples (tls_echo_server, https_get, http_server --tls-cert) with TLS stacks no one here wrote: openssl s_client and
s_server, python3's ssl module and curl, with a throwaway CA made by the openssl
command (as samples/tls_echo_server/main.cpp's comment shows).

    drive_tls.py SCENARIO BUILD_SAMPLES_DIR
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

SAMPLES = sys.argv[2] if len(sys.argv) > 2 else "."


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30, **kw)


class Pki:
    """A CA and a localhost certificate in a temporary directory, made with openssl."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="grove-drive-tls-")
        p = self.path
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run("openssl", "req", "-x509", *ec, "-days", "2", "-subj", "/CN=grove drive_tls CA",
            "-keyout", p("ca.key"), "-out", p("ca.pem"))
        run("openssl", "req", *ec, "-subj", "/CN=localhost", "-keyout", p("server.key"), "-out", p("server.csr"))
        with open(p("ext.cnf"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        run("openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", p("ext.cnf"), "-out", p("server.pem"))
        self.ca, self.cert, self.key = p("ca.pem"), p("server.pem"), p("server.key")

    def path(self, name):
        return os.path.join(self.dir, name)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class EchoServer:
    def __init__(self, pki, *extra):
        self.proc = subprocess.Popen([os.path.join(SAMPLES, "tls_echo_server"), "--cert", pki.cert, "--key", pki.key,
                                      "--port", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"tls_echo_server: no 'listening on' line, got {line!r}: {self.proc.stderr.read()}")
        self.port = int(m.group(2))

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}: {out} {err}"


def client_context(pki):
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def python_echo(pki, port, payload, ctx=None, session=None):
    ctx = ctx or client_context(pki)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(payload)
            got = bytearray()
            while len(got) < len(payload):
                chunk = s.recv(65536)
                assert chunk, f"end of file after {len(got)} of {len(payload)} bytes"
                got += chunk
            assert bytes(got) == payload
            return s.version(), s.selected_alpn_protocol(), s.session, s.session_reused


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ scenarios

def tls_python_ssl(pki):
    srv = EchoServer(pki, "--alpn", "http/1.1")
    version, alpn, _, _ = python_echo(pki, srv.port, b"hello grove\n")
    assert version == "TLSv1.3", version
    assert alpn is None  # none offered
    ctx = client_context(pki)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    _, alpn, _, _ = python_echo(pki, srv.port, os.urandom(3 << 20), ctx)  # more than the socket buffers
    assert alpn == "http/1.1", alpn
    ctx12 = client_context(pki)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    version, _, _, _ = python_echo(pki, srv.port, b"twelve", ctx12)
    assert version == "TLSv1.2", version
    # Resumption from the server's ticket.
    ctx = client_context(pki)
    _, _, session, reused = python_echo(pki, srv.port, b"first", ctx)
    assert not reused
    _, _, _, reused = python_echo(pki, srv.port, b"second", ctx, session)
    assert reused, "the second connection did not resume the session"
    # python refuses the server under another name.
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
            client_context(pki).wrap_socket(raw, server_hostname="other.test")
        raise AssertionError("wrong host name accepted")
    except ssl.SSLCertVerificationError:
        pass
    python_echo(pki, srv.port, b"still serving")
    srv.stop()


def tls_s_client(pki):
    srv = EchoServer(pki)
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-servername", "localhost",
                          "-CAfile", pki.ca, "-verify_return_error", "-quiet", "-no_ign_eof"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write("hello from s_client\n")
    p.stdin.flush()
    line = p.stdout.readline()
    assert line == "hello from s_client\n", (line, p.stderr.read() if p.poll() is not None else "")
    p.stdin.close()
    p.wait(timeout=10)
    assert p.returncode == 0, p.stderr.read()
    # s_client refuses it without the CA.
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-servername", "localhost",
                        "-no-CAfile", "-no-CApath", "-no-CAstore", "-verify_return_error"], input="", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "verify error" in r.stdout + r.stderr, r.stdout + r.stderr
    python_echo(pki, srv.port, b"still serving")
    srv.stop()


def tls_curl(pki):
    # An echo server answers curl's request with the request itself: --http0.9 takes
    # it as the body; the connection stays open, so --max-time ends it (exit 28).
    srv = EchoServer(pki)
    r = subprocess.run(["curl", "-sS", "-v", "--http0.9", "--max-time", "2", "--cacert", pki.ca,
                        f"https://localhost:{srv.port}/grove"], capture_output=True, text=True, timeout=30)
    assert "SSL certificate verify ok" in r.stderr, r.stderr
    assert r.returncode == 28 and r.stdout.startswith("GET /grove HTTP/1.1\n"), (r.returncode, r.stdout, r.stderr)
    assert "TLSv1.3" in r.stderr, r.stderr
    r = subprocess.run(["curl", "-sS", "--max-time", "5", f"https://localhost:{srv.port}/"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 60, (r.returncode, r.stderr)  # peer certificate cannot be authenticated
    python_echo(pki, srv.port, b"still serving")
    srv.stop()


def tls_https_get(pki):
    # grove's client against openssl s_server (-WWW serves files from its directory).
    body = "served by openssl s_server\n" * 100
    with open(pki.path("hello.txt"), "w") as f:
        f.write(body)
    port = free_port()
    s = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", pki.cert, "-key", pki.key,
                          "-WWW"], cwd=pki.dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(20):  # "Using default temp DH parameters", then "ACCEPT"
            if "ACCEPT" in s.stdout.readline():
                break
        get = os.path.join(SAMPLES, "https_get")
        r = subprocess.run([get, "--cacert", pki.ca, f"https://localhost:{port}/hello.txt"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, (r.returncode, r.stderr)
        assert r.stdout == body, r.stdout[:200]
        assert "TLSv1.3" in r.stderr, r.stderr
        r = subprocess.run([get, f"https://127.0.0.1:{port}/hello.txt", "--cacert", pki.ca], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and r.stdout == body, (r.returncode, r.stderr)
        # The system's CAs do not know the throwaway one.
        r = subprocess.run([get, f"https://localhost:{port}/hello.txt"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 3 and "certificate verify failed" in r.stderr, (r.returncode, r.stderr)
        r = subprocess.run([get, "--insecure", f"https://localhost:{port}/hello.txt"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and "NOT VERIFIED" in r.stderr, (r.returncode, r.stderr)
    finally:
        s.kill()
        s.wait()


def tls_faults(pki):
    srv = EchoServer(pki, "--handshake-timeout-ms", "300")
    python_echo(pki, srv.port, b"warm up")
    time.sleep(0.2)
    base = srv.fds()
    # Plaintext HTTP to the TLS port.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        c.recv(4096)
    # Connect and close, and half a ClientHello then close.
    socket.create_connection(("127.0.0.1", srv.port), timeout=10).close()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
        c.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    # A client that refuses the server's certificate (unknown CA) and says so.
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
            ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    except ssl.SSLCertVerificationError:
        pass
    # A reset in the middle of a record.
    with client_context(pki).wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10),
                                         server_hostname="localhost") as s:
        s.sendall(b"x")
        s.recv(1)
        with socket.socket(fileno=os.dup(s.fileno())) as raw:  # under the TLS layer
            raw.sendall(b"\x17\x03\x03\x40\x00" + b"\x00" * 100)  # a record header promising 16 KiB
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()  # raw's close, the last reference, then resets (SO_LINGER 0)
    # A client that stalls in the handshake: dropped after 300 ms.
    stalled = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    t0 = time.time()
    assert stalled.recv(10) == b""
    assert time.time() - t0 < 2, time.time() - t0
    stalled.close()
    python_echo(pki, srv.port, b"still serving")
    for _ in range(100):
        if srv.fds() == base:
            break
        time.sleep(0.02)
    assert srv.fds() == base, f"{srv.fds()} fds open, {base} before"
    srv.stop()


class HttpsServer:
    """samples/http_server with --tls-cert / --tls-key over a root with a small and a big file."""

    def __init__(self, pki):
        self.root = pki.path("www")
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, "small.txt"), "w") as f:
            f.write("small file\n")
        self.big = bytes((i * 7 + i // 1000) % 256 for i in range(3 * 1024 * 1024))  # well over the inline limit
        with open(os.path.join(self.root, "big.bin"), "wb") as f:
            f.write(self.big)
        self.proc = subprocess.Popen([os.path.join(SAMPLES, "http_server"), "--port", "0", "--root", self.root,
                                      "--tls-cert", pki.cert, "--tls-key", pki.key], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"http_server: no 'listening on' line, got {line!r}: {self.proc.stderr.read()}")
        self.port = int(m.group(2))

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}: {out} {err}"


def read_response(f):
    """One HTTP/1.1 response with Content-Length from a file object: (status line, headers, body)."""
    status = f.readline().decode()
    headers = {}
    while True:
        line = f.readline().decode()
        if line in ("\r\n", ""):
            break
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return status, headers, f.read(int(headers["content-length"]))


def tls_http_server(pki):
    srv = HttpsServer(pki)
    ctx = client_context(pki)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    # Keep-alive over one verified connection: ALPN picks http/1.1; a big file (no
    # sendfile under TLS) arrives whole; "Connection: close" ends with close_notify
    # (suppress_ragged_eofs=False: a missing one would raise SSLEOFError).
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as s:
            assert s.selected_alpn_protocol() == "http/1.1", s.selected_alpn_protocol()
            assert s.version() == "TLSv1.3", s.version()
            f = s.makefile("rb")
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status, _, body = read_response(f)
            assert status.startswith("HTTP/1.1 200") and body == b"Hello, World!", (status, body)
            status, _, body = read_response(f)
            assert status.startswith("HTTP/1.1 200") and body == b"small file\n", (status, body)
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            status, headers, body = read_response(f)
            assert status.startswith("HTTP/1.1 200") and headers.get("connection") == "close", (status, headers)
            assert body == srv.big, f"{len(body)} bytes, expected {len(srv.big)}"
            assert f.read() == b""  # a clean end: close_notify, then the TCP FIN
    # curl, verifying, with HEAD and a 404.
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca, "-o", pki.path("got.bin"), "-w", "%{http_code}",
                        f"https://localhost:{srv.port}/big.bin"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "200", (r.returncode, r.stdout, r.stderr)
    with open(pki.path("got.bin"), "rb") as f:
        assert f.read() == srv.big
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca, "-o", "/dev/null", "-w", "%{http_code}",
                        f"https://localhost:{srv.port}/missing"], capture_output=True, text=True, timeout=30)
    assert r.stdout == "404", (r.returncode, r.stdout, r.stderr)
    time.sleep(0.2)
    base = srv.fds()
    # Plaintext HTTP to the HTTPS port ends that connection only.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert b"Hello" not in c.recv(4096)
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca, f"https://localhost:{srv.port}/"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "Hello, World!", (r.returncode, r.stdout, r.stderr)
    for _ in range(100):
        if srv.fds() == base:
            break
        time.sleep(0.02)
    assert srv.fds() == base, f"{srv.fds()} fds open, {base} before"
    srv.stop()


SCENARIOS = {f.__name__: f for f in [tls_python_ssl, tls_s_client, tls_curl, tls_https_get, tls_faults,
                                     tls_http_server]}

if __name__ == "__main__":
    pki = Pki()
    try:
        SCENARIOS[sys.argv[1]](pki)
    finally:
        pki.close()
    print(f"{sys.argv[1]}: ok")
