"""qeltrix.open: a container as a read-only, seekable binary file (local sources here; remote
ones in test_remote_*.py), and the readers that use such files: zipfile, tarfile, pandas, pyarrow."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest

from qeltrix.inspect import data_offset, parse_container
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qeltrix
from qeltrix import ContainerFile, DamagedError, WrongKeyError

BS = 4096


@pytest.fixture(scope="module")
def plain():
    return os.urandom(10 * BS + 123)


@pytest.fixture(scope="module")
def key():
    return qeltrix.random_master_key()


@pytest.fixture(scope="module")
def blob(plain, key):
    out = io.BytesIO()
    qeltrix.pack(plain, out, key, block_size=BS)
    return out.getvalue()


def test_file_protocol(blob, plain, key, tmp_path):
    path = tmp_path / "c.qltx"
    path.write_bytes(blob)
    with qeltrix.open(path, key) as f:
        assert isinstance(f, io.RawIOBase) and isinstance(f, ContainerFile)
        assert f.readable() and f.seekable() and not f.writable()
        assert f.mode == "rb" and f.name == str(path) and f.size == len(plain)
        assert f.read(10) == plain[:10] and f.tell() == 10
        assert f.seek(-5, io.SEEK_END) == len(plain) - 5
        assert f.read() == plain[-5:]
        assert f.read(7) == b"" and f.read() == b""
        assert f.seek(3 * BS - 2) == 3 * BS - 2
        assert f.read(4) == plain[3 * BS - 2:3 * BS + 2]  # across a block boundary
        f.seek(5, io.SEEK_CUR)
        assert f.read(1) == plain[3 * BS + 7:3 * BS + 8]
        f.seek(len(plain) + 100)  # past the end: reads give b""
        assert f.read(10) == b""
        buf = bytearray(100)
        f.seek(0)
        assert f.readinto(buf) == 100 and bytes(buf) == plain[:100]
        with pytest.raises(ValueError):
            f.seek(-1)
        with pytest.raises(ValueError):
            f.seek(0, 3)
        f.seek(0)
        assert f.readall() == plain
    assert f.closed
    with pytest.raises(ValueError):
        f.read(1)


def test_sources_and_buffering(blob, plain, key):
    for src in (blob, io.BytesIO(blob), memoryview(blob)):
        with qeltrix.open(src, key) as f:
            assert f.read() == plain
    with io.BufferedReader(qeltrix.open(blob, key)) as f:
        f.seek(BS + 1)
        assert f.read(3 * BS) == plain[BS + 1:4 * BS + 1]
        assert f.peek(1)[:1] == plain[4 * BS + 1:4 * BS + 2]


def test_text_mode(key):
    text = "".join(f"line {i}: é\n" for i in range(2000))
    with qeltrix.open(qeltrix_blob(text.encode(), key), key) as raw, \
            io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8") as f:
        assert f.readline() == "line 0: é\n"
        assert f.read() == text[len("line 0: é\n"):]


def qeltrix_blob(data: bytes, key, block_size: int = BS) -> bytes:
    out = io.BytesIO()
    qeltrix.pack(data, out, key, block_size=block_size)
    return out.getvalue()


def test_wrong_key_and_damage_are_raised_not_returned(blob, key):
    with pytest.raises(WrongKeyError):
        qeltrix.open(blob, qeltrix.random_master_key())
    bad = bytearray(blob)
    bad[data_offset(parse_container(blob)) + 1000] ^= 1  # inside block 0's payload
    with qeltrix.open(bytes(bad), key) as f:
        f.seek(2 * BS)
        assert len(f.read(10)) == 10  # other blocks still read
        f.seek(0)
        with pytest.raises(DamagedError):
            f.read(10)


def test_pipe_is_refused(key):
    r, w = os.pipe()
    try:
        with open(r, "rb", closefd=False) as f, pytest.raises(ValueError):
            qeltrix.open(_NoSeek(f), key)
    finally:
        os.close(r)
        os.close(w)


class _NoSeek:
    def __init__(self, f):
        self.read = f.read

    def seekable(self):
        return False


def test_cache_and_readahead(plain, key, blob):
    from qeltrix.sources.local import BufferAccess as _BufferAccess

    class Counting(_BufferAccess):
        reads: list

        def pread(self, offset, n):
            self.reads.append((offset, n))
            return super().pread(offset, n)

    ra = Counting(blob)
    ra.reads = []
    with qeltrix.open(ra, key, cache_blocks=4, readahead_blocks=3) as f:
        f.container.index[0]  # the index page of these blocks (6.1: read once, then cached)
        opened = len(ra.reads)
        # Small sequential reads: one fetch of 3 blocks, then from the cache.
        for i in range(0, 3 * BS, 512):
            assert f.read(512) == plain[i:i + 512]
        assert len(ra.reads) == opened + 1
        # Random small reads inside a cached block: no fetch.
        f.seek(BS + 17)
        assert f.read(100) == plain[BS + 17:BS + 117]
        assert len(ra.reads) == opened + 1
        # A far block: one fetch of that block only (not sequential, so no read-ahead).
        f.seek(8 * BS + 5)
        assert f.read(10) == plain[8 * BS + 5:8 * BS + 15]
        assert ra.reads[-1][1] == BS + 220 and len(ra.reads) == opened + 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.integers(0, 10 * BS + 200), st.integers(0, 3 * BS)), min_size=1, max_size=12),
       cache=st.integers(1, 4), ahead=st.integers(1, 4))
def test_random_reads_match(blob, plain, key, ops, cache, ahead):
    with qeltrix.open(blob, key, cache_blocks=cache, readahead_blocks=ahead, workers=2) as f:
        for pos, n in ops:
            f.seek(pos)
            assert f.read(n) == plain[pos:pos + n]
            assert f.tell() == min(max(pos, pos + len(plain[pos:pos + n])), max(pos, len(plain)))


def test_empty_container(key):
    with qeltrix.open(qeltrix_blob(b"", key), key) as f:
        assert f.size == 0 and f.read() == b"" and f.read(5) == b""


def test_passphrase(tmp_path):
    p = tmp_path / "p.qltx"
    qeltrix.pack(b"hello world", p, passphrase="pw")
    with qeltrix.open(p, passphrase="pw") as f:
        assert f.read() == b"hello world"


# -- readers over an encrypted container -------------------------------------------------------

def make_zip() -> tuple[bytes, dict]:
    members = {f"dir/m{i}.bin": os.urandom(i * 3000 + 1) for i in range(12)}
    members["text.txt"] = b"hello\n" * 5000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v, compress_type=zipfile.ZIP_DEFLATED if k.endswith(".txt") else zipfile.ZIP_STORED)
    return buf.getvalue(), members


def check_zip(f, members):
    with zipfile.ZipFile(f) as z:
        assert sorted(z.namelist()) == sorted(members)
        assert z.testzip() is None
        for k in reversed(list(members)):
            assert z.read(k) == members[k]


def test_zipfile(key, tmp_path):
    raw, members = make_zip()
    qeltrix.pack(raw, tmp_path / "z.qltx", key, block_size=BS)
    with qeltrix.open(tmp_path / "z.qltx", key) as f:
        check_zip(f, members)


def test_tarfile(key, tmp_path):
    members = {f"m{i}": os.urandom(i * 2500) for i in range(10)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for k, v in members.items():
            ti = tarfile.TarInfo(k)
            ti.size = len(v)
            t.addfile(ti, io.BytesIO(v))
    qeltrix.pack(buf.getvalue(), tmp_path / "t.qltx", key, block_size=BS)
    with qeltrix.open(tmp_path / "t.qltx", key) as f, tarfile.open(fileobj=f, mode="r:") as t:
        for k in reversed(list(members)):  # random access to members through the index
            assert t.extractfile(k).read() == members[k]


def make_frame():
    pd = pytest.importorskip("pandas")
    n = 20000
    return pd.DataFrame({"i": range(n), "x": [i * 0.5 for i in range(n)], "s": [f"s{i % 97}" for i in range(n)]})


def test_pandas_csv(key, tmp_path):
    pd = pytest.importorskip("pandas")
    df = make_frame()
    csv = df.to_csv(index=False).encode()
    qeltrix.pack(csv, tmp_path / "d.qltx", key, block_size=BS)
    with qeltrix.open(tmp_path / "d.qltx", key) as f:
        got = pd.read_csv(f)
    pd.testing.assert_frame_equal(got, df)


def test_pyarrow_parquet(key, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"i": list(range(50000)), "s": [f"v{i % 1000}" for i in range(50000)]})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=10000)
    qeltrix.pack(sink.getvalue(), tmp_path / "p.qltx", key, block_size=BS)
    with qeltrix.open(tmp_path / "p.qltx", key) as f:
        assert pq.read_table(f).equals(table)
    with qeltrix.open(tmp_path / "p.qltx", key) as f:
        pf = pq.ParquetFile(f)
        assert pf.metadata.num_rows == 50000
        assert pf.read_row_group(3).column("i").to_pylist() == list(range(30000, 40000))
