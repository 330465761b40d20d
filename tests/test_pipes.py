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


# The streaming unpack's workers take turns reading the pipe, each then decrypting what it read
# (pipeline.ordered_map_pull): a cut, a damaged block or a consumer that stops must still come
# out as before, from real pipes into the real CLI.

PIPE_BS = 64 << 10  # groups of four blocks, several groups in flight
CLI = [sys.executable, "-m", "qeltrix"]


@pytest.fixture(scope="module")
def piped(tmp_path_factory):
    """A container of 40 blocks (and its key file, plaintext and block offsets)."""
    from qeltrix.inspect import index_entries
    from speccheck import spec_check

    d = tmp_path_factory.mktemp("piped")
    key = qeltrix.random_master_key()
    (d / "k").write_bytes(key)
    data = os.urandom(40 * PIPE_BS - 1000)
    out = io.BytesIO()
    qeltrix.pack(data, out, key, block_size=PIPE_BS)
    blob = out.getvalue()
    parsed = spec_check(blob)
    blocks = [(e.ofs_block, e.len_block) for e in index_entries(parsed)]
    return d / "k", data, blob, blocks, parsed.trailer.ofs_footer


def _feed_thread(stdin, data: bytes, close: bool = True) -> threading.Thread:
    """Write ``data`` into a child's unbuffered stdin from a thread (then close it, or not)."""
    def run():
        view = memoryview(data)
        try:
            while view:
                view = view[stdin.write(view):]
        except (BrokenPipeError, ValueError, OSError):  # the child stopped reading
            pass
        if close:
            stdin.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _unpack_cli(key_file, blob: bytes, out):
    """``qeltrix unpack - OUT`` with ``blob`` written into its stdin: (exit code, stderr)."""
    p = subprocess.Popen(CLI + ["unpack", "-", str(out), "--key-file", str(key_file), "-q"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0)
    t = _feed_thread(p.stdin, blob)
    err = p.stderr.read().decode()
    rc = p.wait(timeout=120)
    p.stderr.close()
    t.join(60)
    return rc, err


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("qeltrix: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("where", ["header", "first block", "between blocks", "block 21", "last block", "footer",
                                   "trailer"])
def test_cli_unpack_from_a_pipe_cut_short(piped, tmp_path, where):
    """A pipe that ends anywhere: exit 4, one line, nothing under the output's name."""
    key_file, _, blob, blocks, footer = piped
    cut = {"header": 30, "first block": blocks[0][0] + 5000, "between blocks": blocks[8][0],
           "block 21": blocks[21][0] + blocks[21][1] // 2, "last block": blocks[-1][0] + 100,
           "footer": footer + 40, "trailer": len(blob) - 3}[where]
    rc, err = _unpack_cli(key_file, blob[:cut], tmp_path / "plain")
    assert rc == 4, err
    assert any(w in _one_line(err) for w in ("ends", "truncated")), err
    assert os.listdir(tmp_path) == []


def test_cli_unpack_from_a_pipe_whole(piped, tmp_path):
    key_file, data, blob, _, _ = piped
    rc, err = _unpack_cli(key_file, blob, tmp_path / "plain")
    assert (rc, err) == (0, "")
    assert (tmp_path / "plain").read_bytes() == data


def test_a_damaged_block_is_reported_before_a_later_cut(piped, tmp_path):
    """Block 3 damaged, the stream cut inside block 30: a worker meets the cut while the
    workers still decrypt, yet the error at its place in the stream, block 3's, is the one said."""
    key_file, _, blob, blocks, _ = piped
    bad = bytearray(blob[:blocks[30][0] + 1000])
    bad[blocks[3][0] + blocks[3][1] - 50] ^= 1
    rc, err = _unpack_cli(key_file, bytes(bad), tmp_path / "plain")
    assert rc == 4 and "block 3" in _one_line(err), err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("where", ["early", "late"])
def test_unpack_stops_at_damage_while_the_writer_keeps_the_pipe_open(piped, tmp_path, where):
    """The damage is found while more of the stream is on its way and the writer neither writes
    nor closes: unpack exits at once with exit 4 and one line (it does not wait for the read
    a worker is blocked in, and exits cleanly while that thread is blocked)."""
    key_file, _, blob, blocks, _ = piped
    k = 1 if where == "early" else 25
    bad = bytearray(blob[:blocks[36][0]])
    bad[blocks[k][0] + blocks[k][1] - 50] ^= 1
    p = subprocess.Popen(CLI + ["unpack", "-", str(tmp_path / "plain"), "--key-file", str(key_file), "-q"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0)
    t = _feed_thread(p.stdin, bytes(bad), close=False)
    try:
        rc = p.wait(timeout=120)  # a hang guard: the pipe stays open until unpack has exited
        err = p.stderr.read().decode()
    finally:
        p.stderr.close()
        t.join(60)
        p.stdin.close()
    assert rc == 4 and f"block {k}" in _one_line(err), err
    assert os.listdir(tmp_path) == []


def test_unpack_to_a_pipe_closed_early(piped):
    """The consumer of the plaintext goes away after 100 bytes (``| head -c 100``): unpack stops
    with exit 5, no traceback, however far its workers had read."""
    key_file, data, blob, _, _ = piped
    p = subprocess.Popen(CLI + ["unpack", "-", "-", "--key-file", str(key_file), "-q"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    t = _feed_thread(p.stdin, blob)
    head = b""
    while len(head) < 100 and (b := p.stdout.read(100 - len(head))):
        head += b
    assert head == data[:100]
    p.stdout.close()
    err = p.stderr.read().decode()
    rc = p.wait(timeout=120)
    p.stderr.close()
    t.join(60)
    assert rc == 5 and "Traceback" not in err and "Fatal" not in err, err


def test_unpack_reads_what_stdin_had_buffered_first(piped, tmp_path):
    """Bytes that ``sys.stdin.buffer`` had read ahead before ``unpack("-")`` (a caller peeked)
    are the start of the stream: the reader takes them, then reads the descriptor itself."""
    key_file, data, blob, _, _ = piped
    code = ("import sys, qeltrix; sys.stdin.buffer.peek(1); "
            "qeltrix.unpack('-', sys.argv[1], open(sys.argv[2], 'rb').read())")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "plain"), str(key_file)], input=blob,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    assert (tmp_path / "plain").read_bytes() == data


def test_library_unpack_from_a_pipe_cut_while_workers_run(piped, tmp_path):
    """qeltrix.unpack from an OS pipe fed by a thread, cut inside block 33: TruncatedError, and
    no file under the output's name."""
    key_file, _, blob, blocks, _ = piped
    key = key_file.read_bytes()
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as f:
            f.write(blob[:blocks[33][0] + 1000])

    t = threading.Thread(target=feed)
    t.start()
    with os.fdopen(r, "rb", buffering=0) as f, pytest.raises(TruncatedError, match="block 33"):
        qeltrix.unpack(f, tmp_path / "plain", key, workers=2)
    t.join()
    assert os.listdir(tmp_path) == []


def test_a_pipe_file_object_left_in_a_read_does_not_break_the_exit(piped, tmp_path):
    """A library caller hands unpack its stdin's BufferedReader (which has read ahead); block 2
    is damaged and the writer stalls with the pipe open: unpack raises DamagedError, and the
    interpreter then exits normally although a worker is still blocked in a read (a
    BufferedReader's lock held there would abort the exit: "Fatal Python error")."""
    key_file, _, blob, blocks, _ = piped
    bad = bytearray(blob[:blocks[30][0]])
    bad[blocks[2][0] + blocks[2][1] - 50] ^= 1
    code = ("import sys, qeltrix\n"
            "f = sys.stdin.buffer\n"
            "f.peek(1)\n"
            "try:\n"
            "    qeltrix.unpack(f, sys.argv[1], open(sys.argv[2], 'rb').read())\n"
            "except qeltrix.DamagedError as e:\n"
            "    print(e, file=sys.stderr)\n"
            "    sys.exit(7)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "plain"), str(key_file)],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0)
    t = _feed_thread(p.stdin, bytes(bad), close=False)
    try:
        rc = p.wait(timeout=120)  # a hang guard: the pipe stays open until the child has exited
        err = p.stderr.read().decode()
    finally:
        p.stderr.close()
        t.join(60)
        p.stdin.close()
    assert rc == 7 and "block 2" in err and "Fatal" not in err, err
    assert os.listdir(tmp_path) == []
