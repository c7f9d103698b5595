#!/usr/bin/env python3
"""Drives samples/kv_server with clients no one here wrote: redis-cli (Debian's
redis-tools), hiredis (tests/samples/kv_hiredis_client.cpp links Debian's
libhiredis-dev) and python3's socket module speaking raw RESP, and checks its replies
byte for byte against a real redis-server (Debian's redis-server) given the same
requests. kv_batching counts the server's sends with strace.

    drive_kv_server.py SCENARIO BUILD_SAMPLES_DIR [KV_HIREDIS_CLIENT]

Each scenario starts kv_server on port 0, reads its "listening on H:P" line, talks to
it, stops it with SIGINT/SIGTERM and checks it exits cleanly.
"""
import atexit
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SAMPLES = sys.argv[2] if len(sys.argv) > 2 else "."
HIREDIS_CLIENT = sys.argv[3] if len(sys.argv) > 3 else None
STARTED = []  # servers to kill if a scenario fails half way


@atexit.register
def kill_leftovers():
    for p in STARTED:
        if p.poll() is None:
            p.kill()


class KvServer:
    def __init__(self, *args):
        self.proc = subprocess.Popen([os.path.join(SAMPLES, "kv_server"), "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        STARTED.append(self.proc)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"kv_server: no 'listening on' line, got {line!r}: {self.proc.stderr.read()}")
        self.port = int(m.group(2))

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}: {out} {err}"
        assert "stopped" in out, out
        assert not err.strip(), f"kv_server wrote to stderr: {err}"  # e.g. an exception escaping a handler
        return out, err


class RedisServer:
    """A real redis-server on a Unix socket, the reference for replies."""

    def __init__(self):
        assert shutil.which("redis-server"), "redis-server missing (Debian package redis-server)"
        self.dir = tempfile.mkdtemp(prefix="kv-ref-")
        self.path = os.path.join(self.dir, "redis.sock")
        self.proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", self.path, "--save", "",
                                      "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        STARTED.append(self.proc)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                Resp(self.path).cmd("PING")
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


class RespError(Exception):
    pass


class Resp:
    """A RESP2 client on a raw socket: requests as arrays of bulk strings."""

    def __init__(self, where, timeout=20):
        if isinstance(where, int):
            self.s = socket.create_connection(("127.0.0.1", where), timeout=timeout)
        else:
            self.s = socket.socket(socket.AF_UNIX)
            self.s.settimeout(timeout)
            self.s.connect(where)
        self.buf = b""

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *args):
        self.s.sendall(self.encode(*args))

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply_raw(self):
        """One whole reply, as the bytes the server sent."""
        raw = bytearray()

        def line():
            ln = self._line()
            raw.extend(ln + b"\r\n")
            return ln

        def one():
            ln = line()
            t, rest = ln[:1], ln[1:]
            if t in (b"+", b"-", b":"):
                return
            n = int(rest)
            if t == b"$":
                if n < 0:
                    return
                while len(self.buf) < n + 2:
                    self._fill()
                raw.extend(self.buf[:n + 2])
                self.buf = self.buf[n + 2:]
            elif t == b"*":
                for _ in range(max(n, 0)):
                    one()
            else:
                raise AssertionError(f"bad reply type {ln!r}")

        one()
        return bytes(raw)

    def reply(self):
        return parse(self.reply_raw())

    def cmd(self, *args):
        self.send(*args)
        r = self.reply()
        if isinstance(r, RespError):
            raise r
        return r

    def try_cmd(self, *args):
        self.send(*args)
        return self.reply()

    def read_until_closed(self):
        """Everything the server sends until it closes the connection."""
        data = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.s.recv(1 << 16)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def close(self):
        self.s.close()


def parse(raw):
    """A reply's bytes as Python: str (status), RespError, int, bytes, None, list."""

    def one(i):
        j = raw.index(b"\r\n", i)
        t, rest = raw[i:i + 1], raw[i + 1:j]
        i = j + 2
        if t == b"+":
            return rest.decode(), i
        if t == b"-":
            return RespError(rest.decode()), i
        if t == b":":
            return int(rest), i
        n = int(rest)
        if t == b"$":
            return (None, i) if n < 0 else (raw[i:i + n], i + n + 2)
        if n < 0:
            return None, i
        items = []
        for _ in range(n):
            v, i = one(i)
            items.append(v)
        return items, i

    return one(0)[0]


def cli(port, *args, stdin=None):
    """redis-cli's formatted output (--no-raw: "(integer) 1", "(nil)", "(error) ...")."""
    assert shutil.which("redis-cli"), "redis-cli missing (Debian package redis-tools)"
    r = subprocess.run(["redis-cli", "-p", str(port), "--no-raw", *args], input=stdin, capture_output=True,
                       timeout=60)
    return (r.stdout + r.stderr).decode().strip()


def blocked_clients(conn):
    info = conn.cmd("INFO").decode()
    return int(re.search(r"blocked_clients:(\d+)", info).group(1))


def wait_for(pred, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


# --- scenarios ---

def kv_redis_cli(*server_args):
    """Every command, its options and its errors, through redis-cli."""
    srv = KvServer(*server_args)
    p = srv.port
    checks = [
        (["PING"], "PONG"),
        (["PING", "hello"], '"hello"'),
        (["ECHO", "echo me"], '"echo me"'),
        (["SET", "k", "v"], "OK"),
        (["GET", "k"], '"v"'),
        (["SET", "k", "w", "NX"], "(nil)"),
        (["SET", "k", "w", "XX"], "OK"),
        (["SET", "nokey", "w", "XX"], "(nil)"),
        (["SET", "k", "x", "GET"], '"w"'),
        (["SET", "k", "v", "NX", "XX"], "(error) ERR syntax error"),
        (["SET", "k", "v", "EX", "0"], "(error) ERR invalid expire time in 'set' command"),
        (["SET", "k", "v", "EX", "ten"], "(error) ERR value is not an integer or out of range"),
        (["SET", "e", "v", "EX", "100"], "OK"),
        (["TTL", "e"], ("(integer) 100", "(integer) 99")),
        (["SET", "e", "w", "KEEPTTL"], "OK"),
        (["TTL", "e"], ("(integer) 100", "(integer) 99")),
        (["SET", "e", "v", "PX", "100000"], "OK"),
        (["TTL", "e"], ("(integer) 100", "(integer) 99")),
        (["SET", "e", "v"], "OK"),
        (["TTL", "e"], "(integer) -1"),
        (["TTL", "missing"], "(integer) -2"),
        (["EXPIRE", "e", "50"], "(integer) 1"),
        (["TTL", "e"], ("(integer) 50", "(integer) 49")),
        (["EXPIRE", "e", "10", "GT"], "(integer) 0"),
        (["EXPIRE", "e", "10", "LT"], "(integer) 1"),
        (["EXPIRE", "e", "10", "NX"], "(integer) 0"),
        (["EXPIRE", "missing", "10"], "(integer) 0"),
        (["PERSIST", "e"], "(integer) 1"),
        (["EXPIRE", "e", "-1"], "(integer) 1"),
        (["EXISTS", "e"], "(integer) 0"),
        (["INCR", "n"], "(integer) 1"),
        (["INCR", "n"], "(integer) 2"),
        (["DECR", "n"], "(integer) 1"),
        (["DECR", "fresh"], "(integer) -1"),
        (["INCRBY", "n", "41"], "(integer) 42"),
        (["INCR", "k"], "(error) ERR value is not an integer or out of range"),
        (["SET", "max", "9223372036854775807"], "OK"),
        (["INCR", "max"], "(error) ERR increment or decrement would overflow"),
        (["MSET", "a", "1", "b", "2"], "OK"),
        (["MGET", "a", "b", "nope"], '1) "1"\n2) "2"\n3) (nil)'),
        (["MSET", "a", "1", "b"], "(error) ERR wrong number of arguments for 'mset' command"),
        (["EXISTS", "a", "b", "a", "nope"], "(integer) 3"),
        (["DEL", "a", "b", "nope"], "(integer) 2"),
        (["RPUSH", "l", "b", "c"], "(integer) 2"),
        (["LPUSH", "l", "a"], "(integer) 3"),
        (["LRANGE", "l", "0", "-1"], '1) "a"\n2) "b"\n3) "c"'),
        (["LPOP", "l"], '"a"'),
        (["RPOP", "l"], '"c"'),
        (["LPOP", "l"], '"b"'),
        (["LPOP", "l"], "(nil)"),
        (["EXISTS", "l"], "(integer) 0"),
        (["RPUSH", "l", "x", "y", "z"], "(integer) 3"),
        (["LPOP", "l", "2"], '1) "x"\n2) "y"'),
        (["GET", "l"], "(error) WRONGTYPE Operation against a key holding the wrong kind of value"),
        (["LPUSH", "k", "v"], "(error) WRONGTYPE Operation against a key holding the wrong kind of value"),
        (["INCR", "l"], "(error) WRONGTYPE Operation against a key holding the wrong kind of value"),
        (["BLPOP", "l", "0"], '1) "l"\n2) "z"'),
        (["BLPOP", "empty1", "empty2", "0.1"], "(nil)"),
        (["BLPOP", "k", "0"], "(error) WRONGTYPE Operation against a key holding the wrong kind of value"),
        (["BLPOP", "x", "soon"], "(error) ERR timeout is not a float or out of range"),
        (["BLPOP", "x", "-1"], "(error) ERR timeout is negative"),
        (["TYPE", "k"], "string"),
        (["FOO", "bar", "baz"], "(error) ERR unknown command 'FOO', with args beginning with: 'bar' 'baz'"),
        (["GET"], "(error) ERR wrong number of arguments for 'get' command"),
        (["get", "a", "b"], "(error) ERR wrong number of arguments for 'get' command"),
        (["FLUSHALL"], "OK"),
        (["DBSIZE"], "(integer) 0"),
    ]
    for args, want in checks:
        got = cli(p, *args)
        # A TTL may read one second less on a slow machine: either is right.
        assert got in (want if isinstance(want, tuple) else (want,)), \
            f"redis-cli {' '.join(args)}: want {want!r}, got {got!r}"
    # KEYS with glob patterns.
    for k in ["hello", "hallo", "hxllo", "hllo", "heeeello", "h[llo", "user:1", "user:2", "other"]:
        assert cli(p, "SET", k, "1") == "OK"
    cases = {"h?llo": {"hello", "hallo", "hxllo", "h[llo"},
             "h*llo": {"hello", "hallo", "hxllo", "hllo", "heeeello", "h[llo"},
             "h[ae]llo": {"hello", "hallo"}, "h[^e]llo": {"hallo", "hxllo", "h[llo"}, "h[a-b]llo": {"hallo"},
             "h\\[llo": {"h[llo"}, "user:*": {"user:1", "user:2"}, "nothing*": set()}
    conn = Resp(p)
    for pat, want in cases.items():
        got = {k.decode() for k in conn.cmd("KEYS", pat)}
        assert got == want, f"KEYS {pat}: want {want}, got {got}"
    assert len(conn.cmd("KEYS", "*")) == 9
    conn.close()
    srv.stop()


# Requests answered identically by redis-server and kv_server ("sorted": the reply is
# a set, compared sorted; "ttl": a TTL in seconds, which may read one less on a slow
# machine).
SAME_AS_REDIS = [
    ["PING"], ["PING", "hi"], ["PING", "a", "b"], ["ECHO", "x"], ["ECHO"],
    ["SET", "k", "v"], ["GET", "k"], ["SET", "k", "v2", "NX"], ["SET", "k", "v3", "XX"], ["GET", "k"],
    ["SET", "nk", "v", "XX"], ["SET", "k", "v", "NX", "XX"], ["SET", "k", "v", "EX"], ["SET", "k", "v", "EX", "0"],
    ["SET", "k", "v", "EX", "-5"], ["SET", "k", "v", "EX", "abc"], ["SET", "k", "v", "PX", "0"],
    ["SET", "k", "v", "EX", "100", "PX", "100"], ["SET", "k", "v", "KEEPTTL", "EX", "5"], ["SET", "k", "v", "FOO"],
    ["SET", "k", "v", "EX", "99999999999999999"],
    ["SET", "k", "v4", "GET"], ["SET", "k", "v5", "NX", "GET"], ["SET", "newk", "v", "GET"], ["GET", "k"],
    ["TTL", "k"], ["SET", "t", "v", "EX", "100"], ["TTL", "t", "ttl"], ["TTL", "missing"], ["PTTL", "missing"],
    ["EXPIRE", "k", "100"], ["TTL", "k", "ttl"], ["EXPIRE", "k", "50", "GT"], ["EXPIRE", "k", "200", "GT"],
    ["TTL", "k", "ttl"],
    ["EXPIRE", "k", "10", "NX"], ["EXPIRE", "k", "10", "XX"], ["TTL", "k", "ttl"], ["EXPIRE", "k", "10", "NX", "XX"],
    ["EXPIRE", "k", "10", "GT", "LT"], ["EXPIRE", "k", "10", "FOO"], ["EXPIRE", "k", "abc"],
    ["EXPIRE", "missing", "10"], ["EXPIRE", "k", "9999999999999999"], ["PERSIST", "k"], ["PERSIST", "k"],
    ["TTL", "k"], ["EXPIRE", "k", "0"], ["EXISTS", "k"], ["GET", "k"],
    ["INCR", "c"], ["INCR", "c"], ["DECR", "c"], ["INCRBY", "c", "10"], ["DECRBY", "c", "3"], ["INCRBY", "c", "x"],
    ["SET", "s", "abc"], ["INCR", "s"], ["SET", "s", " 1"], ["INCR", "s"], ["SET", "s", "01"], ["INCR", "s"],
    ["SET", "s", "-0"], ["INCR", "s"], ["SET", "big", "9223372036854775807"], ["INCR", "big"],
    ["SET", "small", "-9223372036854775808"], ["DECR", "small"], ["DECRBY", "c", "-9223372036854775808"],
    ["MSET", "a", "1", "b", "2"], ["MSET", "a"], ["MSET", "a", "1", "b"], ["MGET", "a", "b", "nope"],
    ["EXISTS", "a", "a", "b", "nope"], ["DEL", "a", "nope", "b"], ["DEL"],
    ["RPUSH", "l", "a", "b", "c"], ["LPUSH", "l", "z", "y"], ["LRANGE", "l", "0", "-1"], ["LRANGE", "l", "-2", "100"],
    ["LRANGE", "l", "3", "1"], ["LRANGE", "l", "x", "1"], ["LLEN", "l"], ["LLEN", "nope"], ["LPOP", "l"],
    ["RPOP", "l"], ["LPOP", "l", "2"], ["LPOP", "l", "0"], ["LPOP", "l", "5"], ["LPOP", "l"], ["LPOP", "nope", "2"],
    ["LPOP", "l", "-1"], ["LPOP", "l", "1", "2"], ["RPUSH", "l", "x"], ["GET", "l"], ["LPUSH", "s", "x"],
    ["LLEN", "s"], ["LRANGE", "s", "0", "1"], ["MGET", "l", "s"], ["INCR", "l"], ["SET", "l2", "v", "GET"],
    ["RPUSH", "l2", "q"], ["SET", "l2", "v", "GET"], ["TYPE", "l"], ["TYPE", "s"], ["TYPE", "none"],
    ["BLPOP", "l", "0"], ["BLPOP", "nope", "0.01"], ["BRPOP", "nope", "0.01"], ["BLPOP", "nope", "abc"],
    ["BLPOP", "nope", "-1"], ["BLPOP", "s", "0"], ["BLPOP", "nope", "s", "0"], ["BLPOP", "nope"],
    ["RPUSH", "l3", "1", "2"], ["BRPOP", "nope", "l3", "0"],
    ["SET", "hello", "1"], ["SET", "hallo", "1"], ["SET", "hxllo", "1"], ["KEYS", "h?llo", "sorted"],
    ["KEYS", "h[ae]llo", "sorted"], ["KEYS", "nomatch*"], ["KEYS"],
    ["FOO"], ["FOO", "bar", "baz"], ["foo", "x" * 200, "y"], ["FOO", "a" * 100, "b" * 100, "c"], ["get"],
    ["GET", "a", "b"], ["SeT", "k"], ["CONFIG", "GET", "appendonly"], ["SELECT", "0"], ["SELECT", "x"],
    ["DBSIZE"], ["FLUSHALL", "FOO"], ["FLUSHALL"], ["DBSIZE"], ["FLUSHALL", "ASYNC"], ["FLUSHDB"],
]

# Frames answered by an error, then a close, identically by both servers.
MALFORMED_FRAMES = [
    b"*1\r\n+PING\r\n",                     # not a bulk string
    b"*abc\r\n",                            # multibulk length not a number
    b"*2\r\n$3\r\nGET\r\n$-5\r\n",          # negative bulk length
    b"*2\r\n$3\r\nSET\r\n$600000000\r\n",   # over 512 MiB
    b"*1\r\n$x\r\n",                        # bulk length not a number
    b"*9999999999\r\n",                     # too many arguments
    b'SET k "unbalanced\r\n',               # inline, unbalanced quotes
    b"SET k 'a'b\r\n",                      # inline, a closing quote not followed by a blank
    b"PING" + b"x" * (70 * 1024),           # inline request over 64 KiB without a newline
    b"*1\r\n" + b"1" * (70 * 1024),         # a header line over 64 KiB
]


def kv_same_as_redis():
    """Replies byte for byte the same as a real redis-server's, errors included."""
    ref = RedisServer()
    srv = KvServer()
    try:
        a, b = Resp(ref.path), Resp(srv.port)
        for req in SAME_AS_REDIS:
            mode = req[-1] if req[-1] in ("sorted", "ttl") else None
            args = req[:-1] if mode else req
            a.send(*args)
            b.send(*args)
            want, got = a.reply_raw(), b.reply_raw()
            if mode == "sorted":
                want, got = sorted(parse(want)), sorted(parse(got))
            elif mode == "ttl" and abs(parse(want) - parse(got)) == 1:
                got = want
            assert want == got, f"{args}: redis-server replied {want!r}, kv_server {got!r}"
        # Inline requests, as typed into telnet.
        for line in [b"PING\r\n", b"SET inl  \"a b\\x41\\n\"\r\n", b"GET inl\r\n", b"ECHO 'it\\'s'\n", b"\r\n",
                     b"  GET   inl  \r\n", b"ECHO \"\"\r\n", b"NOPE 1 2\r\n"]:
            a.s.sendall(line)
            b.s.sendall(line)
            if line.strip():
                want, got = a.reply_raw(), b.reply_raw()
                assert want == got, f"{line!r}: redis-server replied {want!r}, kv_server {got!r}"
        a.close()
        b.close()
        for frame in MALFORMED_FRAMES:
            a, b = Resp(ref.path), Resp(srv.port)
            a.s.sendall(b"PING\r\n" + frame)
            b.s.sendall(b"PING\r\n" + frame)
            want, got = a.read_until_closed(), b.read_until_closed()
            assert want == got, f"{frame[:40]!r}: redis-server sent {want!r}, kv_server {got!r}"
            a.close()
            b.close()
    finally:
        ref.stop()
    srv.stop()


def kv_pipelining(*server_args):
    """redis-cli --pipe (mass insertion) and raw pipelines, in order."""
    srv = KvServer(*server_args)
    n = 20000
    data = b"".join(Resp.encode("SET", f"key:{i}", f"value:{i}") for i in range(n))
    data += b"".join(Resp.encode("INCR", "counter") for _ in range(n))
    r = subprocess.run(["redis-cli", "-p", str(srv.port), "--pipe"], input=data, capture_output=True, timeout=120)
    out = r.stdout.decode()
    assert r.returncode == 0 and f"errors: 0, replies: {2 * n}" in out, out + r.stderr.decode()
    c = Resp(srv.port)
    assert c.cmd("DBSIZE") == n + 1
    assert c.cmd("GET", "counter") == str(n).encode()
    # One send carrying 500 requests of mixed kinds, inline ones included; the
    # replies come back in order.
    reqs = []
    for i in range(500):
        reqs.append(Resp.encode("GET", f"key:{i}") if i % 3 else f"ECHO inline{i}\r\n".encode())
    c.s.sendall(b"".join(reqs))
    for i in range(500):
        want = f"value:{i}" if i % 3 else f"inline{i}"
        assert c.reply() == want.encode(), f"pipelined reply {i}"
    # A request split into single bytes is parsed all the same.
    for byte in Resp.encode("SET", "slow", "x" * 100):
        c.s.send(bytes([byte]))
    assert c.reply() == "OK"
    assert c.cmd("GET", "slow") == b"x" * 100
    c.close()
    srv.stop()


def kv_blocking_pops(*server_args):
    """BLPOP served FIFO across redis-cli clients; timeouts; a blocked client that
    hangs up is cleaned up and takes nothing."""
    srv = KvServer(*server_args)
    p = srv.port
    ctl = Resp(p)
    first = subprocess.Popen(["redis-cli", "-p", str(p), "--no-raw", "BLPOP", "queue", "0"], stdout=subprocess.PIPE)
    wait_for(lambda: blocked_clients(ctl) == 1, "the first BLPOP to block")
    second = subprocess.Popen(["redis-cli", "-p", str(p), "--no-raw", "BLPOP", "other", "queue", "0"],
                              stdout=subprocess.PIPE)
    wait_for(lambda: blocked_clients(ctl) == 2, "the second BLPOP to block")
    assert ctl.cmd("PING") == "PONG"  # the server is not blocked, only those two clients
    assert cli(p, "RPUSH", "queue", "one", "two") == "(integer) 2"
    out1 = first.communicate(timeout=20)[0].decode()
    out2 = second.communicate(timeout=20)[0].decode()
    assert out1.split() == ["1)", '"queue"', "2)", '"one"'], out1
    assert out2.split() == ["1)", '"queue"', "2)", '"two"'], out2
    assert ctl.cmd("EXISTS", "queue") == 0
    # A timeout: nil, and nobody left blocked.
    assert cli(p, "BLPOP", "queue", "0.2") == "(nil)"
    assert blocked_clients(ctl) == 0
    # A client that hangs up while blocked leaves no waiter behind: the next push
    # stays in the list.
    gone = Resp(p)
    gone.send("BLPOP", "queue", "0")
    wait_for(lambda: blocked_clients(ctl) == 1, "the BLPOP to block")
    gone.close()
    wait_for(lambda: blocked_clients(ctl) == 0, "the hung-up client to be cleaned up")
    assert ctl.cmd("RPUSH", "queue", "kept") == 1
    assert ctl.cmd("LRANGE", "queue", "0", "-1") == [b"kept"]
    assert ctl.cmd("DEL", "queue") == 1
    # 20 clients blocked on one key are served in the order they blocked, with
    # requests pipelined behind the BLPOP answered afterwards.
    waiters = []
    for i in range(20):
        w = Resp(p)
        w.s.sendall(Resp.encode("ECHO", f"before{i}") + Resp.encode("BLPOP", "fifo", "0") +
                    Resp.encode("ECHO", f"after{i}"))
        assert w.reply() == f"before{i}".encode()
        wait_for(lambda: blocked_clients(ctl) == i + 1, f"client {i} to block")
        waiters.append(w)
    assert ctl.cmd("RPUSH", "fifo", *[f"item{i}" for i in range(20)]) == 20
    for i, w in enumerate(waiters):
        assert w.reply() == [b"fifo", f"item{i}".encode()], f"client {i}"
        assert w.reply() == f"after{i}".encode()
        w.close()
    # Clients still blocked when the server stops are released (the stop kills them).
    stuck = [Resp(p), Resp(p)]
    for s in stuck:
        s.send("BLPOP", "never", "0")
    wait_for(lambda: blocked_clients(ctl) == 2, "two clients to block")
    ctl.close()
    srv.stop(signal.SIGTERM)


def kv_malformed_frames(*server_args):
    """A malformed or oversized frame closes that connection only."""
    srv = KvServer(*server_args)
    keeper = Resp(srv.port)
    assert keeper.cmd("SET", "alive", "yes") == "OK"
    for frame in MALFORMED_FRAMES + [b"*1\r\n$4\r\nPINGxx", b"*1\r\n$4\r\nPING\n\n"]:
        bad = Resp(srv.port)
        bad.s.sendall(frame)
        got = bad.read_until_closed()
        assert got.startswith(b"-ERR Protocol error") and got.endswith(b"\r\n") and got.count(b"\r\n") == 1, got
        bad.close()
        assert keeper.cmd("GET", "alive") == b"yes"
    # An oversized bulk announced by the header is refused before any of it is sent.
    bad = Resp(srv.port)
    bad.s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % ((512 << 20) + 1))
    assert bad.read_until_closed() == b"-ERR Protocol error: invalid bulk length\r\n"
    bad.close()
    # A bulk of exactly 512 MiB is announced fine (the client then hangs up).
    ok = Resp(srv.port)
    ok.s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\nabc" % (512 << 20))
    time.sleep(0.1)
    ok.close()
    assert keeper.cmd("GET", "alive") == b"yes"
    assert keeper.cmd("EXISTS", "k") == 0
    keeper.close()
    srv.stop()


def kv_many_clients(*server_args):
    """200 clients at once, each with its own keys and a shared counter."""
    srv = KvServer(*server_args)
    n, rounds = 200, 20
    sel = selectors.DefaultSelector()
    state = {}
    for i in range(n):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", srv.port))
        state[c] = {"i": i, "round": 0, "out": b"", "in": b""}
        sel.register(c, selectors.EVENT_WRITE)

    def batch(i, rnd):
        return (Resp.encode("SET", f"c{i}", f"{i}:{rnd}") + Resp.encode("GET", f"c{i}") +
                Resp.encode("INCR", "shared"))

    for c, st in state.items():
        st["out"] = batch(st["i"], 0)
    done = 0
    deadline = time.time() + 120
    while done < n and time.time() < deadline:
        for key, ev in sel.select(1):
            c = key.fileobj
            st = state[c]
            if ev & selectors.EVENT_WRITE:
                try:
                    sent = c.send(st["out"])
                except (BlockingIOError, InterruptedError):
                    continue
                st["out"] = st["out"][sent:]
                if not st["out"]:
                    sel.modify(c, selectors.EVENT_READ)
            elif ev & selectors.EVENT_READ:
                data = c.recv(65536)
                assert data, "server closed a connection early"
                st["in"] += data
                want = f"{st['i']}:{st['round']}".encode()
                head = b"+OK\r\n$%d\r\n%s\r\n:" % (len(want), want)
                if st["in"].endswith(b"\r\n") and st["in"].count(b"\r\n") == 4:
                    assert st["in"].startswith(head), (st["in"], head)
                    st["in"] = b""
                    st["round"] += 1
                    if st["round"] == rounds:
                        sel.unregister(c)
                        done += 1
                    else:
                        st["out"] = batch(st["i"], st["round"])
                        sel.modify(c, selectors.EVENT_WRITE)
    assert done == n, f"only {done} of {n} clients finished"
    c = Resp(srv.port)
    assert c.cmd("GET", "shared") == str(n * rounds).encode()
    assert c.cmd("DBSIZE") == n + 1
    info = c.cmd("INFO").decode()
    assert f"connected_clients:{n + 1}" in info, info
    for s in state:
        s.close()
    wait_for(lambda: "connected_clients:1\r" in c.cmd("INFO").decode(), "the 200 connections to be closed")
    c.close()
    srv.stop()


def kv_expiry(*server_args):
    """Keys expire when read (lazily) and, unread, by the sweeping green thread."""
    srv = KvServer(*server_args)
    c = Resp(srv.port)
    assert c.cmd("SET", "short", "v", "PX", "50") == "OK"
    time.sleep(0.2)
    assert c.cmd("GET", "short") is None
    assert c.cmd("TTL", "short") == -2
    for i in range(3000):
        c.send("SET", f"tmp:{i}", "v", "PX", "100")
    for i in range(3000):
        assert c.reply() == "OK"
    assert c.cmd("SET", "keep", "v") == "OK"
    assert c.cmd("EXPIRE", "keep", "1000") == 1
    # DBSIZE reads no key: only the sweeper can bring it down.
    wait_for(lambda: c.cmd("DBSIZE") == 1, "the sweeper to delete 3,000 expired keys")
    assert c.cmd("TTL", "keep") > 900
    c.close()
    srv.stop()


def kv_batching():
    """200 pipelined requests read in one recv are answered with one send, not one
    per reply (sends counted with strace)."""
    if subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True).returncode != 0:
        print("strace cannot trace here (ptrace refused): skipped")
        sys.exit(77)
    top = tempfile.mkdtemp(prefix="kv-batching-")
    trace = os.path.join(top, "strace.txt")
    # LeakSanitizer cannot run under ptrace (an ASan build's server would fail at exit).
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", trace, "-e", "trace=sendto,sendmsg,write,writev",
                             os.path.join(SAMPLES, "kv_server"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    STARTED.append(proc)

    def server_pid():
        # The traced server itself (a signal to strace would only detach it).
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            for pid in f.read().split():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as c:
                        if c.read().split(b"\0")[0].endswith(b"kv_server"):
                            return int(pid)
                except FileNotFoundError:
                    pass
        return None

    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        assert m, line
        c = Resp(int(m.group(2)))
        c.s.sendall(b"".join(Resp.encode("ECHO", f"batch-reply-{i:03d}") for i in range(200)))
        for i in range(200):
            assert c.reply() == f"batch-reply-{i:03d}".encode()
        c.close()
    finally:
        pid = server_pid()
        if pid:
            os.kill(pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out, (out, err)
    with open(trace) as f:
        sends = [ln for ln in f if "batch-reply" in ln]
    # One send in the common case; a few if the burst arrived in pieces.
    assert 1 <= len(sends) <= 5, f"{len(sends)} sends for 200 pipelined requests"
    print(f"{len(sends)} send(s) for 200 pipelined requests")
    shutil.rmtree(top)


def kv_hiredis(*server_args):
    """hiredis's synchronous API: types, binary values, pipelines, blocking pops."""
    assert HIREDIS_CLIENT, "no kv_hiredis_client given"
    srv = KvServer(*server_args)
    r = subprocess.run([HIREDIS_CLIENT, str(srv.port)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r
    srv.stop()


# --- several hubs (--hubs N): one store hub executes, the others forward ---

HUBS = ("--hubs", "4")


def kv_hubs_semantics():
    """With --hubs 4, replies byte for byte as redis-server's while the requests of one
    sequence go round-robin over 16 connections (spread over the hubs by SO_REUSEPORT):
    every connection sees the one keyspace. Then redis-cli (a new connection per
    command), malformed frames, expiry and hiredis, as with one hub."""
    ref = RedisServer()
    srv = KvServer(*HUBS)
    try:
        a = Resp(ref.path)
        conns = [Resp(srv.port) for _ in range(16)]
        for i, req in enumerate(SAME_AS_REDIS):
            mode = req[-1] if req[-1] in ("sorted", "ttl") else None
            args = req[:-1] if mode else req
            b = conns[i % len(conns)]
            a.send(*args)
            b.send(*args)
            want, got = a.reply_raw(), b.reply_raw()
            if mode == "sorted":
                want, got = sorted(parse(want)), sorted(parse(got))
            elif mode == "ttl" and abs(parse(want) - parse(got)) == 1:
                got = want
            assert want == got, f"{args} on connection {i % len(conns)}: redis-server replied {want!r}, " \
                                f"kv_server {got!r}"
        # The same sequence pipelined in one send on each of 4 fresh connections in
        # turn (a batch forwarded whole), against the reference.
        for k in range(4):
            reqs = [r[:-1] if r[-1] in ("sorted", "ttl") else r for r in SAME_AS_REDIS]
            reqs = [r for r in reqs if r[0].upper() not in ("TTL", "KEYS")]  # timing and order dependent
            data = b"".join(Resp.encode(*r) for r in reqs)
            c = Resp(srv.port)
            a.s.sendall(data)
            c.s.sendall(data)
            for r in reqs:
                want, got = a.reply_raw(), c.reply_raw()
                assert want == got, f"pipelined {r} (round {k}): redis-server replied {want!r}, kv_server {got!r}"
            c.close()
        for c in conns:
            c.close()
        a.close()
        for frame in MALFORMED_FRAMES:
            a, b = Resp(ref.path), Resp(srv.port)
            a.s.sendall(b"PING\r\n" + frame)
            b.s.sendall(b"PING\r\n" + frame)
            want, got = a.read_until_closed(), b.read_until_closed()
            assert want == got, f"{frame[:40]!r}: redis-server sent {want!r}, kv_server {got!r}"
            a.close()
            b.close()
        # QUIT in the middle of a pipeline: the requests behind it are not run.
        q = Resp(srv.port)
        q.s.sendall(Resp.encode("SET", "quit-before", "1") + Resp.encode("QUIT") + Resp.encode("SET", "quit-after", "1"))
        assert q.read_until_closed() == b"+OK\r\n+OK\r\n"
        q.close()
        c = Resp(srv.port)
        assert c.cmd("EXISTS", "quit-before", "quit-after") == 1
        c.close()
    finally:
        ref.stop()
    srv.stop()
    kv_redis_cli(*HUBS)
    kv_malformed_frames(*HUBS)
    kv_expiry(*HUBS)
    kv_hiredis(*HUBS)


def kv_hubs_many_clients():
    """200 clients over 4 hubs, 20 rounds each of SET/GET of their own key and INCR of
    a shared counter: the counter ends at exactly 4,000 (each INCR atomic across
    hubs), every GET returns its own client's value, INFO counts every hub's clients."""
    kv_many_clients(*HUBS)
    # Many short connections (each a store session started and ended) in parallel
    # with long ones: the counter stays exact.
    srv = KvServer(*HUBS)
    deadline = time.time() + 60
    procs = [subprocess.Popen(["redis-cli", "-p", str(srv.port), "-r", "200", "INCR", "burst"],
                              stdout=subprocess.DEVNULL) for _ in range(4)]
    for _ in range(50):
        c = Resp(srv.port)
        assert isinstance(c.cmd("INCR", "burst"), int)
        c.close()
        assert time.time() < deadline
    for p in procs:
        assert p.wait(timeout=60) == 0
    c = Resp(srv.port)
    assert c.cmd("GET", "burst") == b"850"
    c.close()
    srv.stop()


def kv_hubs_blocking():
    """With --hubs 4: everything kv_blocking_pops checks, then 8 clients blocked on 8
    keys (over the hubs) are each woken by an RPUSH from another connection, while
    other clients keep being served; a batch that blocks has its earlier replies sent
    first and its later requests run after the pop."""
    kv_blocking_pops(*HUBS)
    srv = KvServer(*HUBS)
    p = srv.port
    ctl = Resp(p)
    waiters = []
    for i in range(8):
        w = Resp(p)
        w.s.sendall(Resp.encode("SET", f"mine{i}", "x") + Resp.encode("BLPOP", f"q{i}", "other", "0") +
                    Resp.encode("GET", f"mine{i}"))
        assert w.reply() == "OK"
        waiters.append(w)
    wait_for(lambda: blocked_clients(ctl) == 8, "8 clients to block")
    # Others are served meanwhile, on every hub.
    others = [Resp(p) for _ in range(16)]
    for k in range(5):
        for j, o in enumerate(others):
            assert o.cmd("INCR", "served") == k * len(others) + j + 1
    for i in reversed(range(8)):
        pusher = others[i]
        assert pusher.cmd("RPUSH", f"q{i}", f"v{i}") == 1
        assert waiters[i].reply() == [f"q{i}".encode(), f"v{i}".encode()], f"waiter {i}"
        assert waiters[i].reply() == b"x"
        assert blocked_clients(ctl) == i
    assert ctl.cmd("KEYS", "q*") == []
    # A BLPOP that times out on another hub: nil, nobody left blocked.
    t = Resp(p)
    assert t.cmd("BLPOP", "never", "0.1") is None
    assert blocked_clients(ctl) == 0
    for c in waiters + others + [t, ctl]:
        c.close()
    srv.stop()


def kv_hubs_pipelining():
    """With --hubs 4: redis-cli --pipe and raw pipelines as kv_pipelining; a burst of
    10,000 mixed requests in one send on each of 8 connections, replies in order
    (some past 64 KiB, sent in several parts); clients that hang up with a batch in
    flight leave the server serving."""
    kv_pipelining(*HUBS)
    srv = KvServer(*HUBS)
    c = Resp(srv.port)
    big = "b" * 100000
    assert c.cmd("SET", "big", big) == "OK"
    conns = [Resp(srv.port) for _ in range(8)]
    for k, conn in enumerate(conns):
        reqs = []
        for i in range(10000):
            if i % 1000 == 999:
                reqs.append(Resp.encode("GET", "big"))
            elif i % 2:
                reqs.append(Resp.encode("SET", f"p{k}:{i}", f"v{i}"))
            else:
                reqs.append(Resp.encode("ECHO", f"e{k}:{i}"))
        conn.s.sendall(b"".join(reqs))
    for k, conn in enumerate(conns):
        for i in range(10000):
            got = conn.reply()
            if i % 1000 == 999:
                assert got == big.encode(), f"connection {k}, reply {i}: not the big value"
            elif i % 2:
                assert got == "OK", f"connection {k}, reply {i}: {got!r}"
            else:
                assert got == f"e{k}:{i}".encode(), f"connection {k}, reply {i}: {got!r}"
        conn.close()
    assert c.cmd("DBSIZE") == 1 + 8 * (5000 - 10)  # every odd i but the ten GETs
    # Hang up right after sending a burst (its batch still in flight or not yet read).
    for k in range(20):
        h = Resp(srv.port)
        h.s.sendall(b"".join(Resp.encode("INCR", "hangup") for _ in range(5000)) + Resp.encode("BLPOP", "nope", "0"))
        h.close()
    assert c.cmd("PING") == "PONG"
    n = int(c.cmd("GET", "hangup") or 0)
    assert 0 <= n <= 100000, n
    wait_for(lambda: "connected_clients:1\r" in c.cmd("INFO").decode(), "the hung-up connections to be closed")
    wait_for(lambda: blocked_clients(c) == 0, "the hung-up BLPOPs to be cleaned up")
    c.close()
    srv.stop()


def kv_workers_refused():
    """--workers N (prefork) is refused: separate processes would not share one
    keyspace. Exit status 2, the reason on stderr, and the usage line says so."""
    exe = os.path.join(SAMPLES, "kv_server")
    r = subprocess.run([exe, "--port", "0", "--workers", "2"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r
    assert "--workers is not offered" in r.stderr and "keyspace" in r.stderr, r.stderr
    assert not r.stdout, r.stdout
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "--hubs N" in r.stdout and "no --workers" in r.stdout, r
    # --workers 0 (serve in this process) is what it does anyway.
    srv = KvServer("--workers", "0", "--hubs", "2")
    c = Resp(srv.port)
    assert c.cmd("PING") == "PONG"
    c.close()
    srv.stop()


SCENARIOS = {f.__name__: f for f in (kv_redis_cli, kv_same_as_redis, kv_pipelining, kv_blocking_pops,
                                     kv_malformed_frames, kv_many_clients, kv_expiry, kv_batching, kv_hiredis,
                                     kv_hubs_semantics, kv_hubs_many_clients, kv_hubs_blocking,
                                     kv_hubs_pipelining, kv_workers_refused)}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
    print(f"{sys.argv[1]}: ok")
