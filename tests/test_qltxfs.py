"""The qltx:: fsspec filesystem: memory:// in process; s3:// on moto's server read by pandas and
pyarrow (column projection) and by Dask on a LocalCluster of 2 worker processes (a directory of 16
containers read, one written back); nothing secret in what is pickled or sent to workers."""

from __future__ import annotations

import base64
import io
import os
import pickle
import threading
import uuid

import pytest

import qeltrix

from motoserver import BUCKET, moto_s3
from speccheck import spec_check
from qeltrix.inspect import index_entries, parse_container

fsspec = pytest.importorskip("fsspec")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
qltxfs = pytest.importorskip("qeltrix.qltxfs")
memoryfs = pytest.importorskip("fsspec.implementations.memory")

MiB = 1 << 20
KEY = bytes(range(32))  # fixed, so that the worker processes see it in their environment
PASSPHRASE = "correct horse battery staple qltx"


@pytest.fixture(scope="module", autouse=True)
def key_env():
    mp = pytest.MonkeyPatch()
    mp.setenv("QLTX_TEST_KEY", KEY.hex())
    mp.setenv("QLTX_TEST_PASS", PASSPHRASE)
    yield
    mp.undo()


def frame(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(seed * n, seed * n + n, dtype="int64"), "x": rng.random(n),
                         "y": rng.integers(0, 1 << 40, n), "label": [f"row-{seed}-{i}" for i in range(n)]})


def forms(secret: bytes):
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
            base64.urlsafe_b64encode(secret)]


def assert_no_secret(blob: bytes):
    for f in forms(KEY) + [PASSPHRASE.encode()]:
        assert f not in blob


# -- memory:// ---------------------------------------------------------------------------------------

def test_registered_by_entry_point():
    assert fsspec.get_filesystem_class("qltx") is qltxfs.QltxFileSystem


def test_memory_write_read_info(tmp_path):
    data = os.urandom(3 * MiB + 12345)
    url = f"qltx::memory://qltx-test/{uuid.uuid4().hex}/d.bin.qltx"
    so = {"qltx": {"key": "env:QLTX_TEST_KEY", "block_size": 64 << 10}}
    with fsspec.open(url, "wb", **so) as f:
        for o in range(0, len(data), 100_000):  # writes that do not line up with blocks
            f.write(data[o:o + 100_000])
    stored = fsspec.filesystem("memory").cat_file(url.split("::", 1)[1])
    spec_check(stored)
    assert qeltrix.info(stored)["original_size"] == len(data)
    fs, path = fsspec.core.url_to_fs(url, **so)
    assert fs.info(path)["size"] == len(data) and fs.info(path)["stored_size"] == len(stored)
    assert [e["size"] for e in fs.ls(path.rsplit("/", 1)[0])] == [len(data)]
    with fs.open(path, "rb") as f:
        assert f.read(10) == data[:10]
        f.seek(2 * MiB - 7)
        assert f.read(MiB) == data[2 * MiB - 7:3 * MiB - 7]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]
    assert fs.cat_file(path, 70_000, 200_000) == data[70_000:200_000]
    starts, ends = [0, 65_535, 1_000_000, len(data) - 3, 5], [3, 65_537, 1_500_000, len(data), 5]
    assert fs.cat_ranges([path] * 5, starts, ends) == [data[s:e] for s, e in zip(starts, ends)]


def test_failed_write_leaves_nothing():
    url = f"memory://qltx-test/{uuid.uuid4().hex}.qltx"
    fs = fsspec.filesystem("qltx", target_protocol="memory", key="env:QLTX_TEST_KEY", block_size=4096)
    with pytest.raises(RuntimeError, match="broke"):
        with fs.open(url, "wb") as f:
            f.write(os.urandom(200_000))  # sealed and written past the first flushes
            raise RuntimeError("broke")
    assert not fsspec.filesystem("memory").exists(url)


def test_passphrase_and_file_providers(tmp_path):
    (tmp_path / "k").write_bytes(KEY)
    (tmp_path / "p").write_text(PASSPHRASE + "\n")
    for opts in ({"key": f"file:{tmp_path / 'k'}"}, {"passphrase": "env:QLTX_TEST_PASS"},
                 {"passphrase": f"file:{tmp_path / 'p'}"}):
        url = f"qltx::memory://qltx-test/{uuid.uuid4().hex}.qltx"
        with fsspec.open(url, "wb", qltx=opts) as f:
            f.write(b"hello " * 1000)
        with fsspec.open(url, "rb", qltx=opts) as f:
            assert f.read() == b"hello " * 1000
    bad = {"key": "env:QLTX_TEST_MISSING_VAR"}
    with pytest.raises(qltxfs.KeyProviderError, match="QLTX_TEST_MISSING_VAR"):
        with fsspec.open(url, "rb", qltx=bad) as f:
            f.read()
    with pytest.raises(qeltrix.WrongKeyError):
        with fsspec.open(url, "rb", qltx={"key": f"file:{tmp_path / 'k'}"}) as f:  # written with a passphrase
            f.read()


def test_identity_provider(tmp_path):
    """An age identity file opens what it wrote (its recipient is added to new containers)."""
    ident = qeltrix.X25519Identity.generate()
    (tmp_path / "id.txt").write_text("# created for a test\n" + ident.encode().upper() + "\n")
    url = f"qltx::memory://qltx-test/{uuid.uuid4().hex}.qltx"
    opts = {"identity": f"file:{tmp_path / 'id.txt'}"}
    with fsspec.open(url, "wb", qltx=opts) as f:
        f.write(b"for an age identity")
    with fsspec.open(url, "rb", qltx=opts) as f:
        assert f.read() == b"for an age identity"
    stored = fsspec.filesystem("memory").cat_file(url.split("::", 1)[1])
    with qeltrix.open(stored, identities=[ident]) as f:
        assert f.read() == b"for an age identity"


def test_registered_provider():
    qltxfs.register_key_provider("qltx-test-vault", lambda: {"master_key": KEY})
    url = f"qltx::memory://qltx-test/{uuid.uuid4().hex}.qltx"
    with fsspec.open(url, "wb", qltx={"key": "name:qltx-test-vault"}) as f:
        f.write(b"abc")
    assert fsspec.open(url, "rb", qltx={"key": "env:QLTX_TEST_KEY"}).open().read() == b"abc"


def test_serialized_filesystem_holds_no_secret():
    fs = fsspec.filesystem("qltx", target_protocol="memory", key="env:QLTX_TEST_KEY", passphrase="env:QLTX_TEST_PASS")
    assert_no_secret(pickle.dumps(fs))
    assert_no_secret(fs.to_json().encode())
    assert pickle.loads(pickle.dumps(fs)).provider == fs.provider
    raw = fsspec.filesystem("qltx", target_protocol="memory", key=KEY, skip_instance_cache=True)
    with pytest.warns(UserWarning, match="raw key"):
        blob = pickle.dumps(raw)
    assert_no_secret(blob)
    with pytest.raises(qltxfs.KeyProviderError, match="raw key bytes are not carried"):
        pickle.loads(blob).provider.resolve()


# -- reading front to back: read-ahead ------------------------------------------------------------

BS = 64 << 10  # blocks of 64 KiB; read-ahead of 512 KiB: runs of 4 blocks, 2 runs held at most
AHEAD = {"key": "env:QLTX_TEST_KEY", "readahead_bytes": 512 << 10, "skip_instance_cache": True}


def same(a, b) -> bool:
    """Equal bytes (a bool, so that a failure does not diff megabytes)."""
    return bytes(a) == bytes(b)


_OLDER_THREADS: set = set()


def readahead_threads() -> list:
    """Read-ahead threads alive, but those of files another test may have left open."""
    return [t for t in threading.enumerate() if t.name.startswith("qltx-readahead") and t not in _OLDER_THREADS]


@pytest.fixture(autouse=True)
def older_threads():
    _OLDER_THREADS.update(t for t in threading.enumerate() if t.name.startswith("qltx-readahead"))
    yield


class WatchedMemory(memoryfs.MemoryFileSystem):
    """memory:// that records the byte ranges read from it and can hold the reads that start at or
    past ``hold_from`` until ``release`` is set (``entered`` tells one is held)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ranges: list = []
        self.hold_from = None
        self.entered, self.release = threading.Event(), threading.Event()

    def cat_file(self, path, start=None, end=None, **kwargs):
        self.ranges.append((start, end))
        if self.hold_from is not None and start is not None and start >= self.hold_from:
            self.entered.set()
            assert self.release.wait(30)
        return super().cat_file(path, start, end, **kwargs)


def watched(blob: bytes):
    """(qltx filesystem over a WatchedMemory holding ``blob``, its path, the target)."""
    target = WatchedMemory(skip_instance_cache=True)
    path = f"/qltx-test/{uuid.uuid4().hex}.qltx"
    target.pipe_file(path, blob)
    return fsspec.filesystem("qltx", fs=target, **AHEAD), path, target


def sealed(data: bytes) -> bytes:
    path = f"/qltx-test/{uuid.uuid4().hex}.qltx"
    fs = fsspec.filesystem("qltx", target_protocol="memory", key="env:QLTX_TEST_KEY", block_size=BS,
                           skip_instance_cache=True)
    with fs.open(path, "wb") as f:
        f.write(data)
    blob = fsspec.filesystem("memory").cat_file(path)
    fsspec.filesystem("memory").rm(path)
    return blob


def stored_range(blob: bytes, i: int) -> tuple[int, int]:
    e = list(index_entries(parse_container(blob)))[i]
    return e.ofs_block, e.ofs_block + e.len_block


def only_block(ranges: list, blob: bytes, i: int) -> bool:
    """At most one request, for (part of: the rest may be cached since the open) block ``i``."""
    lo, hi = stored_range(blob, i)
    return len(ranges) <= 1 and all(lo <= s < e <= hi for s, e in ranges)


@pytest.mark.parametrize("target", ["file", "memory", "s3"])
def test_sequential_read_is_byte_exact(target, tmp_path, request):
    """Front to back in reads that do not line up with blocks, then whole, then by readinto:
    through read-ahead (its threads run while the file is read), byte for byte."""
    data = os.urandom(3 * MiB + 4321)
    opts = dict(AHEAD, block_size=BS)
    if target == "file":
        url = f"qltx::file://{tmp_path}/d.bin.qltx"
    elif target == "memory":
        url = f"qltx::memory://qltx-test/{uuid.uuid4().hex}/d.bin.qltx"
    else:
        url = f"qltx::s3://{BUCKET}/seq/{uuid.uuid4().hex}.bin.qltx"
    so = {"qltx": opts}
    if target == "s3":
        so["s3"] = request.getfixturevalue("s3opts")
    with fsspec.open(url, "wb", **so) as f:
        f.write(data)
    fs, path = fsspec.core.url_to_fs(url, **so)
    with fs.open(path, "rb") as f:
        got, seen = [], False
        while chunk := f.read(100_000):
            got.append(chunk)
            seen = seen or bool(readahead_threads())
        assert same(b"".join(got), data) and seen
        f.seek(0)
        assert same(f.read(), data)
        f.seek(5)
        buf = bytearray(2 * MiB)
        assert f.readinto(buf) == len(buf) and same(buf, data[5:5 + len(buf)])
        assert f.readinto(buf) == len(data) - 5 - len(buf) and same(buf[:len(data) - 5 - len(buf)], data[5 + len(buf):])
    assert not readahead_threads()


def test_seek_interrupts_read_ahead_and_random_reads_read_no_more():
    data = os.urandom(3 * MiB + 999)
    blob = sealed(data)
    fs, path, target = watched(blob)
    with fs.open(path, "rb") as f:
        # random reads (the first read, then seeks): each fetches the one block it touches
        for pos in (0, 2 * MiB + 5, 200_000, MiB + 70_000, len(data) - 40_000):  # a new block each
            target.ranges.clear()
            f.seek(pos)
            assert same(f.read(1000), data[pos:pos + 1000])
            assert only_block(target.ranges, blob, pos // BS), pos
            assert not readahead_threads()
        # sequential reads start read-ahead...
        f.seek(0)
        for pos in range(0, 5 * 100_000, 100_000):
            assert same(f.read(100_000), data[pos:pos + 100_000])
        assert readahead_threads()
        # ... which a seek elsewhere stops (back, then forward past it), reads still exact
        for pos in (50_000, 2 * MiB + 3):
            f.seek(pos)
            target.ranges.clear()
            assert same(f.read(1000), data[pos:pos + 1000])
            assert not readahead_threads()
            assert only_block(target.ranges, blob, pos // BS)
        # one large read elsewhere is fetched by runs, but nothing past its end
        f.seek(MiB + 10)
        target.ranges.clear()
        assert same(f.read(MiB), data[MiB + 10:2 * MiB + 10])
        assert max(e for _, e in target.ranges) == stored_range(blob, (2 * MiB + 9) // BS)[1]
        assert same(f.read(200_000), data[2 * MiB + 10:2 * MiB + 200_010])  # and it goes on from there
        f.seek(0)
        assert same(f.read(), data)
    assert not readahead_threads()


def test_tampered_block_met_by_read_ahead_raises_at_the_read_that_reaches_it():
    data = os.urandom(3 * MiB)
    blob = bytearray(sealed(data))
    bad = 10
    lo, hi = stored_range(bytes(blob), bad)
    blob[hi - 1] ^= 1  # the last byte of block 10's tag
    fs, path, target = watched(bytes(blob))
    with fs.open(path, "rb") as f:
        pos, chunk = 0, 60_000
        while pos + chunk <= bad * BS:
            assert same(f.read(chunk), data[pos:pos + chunk])
            pos += chunk
        assert same(f.read(bad * BS - pos), data[pos:bad * BS])  # up to the block's first byte
        assert any(s <= lo and hi <= e for s, e in target.ranges)  # fetched (and failed) ahead
        with pytest.raises(qeltrix.DamagedError) as e:
            f.read(chunk)
        assert e.value.block == bad
        # the blocks around it still read
        f.seek((bad + 1) * BS)
        assert same(f.read(3 * BS), data[(bad + 1) * BS:(bad + 4) * BS])
    assert not readahead_threads()


def test_read_ahead_off():
    """readahead_bytes=0: front to back, each read fetches only the blocks it touches."""
    data = os.urandom(MiB + 77)
    blob = sealed(data)
    target = WatchedMemory(skip_instance_cache=True)
    path = f"/qltx-test/{uuid.uuid4().hex}.qltx"
    target.pipe_file(path, blob)
    fs = fsspec.filesystem("qltx", fs=target, **dict(AHEAD, readahead_bytes=0))
    with fs.open(path, "rb") as f:
        got = []
        while True:
            target.ranges.clear()
            chunk = f.read(BS)
            if not chunk:
                break
            got.append(chunk)
            assert not readahead_threads()
            assert len(target.ranges) <= 1 and all(e - s <= BS + 1024 for s, e in target.ranges)
        assert same(b"".join(got), data)


def test_close_during_read_ahead_leaves_no_thread():
    data = os.urandom(2 * MiB)
    blob = sealed(data)
    fs, path, target = watched(blob)
    f = fs.open(path, "rb")
    target.hold_from = stored_range(blob, 6)[0]  # from now, reads of blocks 6+ wait inside the target
    assert same(f.read(100_000), data[:100_000])
    assert same(f.read(100_000), data[100_000:200_000])  # sequential: runs [2, 6) and [6, 10) handed out
    assert target.entered.wait(30)
    assert readahead_threads()
    closer = threading.Thread(target=f.close)
    closer.start()
    target.release.set()
    closer.join(30)
    assert not closer.is_alive() and f.closed
    assert not readahead_threads()


# -- s3:// on moto: pandas, pyarrow, Dask ----------------------------------------------------------

@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def s3opts(s3):
    return {"endpoint_url": s3, "key": "testing", "secret": "testing"}


@pytest.fixture(scope="module")
def cluster(s3, key_env):
    """2 worker processes; they resolve the key provider from the environment they inherit."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cl, distributed.Client(cl) as client:
        yield client


def test_pandas_and_pyarrow_column_projection(s3opts):
    df = frame(200_000)
    url = f"qltx::s3://{BUCKET}/pq/{uuid.uuid4().hex}.parquet.qltx"
    so = {"qltx": {"key": "env:QLTX_TEST_KEY", "block_size": 64 << 10}, "s3": s3opts}
    df.to_parquet(url, storage_options=so, row_group_size=50_000)
    got = pd.read_parquet(url, columns=["x"], storage_options=so)
    pd.testing.assert_frame_equal(got, df[["x"]])
    fs, path = fsspec.core.url_to_fs(url, **so)
    table = pq.read_table(path, filesystem=fs, columns=["id", "label"])
    assert table.to_pandas().equals(df[["id", "label"]])
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, filesystem=fs, format="parquet")
    assert dataset.to_table(columns=["y"]).to_pandas()["y"].equals(df["y"])


def test_dask_reads_16_containers_and_writes_back(cluster, s3opts):
    dd = pytest.importorskip("dask.dataframe")
    run = uuid.uuid4().hex
    so = {"qltx": {"key": "env:QLTX_TEST_KEY", "block_size": 64 << 10}, "s3": s3opts}
    parts = [frame(5_000, seed) for seed in range(16)]
    for k, part in enumerate(parts):
        part.to_parquet(f"qltx::s3://{BUCKET}/{run}/in/part-{k:02d}.parquet.qltx", storage_options=so)
    expected = pd.concat(parts, ignore_index=True)
    ddf = dd.read_parquet(f"qltx::s3://{BUCKET}/{run}/in/*.qltx", storage_options=so)
    assert ddf.npartitions == 16
    assert_no_secret(pickle.dumps(ddf.__dask_graph__()))
    got = ddf.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # written back by the workers, one container per partition
    (ddf[ddf.x > 0.5]).to_parquet(f"qltx::s3://{BUCKET}/{run}/out", storage_options=so,
                                  name_function=lambda i: f"part.{i}.parquet.qltx", write_index=False)
    written = fsspec.filesystem("s3", **s3opts).ls(f"{BUCKET}/{run}/out")
    assert len(written) == 16 and all(p.endswith(".parquet.qltx") for p in written)
    for p in written[:2]:
        spec_check(fsspec.filesystem("s3", **s3opts).cat_file(p))
    back = dd.read_parquet(f"qltx::s3://{BUCKET}/{run}/out/*.qltx", storage_options=so).compute()
    pd.testing.assert_frame_equal(back.sort_values("id").reset_index(drop=True),
                                  expected[expected.x > 0.5].reset_index(drop=True), check_dtype=False)
    # CSV as well, read back through the plaintext sizes that ls reports
    ddf.to_csv(f"qltx::s3://{BUCKET}/{run}/csv/part-*.csv.qltx", storage_options=so, index=False)
    csv = dd.read_csv(f"qltx::s3://{BUCKET}/{run}/csv/*.qltx", storage_options=so).compute()
    pd.testing.assert_frame_equal(csv.sort_values("id").reset_index(drop=True), expected, check_dtype=False)
