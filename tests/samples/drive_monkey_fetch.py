#!/usr/bin/env python3
"""Drives samples/monkey_fetch against a local HTTP server whose every response is
delayed, and checks the fetches overlap (patched) or do not (--no-patch).

    drive_monkey_fetch.py BUILD_SAMPLES_DIR

The server (python3's http.server, threaded, on 127.0.0.1 port 0) counts requests in
flight. In the patched run every request waits at a barrier until all N have arrived
(so the run completes quickly only if all N are in flight at once, however slowly
the machine schedules the server's threads; the barrier gives up after 20 s). The
unpatched run delays each response by D and must have at most 1 in flight.
"""
import http.server
import os
import subprocess
import sys
import threading
import time

DELAY = 0.05
N = 100
BARRIER_TIMEOUT = 20


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0
        self.barrier = None  # set: every request waits until this many are in flight


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        s = self.server
        with s.lock:
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
        if s.barrier:
            try:
                s.barrier.wait(timeout=BARRIER_TIMEOUT)
            except threading.BrokenBarrierError:
                pass  # not all in flight: the test fails on max_in_flight
        else:
            time.sleep(DELAY)
        # Leave the count before answering: once the client has the response it may
        # send its next request before this thread runs again.
        with s.lock:
            s.in_flight -= 1
            s.served += 1
        body = ("hello from " + self.path + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run(exe, urls, *flags):
    t0 = time.monotonic()
    p = subprocess.run([exe, *flags, *urls], capture_output=True, text=True, timeout=60)
    return p, time.monotonic() - t0


def main():
    exe = os.path.join(sys.argv[1], "monkey_fetch")
    srv = Server()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    urls = [f"http://127.0.0.1:{port}/item/{i}" for i in range(N)]
    try:
        srv.barrier = threading.Barrier(N)
        p, secs = run(exe, urls)
        srv.barrier = None
        assert p.returncode == 0, f"patched run failed: {p.returncode} {p.stdout[-500:]} {p.stderr[-500:]}"
        lines = p.stdout.splitlines()
        assert lines[-1].startswith(f"fetched {N} of {N}"), lines[-1]
        assert sum(1 for l in lines if l.startswith("200 ")) == N, p.stdout[-500:]
        assert srv.max_in_flight == N, f"patched: only {srv.max_in_flight} of {N} requests were in flight at once"
        assert secs < BARRIER_TIMEOUT, f"patched: {secs:.2f} s: the fetches did not overlap"
        print(f"patched: {N} fetches, {srv.max_in_flight} in flight at once, {secs:.2f} s")

        srv.max_in_flight = 0
        few = urls[:10]
        p, secs = run(exe, few, "--no-patch")
        assert p.returncode == 0, f"unpatched run failed: {p.stdout[-500:]} {p.stderr[-500:]}"
        assert srv.max_in_flight == 1, f"unpatched: {srv.max_in_flight} in flight (expected serial)"
        assert secs >= len(few) * DELAY, f"unpatched: {secs:.2f} s is faster than serial"
        print(f"unpatched: {len(few)} fetches one after another, {secs:.2f} s")
    finally:
        srv.shutdown()


if __name__ == "__main__":
    main()
