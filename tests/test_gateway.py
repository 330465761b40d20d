"""The GatewayServer with real sockets on 127.0.0.1 (free ports), and its sans-IO stream decoder.

Every container a gateway emits is checked against the spec's parser (``spec_check``)."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import qeltrix as qltx
from qeltrix import _core
from qeltrix.crypto import CIPHER_AES256_GCM, CIPHER_CHACHA20_POLY1305
from qeltrix.errors import DamagedError, NotAContainerError, TruncatedError
from qeltrix.writer import _pack_from_parts

from qeltrix.inspect import data_offset, index_entries
from speccheck import spec_check
from streams import decode_stream, decrypt_reply
from polling import DEADLINE, wait_until

BS = 4096  # the smallest block size: many blocks from little data
HOST = "127.0.0.1"


# -- helpers ---------------------------------------------------------------------------------------

def recv_all(s: socket.socket) -> bytes:
    out = bytearray()
    while True:
        b = s.recv(1 << 20)
        if not b:
            return bytes(out)
        out += b


def reflect(port: int, data: bytes, pieces: int = 1) -> bytes:
    """Send data (in pieces), half-close, read the reply to its end."""
    with socket.create_connection((HOST, port), timeout=30) as s:
        step = max(1, -(-len(data) // pieces))
        for i in range(0, len(data), step):
            s.sendall(data[i:i + step])
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)


def abort(s: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a crashed client would."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class Sink:
    """A TCP server that keeps what each connection sends (and when), optionally reading slowly."""

    def __init__(self, rate: float | None = None, chunk: int = 1 << 20, rcvbuf: int | None = None):
        """``rcvbuf``: a fixed receive buffer (no autotuning), so that what the kernel holds
        between the gateway and this sink is bounded however the sink's pace varies."""
        self.rate, self.chunk = rate, chunk
        self.sock = socket.socket()
        if rcvbuf is not None:  # before listen: the connections take it from the listener
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((HOST, 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.conns: list[dict] = []
        self.received = 0
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            rec = {"data": bytearray(), "times": [], "error": None, "done": threading.Event()}
            self.conns.append(rec)
            t = threading.Thread(target=self._serve, args=(c, rec), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, c, rec):
        with c:
            try:
                while True:
                    b = c.recv(self.chunk)
                    if not b:
                        break
                    rec["data"] += b
                    rec["times"].append((time.monotonic(), len(rec["data"])))
                    self.received += len(b)
                    if self.rate:
                        time.sleep(len(b) / self.rate)
            except OSError as e:
                rec["error"] = e
        rec["done"].set()

    def wait(self, n: int = 1, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.conns) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        for rec in self.conns[:n]:
            assert rec["done"].wait(max(0.0, deadline - time.monotonic())), "sink connection did not end"
        return self.conns[:n]

    def close(self):
        self._stop.set()
        self._acceptor.join()
        self.sock.close()
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def gateway(mk=None, **kw) -> qltx.GatewayServer:
    kw.setdefault("listen_port", 0)
    kw.setdefault("block_size", BS)
    kw.setdefault("workers", 2)
    return qltx.GatewayServer(mk, **kw)


def settle(gw, timeout: float = DEADLINE) -> dict:
    """The gateway's stats once no connection is active (the client may see its end first; a
    loaded machine may take a while to get there: a pass returns at once)."""
    deadline = time.monotonic() + timeout
    while True:
        st_ = gw.stats()
        if st_["active"] == 0 or time.monotonic() > deadline:
            return st_
        time.sleep(0.01)


def stop_within(gw, timeout: float) -> None:
    """gw.stop(timeout) returns although a connection would never end by itself (the idle or
    endless source is still connected): it ends them once its timeout passed."""
    t = threading.Thread(target=gw.stop, kwargs={"timeout": timeout})
    t.start()
    t.join(DEADLINE)
    assert not t.is_alive(), "stop() did not end the connections"


def blocks_received(sink: Sink) -> int:
    """Whole blocks the sink's first connection has received so far (by the stream decoder)."""
    if not sink.conns:
        return 0
    dec, buf, n = _core._StreamDecoder(), bytes(sink.conns[0]["data"]), 0
    while buf:
        kind, size = dec.next(buf)
        if kind == "need":
            break
        n += kind == "block"
        buf = buf[size:]
    return n


def check_container(blob: bytes, mk, expect: bytes) -> None:
    spec_check(blob, patched=False)  # a live stream: the header is never patched
    out = io.BytesIO()
    qltx.unpack(blob, out, mk)
    assert out.getvalue() == expect


# -- reflect and forward -----------------------------------------------------------------------------

@pytest.mark.parametrize("cipher", [CIPHER_AES256_GCM, CIPHER_CHACHA20_POLY1305])
@pytest.mark.parametrize("size", [0, 1, BS - 1, BS, 3 * BS, 100_000])
def test_reflect(mk, cipher, size):
    data = os.urandom(size)
    with gateway(mk, cipher_id=cipher, flush_after=5) as gw:
        blob = reflect(gw.port, data, pieces=3)
        stats = settle(gw)
    check_container(blob, mk, data)
    p = spec_check(blob)
    assert p.header.cipher.value == cipher
    n = len(list(index_entries(p)))
    # full blocks, then the final one: empty when the input ended on a block boundary (or no
    # block at all for an empty input)
    assert n == (0 if size == 0 else size // BS + 1)
    assert stats["completed"] == 1 and stats["failed"] == 0 and stats["bytes_in"] == size
    assert stats["bytes_out"] == len(blob)


def test_saved_stream_is_seekable(mk, tmp_path):
    data = os.urandom(50_000)
    with gateway(mk, flush_after=5) as gw:  # full blocks only (the count is checked), whatever the pace
        blob = reflect(gw.port, data)
    path = tmp_path / "saved.qltx"
    path.write_bytes(blob)
    assert qltx.seek_extract(str(path), 12_345, 20_000, master_key=mk) == data[12_345:32_345]
    assert qltx.verify(str(path), mk).ok
    # and read in one pass, as from a pipe
    r = qltx.unpack(io.BufferedReader(io.BytesIO(blob)), tmp_path / "out.bin", mk)
    assert (tmp_path / "out.bin").read_bytes() == data and r.total_blocks == 13


def test_forward_many_connections(mk):
    payloads = [os.urandom(n) for n in (10, 20_000, 70_001, 5)]
    with Sink() as sink, gateway(mk, dest_host=HOST, dest_port=sink.port) as gw:
        def send(d):
            with socket.create_connection((HOST, gw.port)) as s:
                s.sendall(d)
                s.shutdown(socket.SHUT_WR)
                assert recv_all(s) == b""  # forward mode: nothing comes back
        threads = [threading.Thread(target=send, args=(d,)) for d in payloads]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        recs = sink.wait(len(payloads))
        assert settle(gw)["completed"] == len(payloads)
    got = set()
    for rec in recs:
        out = io.BytesIO()
        spec_check(bytes(rec["data"]), patched=False)
        qltx.unpack(bytes(rec["data"]), out, mk)
        got.add(out.getvalue())
    assert got == set(payloads)


def test_seed_example(mk):
    # the seed's call, as written (0.0.0.0 is only constructed here: tests bind loopback only)
    gw = qltx.GatewayServer(mk, listen_host="0.0.0.0", listen_port=7620, cipher_id=CIPHER_AES256_GCM,
                            workers=4, dest_host=None)
    assert (gw.listen_host, gw.port, gw.workers, gw.dest_host, gw.running) == ("0.0.0.0", 7620, 4, None, False)
    from qeltrix_v6.gateway import GatewayServer, StreamPacker  # the seed's module keeps both
    assert GatewayServer is qltx.GatewayServer and StreamPacker is qltx.StreamPacker
    with qltx.GatewayServer(mk, listen_host=HOST, listen_port=0, cipher_id=CIPHER_AES256_GCM, workers=4,
                            dest_host=None) as gw:
        assert gw.running and gw.port != 0
        data = os.urandom(3_000_000)  # the default 1 MiB blocks
        blob = reflect(gw.port, data, pieces=7)
    assert not gw.running
    check_container(blob, mk, data)


# -- timing, backpressure ----------------------------------------------------------------------------

def test_slow_source_flushes_early_blocks(mk):
    """A source that pauses (longer than flush_after) gets each partial block sealed and sent while
    it is still connected: the destination receives every block before the next piece is sent."""
    pieces = [os.urandom(1000) for _ in range(5)]
    with Sink() as sink, gateway(mk, dest_host=HOST, dest_port=sink.port, flush_after=0.05) as gw:
        with socket.create_connection((HOST, gw.port)) as s:
            for k, piece in enumerate(pieces):
                s.sendall(piece)
                # sealed with no more input coming (a test that waits only as long as that takes)
                wait_until(lambda: blocks_received(sink) > k, f"block {k} to reach the destination")
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == b""
        (rec,) = sink.wait(1)
    blob = bytes(rec["data"])
    check_container(blob, mk, b"".join(pieces))
    p = spec_check(blob)
    sizes = [e.len_plaintext for e in index_entries(p)]
    assert sizes[:5] == [1000] * 5 and sum(sizes) == 5000  # one partial block per pause


def test_steady_trickle_is_not_held_back(mk):
    """Bytes every 20 ms never leave the source idle for flush_after=0.1 s: max_delay (5x) seals
    partial blocks anyway, so the destination gets three of them while the source still sends."""
    with Sink() as sink, gateway(mk, dest_host=HOST, dest_port=sink.port, flush_after=0.1) as gw:
        with socket.create_connection((HOST, gw.port)) as s:
            sent = 0
            while blocks_received(sink) < 3:
                assert sent < 2 * BS, "blocks held back while the source trickled"
                s.sendall(b"x" * 10)
                sent += 10
                time.sleep(0.02)  # the trickle's pace (what is tested), not a wait for an event
            s.shutdown(socket.SHUT_WR)
            recv_all(s)
        (rec,) = sink.wait(1)
    p = spec_check(bytes(rec["data"]))
    sizes = [e.len_plaintext for e in index_entries(p)]
    assert len(sizes) >= 3 and max(sizes[:3]) < BS  # sealed partial while sending, not only when full


def test_slow_destination_bounds_memory(mk):
    bs, window, total = 64 * 1024, 4, 24 << 20
    bound = 2 * (window + 1) * (bs + 220)
    samples = []
    # the sink's receive buffer is fixed: a sink catching up after a pause of a loaded machine
    # would otherwise grow it (autotuning, up to tcp_rmem's maximum) past the margin below
    with Sink(rate=12e6, chunk=256 * 1024, rcvbuf=256 * 1024) as sink, \
            gateway(mk, dest_host=HOST, dest_port=sink.port, block_size=bs, window=window) as gw:
        with socket.create_connection((HOST, gw.port)) as s:
            chunk = os.urandom(1 << 20)
            for _ in range(total // len(chunk)):
                s.sendall(chunk)
                st_ = gw.stats()
                samples.append((st_["bytes_in"] - sink.received, st_["buffered"]))
            s.shutdown(socket.SHUT_WR)
            recv_all(s)
        (rec,) = sink.wait(1, timeout=60)
        stats = gw.stats()
    assert len(rec["data"]) > total
    assert stats["peak_buffered"] <= bound
    # the source was held back: what the gateway took in never ran far ahead of what the sink
    # read (the queue bound plus the kernel's socket buffers), although it sent 24 MiB at once
    assert max(a for a, _ in samples) < bound + (8 << 20)
    assert stats["peak_buffered"] >= bs  # blocks did wait for the slow destination


# -- failures ----------------------------------------------------------------------------------------

def test_client_abort_gives_a_truncated_container(mk, tmp_path):
    data = os.urandom(40_000)
    with Sink() as sink, gateway(mk, dest_host=HOST, dest_port=sink.port) as gw:
        s = socket.create_connection((HOST, gw.port))
        s.sendall(data)
        wait_until(lambda: blocks_received(sink) >= len(data) // BS, "the full blocks to reach the destination")
        abort(s)
        (rec,) = sink.wait(1)
        assert settle(gw)["failed"] == 1
    blob = bytes(rec["data"])
    assert len(blob) >= _core.decode_header61(blob[:256]).data_offset + 9 * (BS + 220)  # the full blocks arrived
    with pytest.raises(TruncatedError):
        qltx.unpack(blob, io.BytesIO(), mk)
    (tmp_path / "k.key").write_bytes(mk)
    p = subprocess.run([sys.executable, "-m", "qeltrix", "unpack", "-", "-", "--key-file", "k.key"],
                       input=blob, capture_output=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 4, p.stderr
    assert b"the stream ends" in p.stderr
    assert data.startswith(p.stdout)  # only authenticated blocks


def _bound_port(s: socket.socket) -> int:
    s.bind((HOST, 0))
    return s.getsockname()[1]


def test_destination_unreachable_closes_cleanly(mk):
    # A port bound but never listening: a connection to it is refused. (Closed, it could be taken
    # by another socket, or become the gateway's own source port: a TCP self-connect succeeds.)
    with socket.socket() as free, gateway(mk, dest_host=HOST, dest_port=_bound_port(free)) as gw:
        with socket.create_connection((HOST, gw.port), timeout=10) as s:
            try:
                s.sendall(b"hello")
                got = recv_all(s)
            except ConnectionResetError:
                got = b""
            assert got == b""
        st_ = settle(gw)
        assert st_["failed"] == 1 and st_["active"] == 0
        assert gw.running  # still serving


def test_stop_ends_idle_connections_as_truncated(mk):
    with Sink() as sink:
        gw = gateway(mk, dest_host=HOST, dest_port=sink.port, flush_after=0.05).start()
        s = socket.create_connection((HOST, gw.port))
        s.sendall(b"a" * 5000)
        wait_until(lambda: blocks_received(sink) == 2, "a full and a flushed block (the connection is idle)")
        stop_within(gw, 0.2)
        (rec,) = sink.wait(1)
        assert recv_all(s) == b""
        s.close()
    with pytest.raises(TruncatedError):
        qltx.unpack(bytes(rec["data"]), io.BytesIO(), mk)


# -- decrypt mode and the tunnel -------------------------------------------------------------------------

def test_tunnel_100mib(mk):
    total = 100 << 20
    with Sink() as sink, \
            gateway(mk, dest_host=HOST, dest_port=sink.port, decrypt=True, block_size=1 << 20) as dec, \
            gateway(mk, dest_host=HOST, dest_port=dec.port, block_size=1 << 20) as enc:
        h = hashlib.sha256()
        with socket.create_connection((HOST, enc.port)) as s:
            chunk = os.urandom(1 << 20)
            for i in range(total // len(chunk)):
                piece = chunk[i % 7:] + chunk[:i % 7]
                s.sendall(piece)
                h.update(piece)
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == b""
        (rec,) = sink.wait(1, timeout=120)
        assert settle(enc)["completed"] == 1 and settle(dec)["completed"] == 1
    assert len(rec["data"]) == total and hashlib.sha256(rec["data"]).digest() == h.digest()


def test_tunnel_with_passphrase_and_reflect_decrypt(mk):
    data = os.urandom(30_000)
    with gateway(passphrase="pw", flush_after=0.05) as enc:
        blob = reflect(enc.port, data)
        params = enc.kdf_params
    spec_check(blob, patched=False)
    assert qltx.info(blob)["kdf"] == "argon2id"
    assert qltx.info(blob)["kdf_params"] == {"t": params.t, "m": params.m, "p": params.p}
    with gateway(passphrase="pw", decrypt=True, kdf_params=params) as dec:
        assert reflect(dec.port, blob, pieces=11) == data
        assert reflect(dec.port, blob) == data  # derived once, at start-up


def test_block_hash_blake3_reflect_and_tunnel(mk):
    """block_hash="blake3": the containers carry BLAKE3 plaintext hashes (the header says so),
    unpack checks them, and a decrypting gateway passes the bytes on unchanged."""
    data = os.urandom(7 * BS + 99)
    with gateway(mk, block_hash="blake3") as enc:
        blob = reflect(enc.port, data, pieces=5)
    spec_check(blob, patched=False)
    assert qltx.info(blob)["block_hash"] == "blake3"
    out = io.BytesIO()
    qltx.unpack(blob, out, mk)
    assert out.getvalue() == data
    with Sink() as sink, \
            gateway(mk, dest_host=HOST, dest_port=sink.port, decrypt=True) as dec, \
            gateway(mk, dest_host=HOST, dest_port=dec.port, block_hash="blake3") as enc:
        with socket.create_connection((HOST, enc.port)) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == b""
        (rec,) = sink.wait(1, timeout=60)
    assert rec["data"] == data
    with pytest.raises(ValueError):
        qltx.GatewayServer(mk, block_hash="md5")


def test_blocks_of_changing_sizes_through_reused_buffers(mk):
    """Each connection reuses its block buffers: a stream of small (flushed) blocks, then full
    ones, then small ones again comes out byte-exact, sealed and then opened in any pieces."""
    small = [os.urandom(n) for n in (100, 3000, 1)]
    big = os.urandom(5 * BS)
    tail = [os.urandom(n) for n in (2, 700)]
    blob = bytearray()
    # flush_after: long enough that a pause of a loaded machine inside the big piece's sendall
    # never seals a partial block there (the sizes are checked), short enough to wait for 5 times
    with gateway(mk, flush_after=0.3) as enc:
        with socket.create_connection((HOST, enc.port), timeout=30) as s:
            def flushed(piece: bytes, blocks: int = 1) -> None:  # send, wait for its blocks to come back
                s.sendall(piece)
                want = len(blob) + len(piece) + blocks * _core.BLOCK_OVERHEAD
                while len(blob) < want:
                    got = s.recv(1 << 20)
                    assert got
                    blob.extend(got)

            blob.extend(s.recv(1 << 20))  # the header (and keyring), sent at once
            for piece in small:
                flushed(piece)
            flushed(big, 5)
            for piece in tail:
                flushed(piece)
            s.shutdown(socket.SHUT_WR)
            blob.extend(recv_all(s))
    data = b"".join(small) + big + b"".join(tail)
    sizes = [e.len_plaintext for e in index_entries(spec_check(bytes(blob)))]
    assert sizes == [100, 3000, 1] + [BS] * 5 + [2, 700, 0]  # the last: the empty final block
    with gateway(mk, decrypt=True) as dec:
        for pieces in (1, 3, 17, 101):
            assert reflect(dec.port, bytes(blob), pieces=pieces) == data


def test_decrypt_releases_only_authenticated_blocks(mk):
    data = os.urandom(10 * BS)
    blob = _pack_from_parts(data, mk, rand=os.urandom, block_size=BS, patch=False)
    with gateway(mk, decrypt=True) as dec:
        assert decrypt_reply(dec.port, blob) == (data, False)
        # truncated inside block 5: blocks 0..4 come out, then a reset (not a clean end)
        cut = 416 + 5 * (BS + 220) + 100
        out, reset = decrypt_reply(dec.port, blob[:cut])
        assert reset and out == data[:5 * BS]
        # without footer and trailer
        out, reset = decrypt_reply(dec.port, blob[:416 + 10 * (BS + 220)])
        assert reset and out == data
        # a flipped bit in block 3's payload: blocks 0..2 only
        bad = bytearray(blob)
        bad[416 + 3 * (BS + 220) + 500] ^= 1
        out, reset = decrypt_reply(dec.port, bytes(bad))
        assert reset and out == data[:3 * BS]
        # a wrong key, trailing bytes, not a container
        other = _pack_from_parts(data, os.urandom(32), rand=os.urandom, block_size=BS)
        assert decrypt_reply(dec.port, other) == (b"", True)
        out, reset = decrypt_reply(dec.port, blob + b"x")
        assert reset and out == data
        assert decrypt_reply(dec.port, b"GET / HTTP/1.1\r\n\r\n" + bytes(500)) == (b"", True)
        st_ = settle(dec)
        assert st_["completed"] == 1 and st_["failed"] == 6


# -- CLI -------------------------------------------------------------------------------------------------

def _start_cli(tmp_path, *args):
    env = dict(os.environ)
    env.pop("QELTRIX_PASSPHRASE", None)
    p = subprocess.Popen([sys.executable, "-m", "qeltrix", "gateway", *map(str, args)], cwd=tmp_path, env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stderr.readline().decode()
    return p, line


def test_cli_gateway_reflect_and_sigterm(tmp_path, mk):
    (tmp_path / "k.key").write_bytes(mk)
    p, line = _start_cli(tmp_path, "--port", 0, "--key-file", "k.key", "--block-size", 4,
                         "--flush-after", "0.05", "--workers", 2, "--cipher", "chacha",
                         "--max-connections", 2, "--window", 3, "--connect-timeout", 5)
    try:
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        data = os.urandom(20_000)
        blob = reflect(port, data)
        check_container(blob, mk, data)
        assert qltx.info(blob)["cipher"] == "ChaCha20-Poly1305"
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    assert b"Traceback" not in err


def test_cli_gateway_usage_and_non_loopback_warning(tmp_path, mk):
    (tmp_path / "k.key").write_bytes(mk)
    env = dict(os.environ)
    env.pop("QELTRIX_PASSPHRASE", None)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "qeltrix", "gateway", *map(str, args)], cwd=tmp_path,
                              env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)

    p = run("--port", 0, "--key-file", "k.key", "--dest-host", HOST)
    assert p.returncode == 2 and b"--dest-port" in p.stderr
    for bad in (("--max-connections", 0), ("--window", 0), ("--connect-timeout", 0)):
        p = run("--port", 0, "--key-file", "k.key", *bad)
        assert p.returncode == 2 and bad[0].encode() in p.stderr, p.stderr
    # 192.0.2.1 (TEST-NET-1) is not ours: the warning is printed, then binding fails (exit 5)
    p = run("--port", 0, "--host", "192.0.2.1", "--key-file", "k.key")
    assert p.stderr.count(b"no authentication") == 1 and p.returncode == 5, p.stderr
    assert b"Traceback" not in p.stderr


# -- the sans-IO stream decoder --------------------------------------------------------------------------

def _container(n_bytes: int, **kw) -> bytes:
    return _pack_from_parts(os.urandom(n_bytes), os.urandom(32), rand=os.urandom, block_size=BS, **kw)


def test_decoder_items():
    blob = _container(2 * BS + 10, patch=False)
    items = decode_stream([blob])
    assert [k for k, _ in items] == ["header", "block", "block", "block", "footer", "trailer"]
    assert sum(n for _, n in items) == len(blob)
    assert decode_stream([blob[i:i + 1] for i in range(len(blob))]) == items  # a byte at a time
    assert [k for k, _ in decode_stream([_container(0)])] == ["header", "footer", "trailer"]
    assert len(decode_stream([_container(BS, patch=True)])) == 4  # a patched header is fine too


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 3 * BS + 1000), max_size=8), st.integers(0, 3 * BS))
def test_decoder_any_split(cuts, size):
    blob = _container(size)
    points = sorted({min(c, len(blob)) for c in cuts})
    chunks = [blob[a:b] for a, b in zip([0] + points, points + [len(blob)])]
    items = decode_stream(chunks)
    assert sum(n for _, n in items) == len(blob) and items[-1][0] == "trailer"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 * BS + 700))
def test_decoder_truncated_anywhere(cut):
    blob = _container(BS + 300)
    if cut >= len(blob):
        return
    with pytest.raises(TruncatedError):
        decode_stream([blob[:cut]])


def test_decoder_rejects_bad_streams():
    blob = _container(2 * BS)
    with pytest.raises(DamagedError, match="after the trailer"):
        decode_stream([blob + b"\0"])
    with pytest.raises(NotAContainerError):
        decode_stream([b"GET / HTTP/1.1\r\n"])
    bad = bytearray(blob)
    bad[416 + 4:416 + 12] = (1).to_bytes(8, "big")  # block 0 claims to be block 1
    with pytest.raises(DamagedError, match="found block 1"):
        decode_stream([bytes(bad)])
    bad = bytearray(blob)
    bad[416 + 16:416 + 24] = (10**12).to_bytes(8, "big")  # a huge payload size is never trusted
    with pytest.raises(DamagedError):
        decode_stream([bytes(bad[:500])])
    # a footer claiming more blocks than arrived is rejected before its size is believed
    footer_at = 416 + 2 * (BS + 220)
    bad = bytearray(blob)
    for claimed in (3, 2**31):
        bad[footer_at + 8:footer_at + 16] = claimed.to_bytes(8, "big")
        with pytest.raises(DamagedError):
            decode_stream([bytes(bad[:footer_at + 64])])
    with pytest.raises(DamagedError, match="footer lists 3 blocks"):
        bad[footer_at + 8:footer_at + 16] = (3).to_bytes(8, "big")
        decode_stream([bytes(bad[:footer_at + 64])])
    # blocks after the final one, a footer before it
    with pytest.raises(DamagedError):
        decode_stream([blob[:416 + 3 * (BS + 220)] + blob[416:416 + BS + 220]])


def test_flush_deadline():
    assert _core._flush_deadline(1000, 1100, 200, 1000) == 1300  # idle after the last byte
    assert _core._flush_deadline(1000, 1950, 200, 1000) == 2000  # the first byte waited enough


def test_chunker_says_when_a_block_ends():
    """The gateway's plaintext reader is a loop around this sans-IO chunker: full blocks seal at
    once, a partial one at the earlier of flush_after after its last byte and max_delay after its
    first, and a read never waits past that."""
    c = _core._Chunker(16, 200, 1000)
    assert (c.fill, c.room, c.deadline(), c.due(10**6), c.wait_ms(0, 100)) == (0, 16, -1, False, 100)
    assert c.arrived(4, 1000) is False and (c.fill, c.room, c.deadline()) == (4, 12, 1200)
    assert (c.wait_ms(1100, 100), c.wait_ms(1150, 100), c.due(1199), c.due(1200)) == (100, 50, False, True)
    for t in (1150, 1300, 1450, 1600, 1750, 1900):  # a trickle keeps the block open, but not past max_delay
        assert c.arrived(1, t) is False and c.deadline() == min(t + 200, 2000)
    assert c.deadline() == 2000 and not c.due(1999) and c.due(2000)
    assert c.arrived(c.room, 1950) is True and c.room == 0
    assert c.take() == 16 and (c.fill, c.deadline()) == (0, -1)
    for bad in (0, 17):
        with pytest.raises(ValueError):
            c.arrived(bad, 0)


@given(st.lists(st.tuples(st.integers(1, 9), st.integers(0, 500)), max_size=40))
def test_chunker_holds_its_invariants(steps):
    bs, fa, md = 9, 200, 1000
    c = _core._Chunker(bs, fa, md)
    now, fill, first, last = 0, 0, 0, 0
    for n, gap in steps:
        now += gap
        if c.due(now):
            assert fill and now >= min(last + fa, first + md)
            assert c.take() == fill
            fill = 0
        n = min(n, bs - fill)
        if not fill:
            first = now
        last, fill = now, fill + n
        assert c.arrived(n, now) is (fill == bs)
        assert c.fill == fill and c.deadline() == min(last + fa, first + md)
        assert 0 <= c.wait_ms(now, 100) <= 100
        if fill == bs:
            assert c.take() == bs
            fill = 0



def test_stream_packer_with_passphrase():
    raw = os.urandom(20_000)
    packer = qltx.StreamPacker(passphrase="pw", block_size=BS)
    out = io.BytesIO()
    packer.pack_stream(io.BytesIO(raw), out.write, total_size=len(raw))
    assert packer.patch_header(out, total_size=len(raw))
    spec_check(out.getvalue(), packer.last_result, patched=True)
    assert qltx.info(out.getvalue())["kdf"] == "argon2id"
    res = io.BytesIO()
    qltx.unpack(out.getvalue(), res, passphrase="pw")
    assert res.getvalue() == raw


def test_sealer_push_api(mk):
    from qeltrix.writer import Sealer

    s = Sealer(mk, block_size=BS)
    parts = [s.header_bytes, s.seal_block(b"a" * 10, False), s.seal_block(b"b" * BS, False),
             s.seal_block(b"", True)]
    with pytest.raises(ValueError):
        s.seal_block(b"c", True)
    blob = b"".join(parts) + s.finish()
    check_container(blob, mk, b"a" * 10 + b"b" * BS)
    s2 = Sealer(mk, block_size=BS)
    with pytest.raises(ValueError):
        s2.seal_block(b"", False)
    with pytest.raises(ValueError):
        s2.seal_block(bytes(BS + 1), False)


def test_argument_checks(mk):
    with pytest.raises(ValueError):
        qltx.GatewayServer(mk, dest_host=HOST)
    with pytest.raises(ValueError):
        qltx.GatewayServer(mk, flush_after=0)
    with pytest.raises(ValueError):
        qltx.GatewayServer(mk, block_size=100)
    with pytest.raises(ValueError):
        qltx.GatewayServer(None)
    with gateway(mk) as gw:
        with pytest.raises(OSError):
            gateway(mk, listen_port=gw.port).start()  # the port is taken


def test_stop_during_a_busy_transfer(mk):
    stop_sending = threading.Event()

    def source(port):
        with socket.create_connection((HOST, port)) as s:
            chunk = os.urandom(1 << 16)
            try:
                while not stop_sending.is_set():
                    s.sendall(chunk)
            except OSError:
                pass

    with Sink(rate=50e6) as sink:
        gw = gateway(mk, dest_host=HOST, dest_port=sink.port, block_size=1 << 16).start()
        t = threading.Thread(target=source, args=(gw.port,))
        t.start()
        wait_until(lambda: blocks_received(sink) >= 2, "the transfer to be under way")
        stop_within(gw, 0.2)
        stop_sending.set()
        t.join(10)
        (rec,) = sink.wait(1)
    assert len(rec["data"]) > 416
    with pytest.raises(TruncatedError):
        qltx.unpack(bytes(rec["data"]), io.BytesIO(), mk)
