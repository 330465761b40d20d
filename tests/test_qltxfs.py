"""The qltx:: fsspec filesystem: memory:// in process; s3:// on moto's server read by pandas and
pyarrow (column projection) and by Dask on a LocalCluster of 2 worker processes (a directory of 16
containers read, one written back); nothing secret in what is pickled or sent to workers."""

from __future__ import annotations

import base64
import io
import os
import pickle
import uuid

import pytest

import qeltrix

from motoserver import BUCKET, moto_s3
from speccheck import spec_check

fsspec = pytest.importorskip("fsspec")
pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
qltxfs = pytest.importorskip("qeltrix.qltxfs")

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
