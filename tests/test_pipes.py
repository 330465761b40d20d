"""Streams read and written through pipes: short reads at any split point, real OS pipes widened
to a 1 MiB capacity, and the CLI pipeline ``pack - - | unpack - -`` (issue 15's pipe path)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qeltrix
from qeltrix.errors import DamagedError, TruncatedError

BS = 4096  # small blocks: a few KiB of data spans many blocks, pages and the footer


class ShortReads(io.RawIOBase):
    """A pipe-like source: read(n) and readinto(b) return at most the next piece's size, pieces
    cut at the given split points (as a pipe returns whatever was written so far)."""

    def __init__(self, data: bytes, cuts):
        self._data = data
        self._pos = 0
        self._cuts = sorted({c for c in cuts if 0 < c < len(data)}) + [len(data)]

    def readable(self) -> bool:
        return True

    def _next(self, n: int) -> int:
        end = next(c for c in self._cuts if c > self._pos) if self._pos < len(self._data) else self._pos
        return min(n, end - self._pos)

    def readinto(self, b) -> int:
        k = self._next(len(b))
        b[:k] = self._data[self._pos:self._pos + k]
        self._pos += k
        return k

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = len(self._data) - self._pos
        k = self._next(n)
        out = self._data[self._pos:self._pos + k]
        self._pos += k
        return out


@pytest.fixture(scope="module")
def sample():
    key = qeltrix.random_master_key()
    data = os.urandom(5 * BS + 123)
    out = io.BytesIO()
    qeltrix.pack(data, out, key, block_size=BS, workers=1)
    return key, data, out.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=40_000), max_size=30))
def test_unpack_from_short_reads_at_any_split(sample, cuts):
    key, data, blob = sample
    got = io.BytesIO()
    qeltrix.unpack(ShortReads(blob, cuts), got, key, workers=2)
    assert got.getvalue() == data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1), cuts=st.lists(st.integers(min_value=1, max_value=40_000), max_size=10))
def test_a_stream_cut_short_anywhere_is_an_error(sample, cut, cuts):
    key, _, blob = sample
    cut %= len(blob)
    with pytest.raises((TruncatedError, DamagedError)):
        qeltrix.unpack(ShortReads(blob[:cut], cuts), io.BytesIO(), key, workers=2)


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=3 * BS + 7), cuts=st.lists(st.integers(min_value=1, max_value=4 * BS), max_size=12))
def test_pack_from_short_reads_at_any_split(data, cuts):
    key = qeltrix.random_master_key()
    out = io.BytesIO()
    qeltrix.pack(ShortReads(data, cuts), out, key, block_size=BS, workers=2)
    got = io.BytesIO()
    qeltrix.unpack(out.getvalue(), got, key)
    assert got.getvalue() == data


def _pipe_size(fd: int) -> int | None:
    fcntl = pytest.importorskip("fcntl")
    op = getattr(fcntl, "F_GETPIPE_SZ", None)
    return None if op is None else fcntl.fcntl(fd, op)


def test_a_pipe_read_is_widened_and_read_exactly(sample):
    """A real pipe written in small pieces by a thread: unpack reads it byte-exactly, and the
    pipe it reads was given a 1 MiB capacity (where the system allows it)."""
    from qeltrix.sources.local import PIPE_BYTES, widen_pipe

    key, data, blob = sample
    r, w = os.pipe()
    before = _pipe_size(r)
    widen_pipe(r)
    after = _pipe_size(r)
    if before is not None:
        with open("/proc/sys/fs/pipe-max-size") as f:
            limit = int(f.read())
        assert after == (PIPE_BYTES if PIPE_BYTES <= limit or os.geteuid() == 0 else before)

    def feed():
        with os.fdopen(w, "wb", buffering=0) as f:
            for i in range(0, len(blob), 1000):
                f.write(blob[i:i + 1000])

    t = threading.Thread(target=feed)
    t.start()
    got = io.BytesIO()
    with os.fdopen(r, "rb") as f:
        qeltrix.unpack(f, got, key, workers=2)
    t.join()
    assert got.getvalue() == data


def test_widen_pipe_leaves_other_files_alone(tmp_path):
    from qeltrix.sources.local import widen_pipe

    p = tmp_path / "f"
    p.write_bytes(b"x")
    with open(p, "rb") as f:
        widen_pipe(f)  # a regular file: nothing to do, no error
    widen_pipe(io.BytesIO(b"x"))  # no descriptor: nothing to do


def test_cli_pipeline_pack_to_unpack(tmp_path):
    """cat f | qeltrix pack - - | qeltrix unpack - - : byte-exact through two real pipes."""
    key_file = tmp_path / "k.key"
    key_file.write_bytes(qeltrix.random_master_key())
    data = os.urandom(3 * (1 << 20) + 5)
    cli = [sys.executable, "-m", "qeltrix"]
    pack = subprocess.Popen(cli + ["pack", "-", "-", "--key-file", str(key_file), "-q"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    unpack = subprocess.Popen(cli + ["unpack", "-", "-", "--key-file", str(key_file), "-q"], stdin=pack.stdout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pack.stdout.close()

    def feed():
        pack.stdin.write(data)
        pack.stdin.close()

    t = threading.Thread(target=feed)
    t.start()
    out, err = unpack.communicate(timeout=120)
    t.join()
    assert pack.wait(timeout=60) == 0, pack.stderr.read()
    pack.stderr.close()
    assert unpack.returncode == 0, err
    assert out == data
