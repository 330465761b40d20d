"""The servers under abuse, on loopback: each attack runs against a server in its own process
(so its peak RSS and open descriptors can be measured), every loop bounded in count and time,
and afterwards the server must still serve the right bytes.

Measurements are printed (``pytest -s``) and, with QELTRIX_ABUSE_REPORT=path, written as JSON;
docs/SECURITY.md records them."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import qeltrix as qltx
from polling import wait_until

HOST = "127.0.0.1"
MK = bytes(range(1, 33))
HERE = Path(__file__).resolve().parent
MEASURED: dict[str, dict] = {}


# ---- a server in a subprocess, sampled ------------------------------------------------------------

class Served:
    """``python abuse_server.py kind config``; samples VmRSS and the fd count every 20 ms."""

    def __init__(self, kind: str, **cfg):
        cfg["key"] = MK.hex()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE)] + sys.path))
        self.p = subprocess.Popen([sys.executable, str(HERE / "abuse_server.py"), kind, json.dumps(cfg)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  env=env)
        self.port = int(self.p.stdout.readline())
        self.base_rss = self.rss()
        self.base_fds = self.fds()
        self.peak_rss = self.base_rss
        self.peak_fds = self.base_fds
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()

    def rss(self) -> int:
        for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.p.pid}/fd"))

    def _sample(self):
        while not self._stop.wait(0.02):
            try:
                self.peak_rss = max(self.peak_rss, self.rss())
                self.peak_fds = max(self.peak_fds, self.fds())
            except (FileNotFoundError, ProcessLookupError, ValueError):
                return

    def record(self, name: str, **extra) -> None:
        MEASURED[name] = {"base_rss_mib": round(self.base_rss / 2**20, 1),
                          "peak_rss_mib": round(self.peak_rss / 2**20, 1),
                          "base_fds": self.base_fds, "peak_fds": self.peak_fds,
                          "fds_after": self.fds(), **extra}
        print(f"\n{name}: {MEASURED[name]}")

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.p.stdin.close()
        try:
            assert self.p.wait(30) == 0, "the server did not stop cleanly"
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            self.p.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def pytest_sessionfinish_hook():
    path = os.environ.get("QELTRIX_ABUSE_REPORT")
    if path:
        Path(path).write_text(json.dumps(MEASURED, indent=1))


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    pytest_sessionfinish_hook()


class Crowd:
    """Many raw client sockets, always closed."""

    def __init__(self):
        self.socks: list[socket.socket] = []

    def connect(self, port: int, n: int, timeout: float = 5.0) -> None:
        for _ in range(n):
            s = socket.socket()
            s.settimeout(timeout)
            try:
                s.connect((HOST, port))
            except OSError:
                s.close()
                continue
            s.setblocking(False)
            self.socks.append(s)

    def send_all(self, data: bytes) -> int:
        """Sends to each socket still open; returns how many the server has closed."""
        closed = 0
        for s in self.socks:
            if s.fileno() < 0:
                closed += 1
                continue
            try:
                s.send(data)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                s.close()
                closed += 1
        return closed

    def closed_by_server(self) -> int:
        """Sockets the server closed (EOF or reset), draining what it sent."""
        n = 0
        for s in self.socks:
            if s.fileno() < 0:
                n += 1
                continue
            try:
                while True:
                    r, _, _ = select.select([s], [], [], 0)
                    if not r:
                        break
                    if not s.recv(65536):
                        s.close()
                        n += 1
                        break
            except OSError:
                s.close()
                n += 1
        return n

    def close(self):
        for s in self.socks:
            s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- the gateway ----------------------------------------------------------------------------------

def reflect(port: int, data: bytes, timeout: float = 30) -> bytes:
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = bytearray()
        while b := s.recv(1 << 20):
            out += b
        return bytes(out)


def gateway_serves(port: int, size: int = 50_000, timeout: float = 30) -> None:
    data = os.urandom(size)
    blob = reflect(port, data, timeout)
    out = io.BytesIO()
    qltx.unpack(blob, out, MK)
    assert out.getvalue() == data


GW = dict(block_size=4096, flush_after=0.05, workers=2, max_connections=16, idle_timeout=0.5)


@pytest.mark.slow
def test_gateway_slowloris_and_more_connections_than_the_limit():
    """150 clients (the limit is 16) that send a byte every 2 s: the idle timeout (0.5 s) frees
    their slots, so a real client gets through during the attack."""
    with Served("gateway", **GW) as srv, Crowd() as crowd:
        crowd.connect(srv.port, 150)
        assert len(crowd.socks) == 150
        crowd.send_all(b"x")
        result = {}

        def legit():
            t0 = time.monotonic()
            try:
                gateway_serves(srv.port, timeout=30)
                result["ok"] = time.monotonic() - t0
            except Exception as e:  # reported below
                result["error"] = e

        t = threading.Thread(target=legit)
        t.start()
        deadline = time.monotonic() + 25
        while t.is_alive() and time.monotonic() < deadline:
            time.sleep(2)
            crowd.send_all(b"x")
            crowd.closed_by_server()
        t.join(30)
        assert "ok" in result, result.get("error", "the real client was not served in time")
        srv.record("gateway: slowloris, 150 connections (limit 16)", legit_served_after_s=round(result["ok"], 1))
        assert srv.peak_fds < srv.base_fds + 16 * 2 + 10  # at most the limit is accepted
    # (the crowd is closed now) and the server stopped cleanly


def test_gateway_clients_that_abort_mid_stream_and_garbage():
    with Served("gateway", **GW) as srv:
        for i in range(40):
            s = socket.create_connection((HOST, srv.port), timeout=5)
            s.sendall(os.urandom(10_000 + i))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset, mid-stream
        gateway_serves(srv.port)
        srv.record("gateway: 40 clients reset mid-stream")
    with Served("gateway", **dict(GW, decrypt=True)) as srv:
        for junk in [b"", b"GET / HTTP/1.1\r\n\r\n", os.urandom(5000), b"QLTX\x00\x06" + os.urandom(2000)]:
            with socket.create_connection((HOST, srv.port), timeout=5) as s:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                try:
                    while s.recv(65536):
                        pass
                except ConnectionResetError:
                    pass  # a decrypting gateway resets the plaintext side of a bad stream
        # A real container still decrypts.
        data = os.urandom(30_000)
        blob = io.BytesIO()
        qltx.pack(data, blob, MK, block_size=4096)
        assert reflect(srv.port, blob.getvalue()) == data
        srv.record("gateway decrypt: garbage streams")


class SlowSink:
    """Accepts one connection and reads it at ``rate`` bytes/s, hashing what it gets."""

    def __init__(self, rate: float):
        self.rate = rate
        self.sock = socket.create_server((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.sha = hashlib.sha256()
        self.n = 0
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        self.sock.settimeout(30)
        c, _ = self.sock.accept()
        with c:
            c.settimeout(30)
            t0 = time.monotonic()
            while b := c.recv(256 << 10):
                self.sha.update(b)
                self.n += len(b)
                ahead = self.n / self.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)

    def close(self):
        self.t.join(60)
        self.sock.close()


@pytest.mark.slow
def test_gateway_fast_source_slow_destination_bounds_memory():
    """A source sending 48 MiB as fast as it can, a destination reading 8 MiB/s (standing in
    for 1 GiB at 1 MiB/s): the gateway's memory stays bounded by its window, not the backlog."""
    size, rate, bs = 48 << 20, 8 << 20, 256 << 10
    sink = SlowSink(rate)
    try:
        with Served("gateway", block_size=bs, workers=2, window=4, dest_host=HOST, dest_port=sink.port) as srv:
            piece = os.urandom(1 << 20)
            t0 = time.monotonic()
            with socket.create_connection((HOST, srv.port), timeout=60) as s:
                for _ in range(size >> 20):
                    s.sendall(piece)
                s.shutdown(socket.SHUT_WR)
                sink.t.join(60)
            elapsed = time.monotonic() - t0
            assert sink.n > size
            growth = srv.peak_rss - srv.base_rss
            srv.record("gateway: 48 MiB source, destination at 8 MiB/s", seconds=round(elapsed, 1),
                       rss_growth_mib=round(growth / 2**20, 1))
            # 2 * (window + 1) * (block + 220) is 2.5 MiB here; allow for allocator and socket slack.
            # (Under tools/asan_tests.sh, ASan's quarantine keeps freed blocks: no bound then.)
            if not os.environ.get("QELTRIX_ASAN_WRAPPER"):
                assert growth < 40 << 20, f"the gateway buffered {growth >> 20} MiB"
    finally:
        sink.close()


# ---- the SeekServer -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def container(tmp_path_factory):
    data = os.urandom(3 << 20)
    path = tmp_path_factory.mktemp("abuse") / "big.qltx"
    qltx.pack(data, str(path), MK, block_size=64 << 10)
    return str(path), data


SEEK = dict(workers=2, max_connections=64, header_timeout=1.0, idle_timeout=1.0, send_timeout=2.0)


def get(port: int, headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
    """One GET of /, retried while the server answers 503 or drops the connection (full)."""
    deadline = time.monotonic() + timeout
    while True:
        c = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            c.request("GET", "/", headers=headers or {})
            r = c.getresponse()
            body = r.read()
            if r.status != 503:
                return r.status, body
        except (ConnectionError, http.client.HTTPException, TimeoutError):
            pass
        finally:
            c.close()
        if time.monotonic() > deadline:
            raise AssertionError("the SeekServer did not answer in time")
        time.sleep(0.1)


def seek_serves(port: int, data: bytes) -> None:
    status, body = get(port, {"Range": "bytes=1000000-1065535"})
    assert status == 206 and body == data[1000000:1065536]


def raw(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Sends ``request`` and reads the answer until the server closes (or the timeout)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        try:
            s.sendall(request)
        except OSError:
            pass  # the server may answer and close before taking everything
        out = bytearray()
        try:
            while b := s.recv(65536):
                out += b
        except (ConnectionResetError, TimeoutError):
            pass
        return bytes(out)


@pytest.mark.slow
def test_seek_server_slowloris(container):
    """200 clients (limit 64) trickling a request head a byte every 0.4 s: the header deadline
    (1 s) closes them and the excess gets 503, so a real request is answered during the attack."""
    path, data = container
    with Served("seek", path=path, **SEEK) as srv, Crowd() as crowd:
        crowd.connect(srv.port, 200)
        crowd.send_all(b"GET / HTTP/1.1\r\n")
        t0 = time.monotonic()
        served_after = None
        while time.monotonic() - t0 < 6:
            crowd.send_all(b"X")
            if served_after is None and time.monotonic() - t0 > 0.5:
                seek_serves(srv.port, data)
                served_after = time.monotonic() - t0
            time.sleep(0.4)
        closed = crowd.closed_by_server()
        assert closed == len(crowd.socks), f"{len(crowd.socks) - closed} trickling clients still open"
        srv.record("seek: slowloris, 200 connections (limit 64)", legit_served_after_s=round(served_after, 1))
        # The limit plus as many again being answered 503 (each closed once its answer is sent).
        assert srv.peak_fds <= srv.base_fds + 2 * 64 + 10
        seek_serves(srv.port, data)


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1234567890123456789012345678901234567890\r\n" * 1000 + b"\r\n", 400),
    (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400),
    (b"GET / FTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
])
def test_seek_server_bad_requests(container, request_bytes, status):
    path, data = container
    with Served("seek", path=path, **SEEK) as srv:
        for _ in range(20):
            answer = raw(srv.port, request_bytes)
            assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:80]
        seek_serves(srv.port, data)


def test_seek_server_thousands_of_ranges_and_disconnects_mid_body(container):
    path, data = container
    with Served("seek", path=path, **SEEK) as srv:
        t0 = time.monotonic()
        # 5000 ranges do not fit in a header line (8 KiB): 400, as nginx.
        many = ",".join(f"{i * 100}-{i * 100 + 9}" for i in range(5000))
        assert get(srv.port, {"Range": "bytes=" + many})[0] == 400
        # 1800 one-byte ranges and 2000 overlapping whole-file ranges: above max_ranges (16),
        # Range is ignored and the whole file is sent once (no amplification).
        for value in (",".join(["1-1"] * 1800), ",".join(["0-"] * 2000)):
            status, body = get(srv.port, {"Range": "bytes=" + value})
            assert status == 200 and body == data
        ranges_s = time.monotonic() - t0
        for i in range(50):  # whole-file GETs abandoned after a few KB, some with a reset
            s = socket.create_connection((HOST, srv.port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(4096)
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        seek_serves(srv.port, data)
        wait_until(lambda: srv.fds() <= srv.base_fds + 5, "the descriptors of abandoned connections to be freed")
        srv.record("seek: 1800-range and 2000-overlap headers, 50 mid-body disconnects",
                   ranges_seconds=round(ranges_s, 2))


def test_seek_server_reader_that_stops_reading(container):
    """Clients that request the whole file and never read: the send deadline frees them."""
    path, data = container
    with Served("seek", path=path, **SEEK) as srv, Crowd() as crowd:
        crowd.connect(srv.port, 30)
        crowd.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        seek_serves(srv.port, data)
        # send_timeout 2 s frees them
        wait_until(lambda: srv.fds() <= srv.base_fds + 5, "the stalled readers' connections to be freed")
        growth = srv.peak_rss - srv.base_rss
        srv.record("seek: 30 whole-file readers that never read", rss_growth_mib=round(growth / 2**20, 1))
        seek_serves(srv.port, data)


def test_gateway_idle_timeout_drops_a_silent_source_only(caplog):
    caplog.set_level(logging.INFO, logger="qeltrix.gateway")

    def idle_drops():
        return sum("(idle timeout)" in r.getMessage() for r in caplog.records)

    with qltx.GatewayServer(MK, listen_port=0, block_size=4096, idle_timeout=0.3) as gw:
        with socket.create_connection((HOST, gw.port), timeout=30) as s:
            s.sendall(b"a few bytes, then silence")
            blob = bytearray()
            while b := s.recv(65536):
                blob += b
        # dropped, and for its silence (the gateway's log says why)
        wait_until(lambda: idle_drops() == 1, "the gateway to log the idle timeout")
        with pytest.raises(qltx.TruncatedError):  # ended as an abort: no footer
            qltx.unpack(bytes(blob), io.BytesIO(), MK)
    # A client that keeps sending for longer than the timeout is not dropped: pieces every 10 ms
    # (100 times closer than the timeout, so that no pause of a loaded machine comes near it) for
    # one and a half times the timeout.
    with qltx.GatewayServer(MK, listen_port=0, block_size=4096, idle_timeout=1.0) as gw:
        sent = bytearray()
        with socket.create_connection((HOST, gw.port), timeout=30) as s:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.5:
                piece = os.urandom(100)
                s.sendall(piece)
                sent += piece
                time.sleep(0.01)  # the source's pace (what is tested), not a wait for an event
            s.shutdown(socket.SHUT_WR)
            blob = bytearray()
            while b := s.recv(65536):
                blob += b
        out = io.BytesIO()
        qltx.unpack(bytes(blob), out, MK)
        assert out.getvalue() == sent
        assert idle_drops() == 1
    # Nor is one the gateway stops reading because its destination is slow (backpressure).
    sink = SlowSink(256 << 10)
    try:
        with qltx.GatewayServer(MK, listen_port=0, block_size=4096, window=2, workers=1, idle_timeout=0.3,
                                dest_host=HOST, dest_port=sink.port) as gw:
            with socket.create_connection((HOST, gw.port), timeout=30) as s:
                s.sendall(os.urandom(1 << 20))
                s.shutdown(socket.SHUT_WR)
                sink.t.join(30)
            assert sink.n > 1 << 20
            wait_until(lambda: gw.stats()["completed"] + gw.stats()["failed"] >= 1, "the connection to end")
            assert gw.stats()["completed"] == 1 and gw.stats()["failed"] == 0
    finally:
        sink.close()
    with pytest.raises(ValueError):
        qltx.GatewayServer(MK, idle_timeout=0)
