#!/usr/bin/env python3
"""wrk over https against samples/http_server --tls-cert / --tls-key: 2 s of keep-alive
requests on 50 connections (TLS 1.3, ALPN not offered by wrk), then the same with
"Connection: close" (a handshake per request). Every request must be answered: a
non-zero count, no socket errors, no non-2xx responses; the server keeps serving and
closes every connection it was given.

    drive_https_wrk.py BUILD_SAMPLES_DIR
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drive_tls  # noqa: E402  (Pki, HttpsServer: the throwaway CA and the server)

SAMPLES = sys.argv[1] if len(sys.argv) > 1 else "."
drive_tls.SAMPLES = SAMPLES


def wrk(port, *extra):
    r = subprocess.run(["wrk", "-t1", "-c50", "-d2s", *extra, f"https://127.0.0.1:{port}/"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    out = r.stdout
    m = re.search(r"(\d+) requests in", out)
    assert m, "wrk output not understood:\n" + out
    n = int(m.group(1))
    assert n > 0, out
    assert "Socket errors" not in out, out
    assert "Non-2xx or 3xx responses" not in out, out
    return n


def main():
    pki = drive_tls.Pki()
    try:
        srv = drive_tls.HttpsServer(pki)
        base = srv.fds()
        keepalive = wrk(srv.port)
        close = wrk(srv.port, "-H", "Connection: close")
        print(f"wrk over https: {keepalive} keep-alive requests, {close} with a handshake each, in 2 s each")
        # Far more requests than connections: keep-alive connections were reused.
        assert keepalive > 50 * 10, keepalive
        # Still serving (curl, verifying), and every connection closed.
        r = subprocess.run(["curl", "-sS", "--cacert", pki.ca, f"https://localhost:{srv.port}/"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and r.stdout == "Hello, World!", (r.returncode, r.stdout, r.stderr)
        for _ in range(250):
            if srv.fds() == base:
                break
            time.sleep(0.02)
        assert srv.fds() == base, f"{srv.fds()} fds open, {base} before"
        srv.stop()
    finally:
        pki.close()


if __name__ == "__main__":
    main()
