#!/usr/bin/env python3
"""Bad input for samples/http_server and samples/kv_server: each scenario checks that
the sample answers as nginx / RFC 9112 or a real redis-server does.

    drive_server_faults.py SCENARIO BUILD_SAMPLES_DIR
    drive_server_faults.py all BUILD_SAMPLES_DIR     (runs every scenario, reports each)
"""
import os
import shutil
import socket
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drive_http_server as H  # noqa: E402
import drive_kv_server as K  # noqa: E402

H.SAMPLES = K.SAMPLES = sys.argv[2] if len(sys.argv) > 2 else "."


def get(port, target, extra=b""):
    """One GET with Connection: close; the whole response as bytes."""
    return H.raw_exchange(port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra +
                          b"Connection: close\r\n\r\n")


def http_scenario(fn):
    """Runs fn(srv, root) against a fresh http_server over make_root()'s tree."""
    def run():
        top, root = H.make_root()
        srv = H.Server(root)
        try:
            fn(srv, root)
        finally:
            srv.stop()
            shutil.rmtree(top)
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


# --- http_server ---

@http_scenario
def http_location_protocol_relative(srv, root):
    """GET //docs (a directory) answers 301 with "Location: //docs/", a
    protocol-relative URL that browsers resolve to the host "docs" (an open
    redirect). nginx answers with the normalised path ("/docs/", made absolute)."""
    for target in (b"//docs", b"///docs", b"http://x//docs"):
        resp = get(srv.port, target)
        assert H.status_of(resp) == 301, resp[:200]
        loc = H.headers_of(resp.split(b"\r\n\r\n")[0])[1]["location"]
        assert not loc.startswith("//"), f"{target!r}: Location {loc!r} names another host"


@http_scenario
def http_chunk_data_without_crlf(srv, root):
    """RFC 9112 7.1: chunk-data is followed by CRLF. http_parser (built without
    HTTP_PARSER_STRICT) skips any two bytes there, so "3\\r\\nabcXX0\\r\\n\\r\\n" is
    accepted as the body "abc": a framing disagreement with any strict front end
    (request smuggling). nginx answers 400."""
    resp = H.raw_exchange(srv.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                    b"Connection: close\r\n\r\n3\r\nabcXX0\r\n\r\n")
    assert H.status_of(resp) == 400, resp[:200]
    # The CRLF after a chunk may arrive in another read than the chunk: sent a byte at
    # a time, a good body is accepted and a bad one still refused.
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    for body, status in ((b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 200), (b"3\r\nabc\rX0\r\n\r\n", 400)):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(head)
        for i in range(len(body)):
            s.sendall(body[i:i + 1])
            time.sleep(0.005)
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        s.close()
        assert H.status_of(got) == status, (body, got[:200])


def http_10_transfer_encoding():
    """RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing
    and the connection MUST close after it (nginx answers 400). http_server decodes
    it as chunked and, with "Connection: keep-alive", serves the next request on the
    same connection."""
    top, root = H.make_root()
    srv = H.Server(root)
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        s.sendall(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n0\r\n\r\nGET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        f = s.makefile("rb")
        status, hdrs, _ = H.read_response(f)
        s.settimeout(3)
        try:
            second = f.readline()
        except OSError:
            second = b""
        s.close()
        assert status == 400 or (hdrs.get("connection") == "close" and not second), \
            f"answered {status} ({hdrs.get('connection')}), then served {second!r}"
    finally:
        srv.stop()
        shutil.rmtree(top)


@http_scenario
def http_trailing_slash_on_file(srv, root):
    """/notes.txt/ names a directory that does not exist: nginx (and open(2) of
    "notes.txt/") answer 404; http_server drops the slash and serves the file."""
    for target in (b"/notes.txt/", b"/notes.txt/.", b"/notes.txt%2f", b"/sub/deeper/page.html/"):
        resp = get(srv.port, target)
        assert H.status_of(resp) == 404, f"{target!r}: {resp[:60]!r}"


@http_scenario
def http_lenient_headers(srv, root):
    """Header checks nginx makes and http_server does not (each answered 400 by
    nginx 1.22): a duplicated Transfer-Encoding (RFC 9112 7: chunked at most once),
    an invalid Host value (RFC 9112 3.2: MUST answer 400), and obs-fold (RFC 9112
    5.2: reject, or replace with SP before interpreting; the Host below becomes
    "x y", invalid)."""
    bad = {
        "duplicate Transfer-Encoding": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                       b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "Host with a space and a slash": b"GET /notes.txt HTTP/1.1\r\nHost: a b/c\r\nConnection: close\r\n\r\n",
        "obs-fold in Host": b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n y\r\nConnection: close\r\n\r\n",
    }
    wrong = []
    for what, req in bad.items():
        st = H.status_of(H.raw_exchange(srv.port, req))
        if st != 400:
            wrong.append(f"{what}: {st}")
    assert not wrong, "; ".join(wrong)


# --- kv_server ---

def kv_compare(requests):
    """Sends each request to redis-server and kv_server; returns the differences."""
    ref = K.RedisServer()
    srv = K.KvServer()
    diffs = []
    try:
        a, b = K.Resp(ref.path), K.Resp(srv.port)
        for req in requests:
            a.send(*req)
            b.send(*req)
            want, got = a.reply_raw(), b.reply_raw()
            if want != got:
                diffs.append(f"{req}: redis-server {want!r}, kv_server {got!r}")
        a.close()
        b.close()
    finally:
        ref.stop()
        srv.stop()
    return diffs


def kv_expire_large_negative():
    """EXPIRE / PEXPIRE with a large negative time: redis deletes the key (the time
    is in the past) and replies 1; kv_server replies "invalid expire time" and the
    key lives on. now + t * unit cannot overflow for t * unit >= LLONG_MIN and now >= 0,
    so the check that refuses it has nothing to guard."""
    diffs = kv_compare([
        ["SET", "k", "v"], ["PEXPIRE", "k", "-9223372036854775808"], ["EXISTS", "k"],
        ["SET", "k", "v"], ["PEXPIRE", "k", "-9223372036854775000"], ["EXISTS", "k"],
        ["SET", "k", "v"], ["EXPIRE", "k", "-9223372036854775"], ["EXISTS", "k"],
    ])
    assert not diffs, "\n".join(diffs)


def kv_set_repeated_ex():
    """SET key value EX 1 EX 1 (the same option twice): redis 7 accepts it (only a
    different one, PX after EX or KEEPTTL, is a syntax error); kv_server answers
    "ERR syntax error"."""
    diffs = kv_compare([["SET", "e", "v", "EX", "100", "EX", "100"], ["SET", "e", "v", "PX", "100", "PX", "100"],
                        ["SET", "e", "v", "EX", "100", "PX", "100"], ["EXISTS", "e"]])
    assert not diffs, "\n".join(diffs)


def kv_expire_far_future():
    """A time near LLONG_MAX ms: redis refuses it when it overflows past the Unix
    epoch-based clock ("invalid expire time"); kv_server measures from
    CLOCK_MONOTONIC (small since boot) and accepts it."""
    diffs = kv_compare([["SET", "k", "v"], ["PEXPIRE", "k", "9223372000000000000"],
                        ["SET", "k", "v", "PX", "9223372000000000000"]])
    assert not diffs, "\n".join(diffs)


SCENARIOS = {f.__name__: f for f in (
    http_location_protocol_relative, http_chunk_data_without_crlf, http_10_transfer_encoding,
    http_trailing_slash_on_file, http_lenient_headers, kv_expire_large_negative,
    kv_set_repeated_ex, kv_expire_far_future)}


def run(name):
    try:
        SCENARIOS[name]()
        print(f"{name}: ok")
        return True
    except AssertionError as e:
        print(f"{name}: FAILED: {e}")
        return False
    except Exception:
        print(f"{name}: ERROR")
        traceback.print_exc()
        return False
    finally:
        for p in H.STARTED + K.STARTED:
            if p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    names = list(SCENARIOS) if sys.argv[1] == "all" else [sys.argv[1]]
    results = [run(n) for n in names]
    sys.exit(0 if all(results) else 1)
