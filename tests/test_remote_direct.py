"""Remote unpack's own paths against real servers on 127.0.0.1: plain http through our keep-alive
http.client connections (bodies received in place), every honest shape of answer (keep-alive,
``Connection: close``, HTTP/1.0, chunked, close-delimited), a kept connection the server dropped,
runs of blocks read into recycled buffers, the cached tail, https through urllib3, and tampering
detected with nothing left behind."""

from __future__ import annotations

import io
import os
import re
import socket
import ssl
import subprocess
import sys
import threading

import pytest

import qeltrix
from qeltrix import DamagedError, TruncatedError
from qeltrix import operations
from qeltrix.pipeline import group_size
from qeltrix.reader import Container
from qeltrix.sources import HttpAccess

from faultserver import FaultServer

BS = 64 << 10
TAIL = 16 << 10  # what HttpAccess fetches of the end at open
_RANGE = re.compile(rb"^bytes=(\d*)-(\d*)$")


@pytest.fixture(scope="module")
def key():
    return qeltrix.random_master_key()


@pytest.fixture(scope="module")
def plain():
    return os.urandom(40 * BS + 999)  # 41 blocks


@pytest.fixture(scope="module")
def blob(plain, key):
    out = io.BytesIO()
    qeltrix.pack(plain, out, key, block_size=BS, name="plain.bin")
    return out.getvalue()


@pytest.fixture
def small_runs(monkeypatch):
    """Runs of a few blocks (the default, 4 MiB, would hold this whole container)."""
    monkeypatch.setattr(operations, "RUN_BYTES", 4 * (BS + 256))


class RangeServer:
    """One object with single byte ranges over HTTP/1.1, by hand (every header ours), answering
    honestly in the shape ``mode`` names: None (keep-alive, Content-Length), ``close_idle``
    (keep-alive announced, but the connection closed after each answer), ``drop_reused`` (a
    connection's second request read and the connection closed without an answer),
    ``connection_close``, ``http10``, ``chunked`` (chunks of 1000 bytes, keep-alive),
    ``close_delimited`` (no Content-Length: the body ends where the connection closes)."""

    def __init__(self, data: bytes, mode: str | None = None):
        self.data, self.mode = data, mode
        self.connections = self.requests = self.dropped = 0
        self.targets: list[bytes] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/c.qltx"

    def __enter__(self) -> "RangeServer":
        self._accepting.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self._accepting.join()
        self._sock.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            conn.settimeout(30)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
                self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        buf, served = b"", 0
        try:
            with conn:
                while True:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    lines = head.split(b"\r\n")
                    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
                    if self.mode == "drop_reused" and served:
                        with self._lock:
                            self.dropped += 1
                        return
                    with self._lock:
                        self.requests += 1
                        self.targets.append(lines[0].split(b" ")[1])
                    keep = self._answer(conn, headers.get(b"range", b""))
                    served += 1
                    if not keep:
                        return
        except OSError:
            return

    def _answer(self, conn, rng: bytes) -> bool:
        data, total, mode = self.data, len(self.data), self.mode
        m = _RANGE.match(rng)
        a, b = m.groups()
        if a == b"":
            start, end = max(0, total - int(b)), total - 1
        else:
            start, end = int(a), min(int(b) if b else total - 1, total - 1)
        body = data[start:end + 1]
        version = b"HTTP/1.0" if mode == "http10" else b"HTTP/1.1"
        head = b"%s 206 Partial Content\r\nETag: \"v1\"\r\nContent-Range: bytes %d-%d/%d\r\n" % (
            version, start, end, total)
        if mode == "chunked":
            chunks = b"".join(b"%x\r\n" % len(body[i:i + 1000]) + body[i:i + 1000] + b"\r\n"
                              for i in range(0, len(body), 1000))
            conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
            return True
        if mode == "close_delimited":
            conn.sendall(head + b"Connection: close\r\n\r\n" + body)
            return False
        extra = b"Connection: close\r\n" if mode == "connection_close" else b""
        conn.sendall(head + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return mode not in ("connection_close", "http10", "close_idle")


def _unpack(src, key, **kw):
    out = io.BytesIO()
    r = qeltrix.unpack(src, out, key, **kw)
    return out.getvalue(), r


# -- plain http: our own keep-alive connections ----------------------------------------------

def test_keep_alive_connections_are_reused(blob, plain, key, small_runs):
    with RangeServer(blob) as srv:
        got, r = _unpack(HttpAccess(srv.url, workers=2, retries=0), key, workers=2)
        assert got == plain and r.name == "plain.bin"
        assert srv.requests >= 2 + 41 // 4  # tail, header, the runs
        assert srv.connections <= 3  # the two opening requests, then two workers


@pytest.mark.parametrize("mode", ["close_idle", "connection_close", "http10", "chunked", "close_delimited"])
def test_every_honest_shape_of_answer_is_read_byte_for_byte(blob, plain, key, small_runs, mode):
    """No retry is allowed (``retries=0``): each shape is read as it is, not after a failure."""
    with RangeServer(blob, mode) as srv:
        got, _ = _unpack(HttpAccess(srv.url, workers=2, retries=0), key, workers=2)
        assert got == plain
        if mode in ("connection_close", "http10", "close_delimited", "close_idle"):
            assert srv.connections == srv.requests  # nothing reused that the server closed
        else:
            assert srv.connections <= 3


def test_a_kept_connection_the_server_dropped_is_replaced_at_once(blob, plain, key, small_runs):
    """The server reads a reused connection's request and closes it unanswered (an idle timeout
    racing the request): one new connection at once, not a failed attempt (``retries=0``)."""
    with RangeServer(blob, "drop_reused") as srv:
        got, _ = _unpack(HttpAccess(srv.url, workers=2, retries=0), key, workers=2)
        assert got == plain
        assert srv.dropped > 0


def test_the_request_target_is_percent_encoded_as_urllib3_did(blob):
    with RangeServer(blob) as srv:
        with HttpAccess(f"http://127.0.0.1:{srv.port}/a b/\u00e9.qltx?x=1&y=%20#frag", workers=1):
            pass
    assert set(srv.targets) == {b"/a%20b/%C3%A9.qltx?x=1&y=%20"}


def test_a_server_that_drops_every_connection_at_once_is_still_an_error(blob, key):
    """The one immediate retry on a fresh connection is not a loop: a server that answers nothing
    is a RemoteError after the retries given."""
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]
        stop = threading.Event()

        def drop():
            lsock.settimeout(0.05)
            while not stop.is_set():
                try:
                    c, _ = lsock.accept()
                except OSError:
                    continue
                with c:
                    c.settimeout(5)
                    try:
                        c.recv(65536)
                    except OSError:
                        pass

        t = threading.Thread(target=drop, daemon=True)
        t.start()
        try:
            with pytest.raises(qeltrix.RemoteError, match="gave up after 2 attempts"):
                HttpAccess(f"http://127.0.0.1:{port}/c.qltx", retries=1, backoff=0.001)
        finally:
            stop.set()
            t.join()


def test_plain_http_never_imports_urllib3(blob, plain, key, tmp_path):
    """urllib3 is for https and proxies: a plain http unpack does not pay its start-up."""
    (tmp_path / "k").write_bytes(key)
    code = f"""
import sys, qeltrix
key = open({str(tmp_path / "k")!r}, "rb").read()
out = qeltrix.unpack(sys.argv[1], {str(tmp_path / "out")!r}, key)
assert not [m for m in sys.modules if m.startswith("urllib3")], "urllib3 imported"
"""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "all_proxy")}
    with FaultServer(blob) as srv:
        r = subprocess.run([sys.executable, "-c", code, srv.url], capture_output=True, text=True, env=env,
                           timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out").read_bytes() == plain


# -- runs of blocks into recycled buffers --------------------------------------------------

@pytest.mark.parametrize("run_bytes", [1000, 9 * (BS + 220), 1 << 30])
def test_unpack_in_runs_of_every_size_byte_for_byte(blob, plain, key, monkeypatch, run_bytes):
    """A run smaller than a block (one group of lanes), runs of 9 blocks (rounded down to whole
    groups of lanes), one run of everything."""
    monkeypatch.setattr(operations, "RUN_BYTES", run_bytes)
    lanes = group_size(BS)
    per_run = {1000: lanes, 1 << 30: 41}.get(run_bytes, max(lanes, 9 // lanes * lanes))
    with FaultServer(blob) as srv:
        got, r = _unpack(srv.url, key, workers=3)
        assert got == plain and r.total_blocks == 41
        blocks = [e for e in srv.log if e["range"] not in (f"bytes=-{TAIL}", "bytes=0-4463")]
    runs = -(-41 // per_run)
    assert runs - 1 <= len(blocks) <= runs  # a request per run (the last may lie in the cached tail)


def test_the_last_run_fetches_only_what_the_cached_tail_lacks(blob, plain, key):
    with FaultServer(blob) as srv:
        got, _ = _unpack(srv.url, key)
        assert got == plain
        spans = [tuple(map(int, e["range"][6:].split("-"))) for e in srv.log if not e["range"].startswith("bytes=-")]
    tail_start = len(blob) - TAIL
    assert spans and all(end < tail_start for start, end in spans if start > 0)  # the tail came once


def test_read_into_fills_the_callers_buffer(blob):
    with FaultServer(blob) as srv:
        with HttpAccess(srv.url, workers=3, part_bytes=BS) as ra:
            n_open = len(srv.log)
            buf = bytearray(7 * BS + 5)
            assert ra.read_into(1000, memoryview(buf)) is not None and buf == blob[1000:1000 + len(buf)]
            assert len(srv.log) - n_open > 3  # split into parts, each received in its slice of buf
            n = len(srv.log)
            tail = bytearray(100)
            ra.read_into(len(blob) - 100, tail)  # within the cached tail: no request
            assert tail == blob[-100:] and len(srv.log) == n
            across = bytearray(TAIL + 50)
            ra.read_into(len(blob) - TAIL - 50, across)  # only the 50 bytes before the tail are asked
            assert across == blob[-TAIL - 50:]
            assert srv.log[-1]["range"] == f"bytes={len(blob) - TAIL - 50}-{len(blob) - TAIL - 1}"
            with pytest.raises(TruncatedError):
                ra.read_into(len(blob) - 10, bytearray(11))


# -- https: urllib3 -------------------------------------------------------------------------

@pytest.fixture
def tls_server(blob, tmp_path, monkeypatch):
    from tlsproxy import make_cert

    cert, keyfile, _ = make_cert(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, keyfile)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts it (OpenSSL's default paths)
    for var in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = FaultServer(blob)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with srv:
        yield srv, f"https://127.0.0.1:{srv.server_address[1]}/c.qltx"


def test_https_unpack_through_urllib3_with_a_dropped_body_retried(tls_server, plain, key, small_runs):
    srv, url = tls_server
    srv.drop_mid_body, srv.drop_min = 1, 2 * BS
    got, _ = _unpack(HttpAccess(url, workers=2, retries=2, backoff=0.001), key, workers=2)
    assert got == plain
    assert srv.drop_mid_body == 0  # the dropped body was asked again


# -- tampering ----------------------------------------------------------------------------

def _flip(blob: bytes, at: int) -> bytes:
    b = bytearray(blob)
    b[at] ^= 0x10
    return bytes(b)


@pytest.mark.parametrize("block", [0, 5, 40])
def test_a_tampered_block_is_detected_and_nothing_is_left(blob, key, tmp_path, small_runs, block):
    with Container.open(blob, key) as c:
        e = c.index[block]
    bad = _flip(blob, e.block_offset + e.block_size // 2)  # inside the block's sealed payload
    with FaultServer(bad) as srv:
        with pytest.raises(DamagedError):
            qeltrix.unpack(srv.url, tmp_path / "out.bin", key, workers=2)
        assert list(tmp_path.iterdir()) == []
        (tmp_path / "k").write_bytes(key)
        p = subprocess.run([sys.executable, "-m", "qeltrix", "unpack", srv.url, tmp_path / "out.bin",
                            "--key-file", tmp_path / "k", "-q"], capture_output=True, timeout=120)
    assert p.returncode == 4, p.stderr
    assert p.stderr.count(b"\n") == 1 and b"Traceback" not in p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["k"]
