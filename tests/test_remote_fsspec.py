"""fsspec URLs: ``memory://`` in process, and ``s3://`` against moto's standalone S3 server on
127.0.0.1 (pack streams to it, every reading entry point reads from it). Skipped where fsspec,
s3fs or moto is not installed."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid

import pytest

import qeltrix

from motoserver import moto_s3

fsspec = pytest.importorskip("fsspec")

MiB = 1 << 20


@pytest.fixture(scope="module")
def key():
    return qeltrix.random_master_key()


# -- memory:// ---------------------------------------------------------------------------------

def test_memory_roundtrip(key):
    data = os.urandom(300_000)
    url = f"memory://qeltrix-test/{uuid.uuid4().hex}.qltx"
    r = qeltrix.pack(data, url, key, block_size=64 << 10)
    assert not r.header_patched  # written sequentially: the footer is found through the trailer
    assert qeltrix.info(url)["container_size"] == r.bytes_out
    assert qeltrix.seek_extract(url, 70_000, 1000, key) == data[70_000:71_000]
    with qeltrix.open(url, key) as f:
        f.seek(-10, io.SEEK_END)
        assert f.read() == data[-10:]
    with pytest.raises(FileExistsError):
        qeltrix.pack(data, url, key, overwrite=False)
    fsspec.filesystem("memory").rm(url)


def test_failed_pack_leaves_nothing(key):
    url = f"memory://qeltrix-test/{uuid.uuid4().hex}.qltx"

    def broken():
        yield b"x" * 100_000
        raise OSError("source broke")

    with pytest.raises(OSError, match="source broke"):
        qeltrix.pack(_Reader(broken()), url, key, block_size=4096)
    assert not fsspec.filesystem("memory").exists(url)


class _Reader:
    """A source that yields ``chunks`` through ``read(n)``, then whatever the generator raises."""

    def __init__(self, chunks):
        self._chunks = chunks
        self._buf = b""

    def read(self, n=-1):
        if not self._buf:
            self._buf = next(self._chunks, b"")
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def test_missing_backend_is_a_clear_error(key):
    with pytest.raises(ValueError, match="qeltrix-no-such-protocol"):
        qeltrix.info("qeltrix-no-such-protocol://x/y.qltx")


# -- s3:// with moto ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server (tests/motoserver.py); fsspec configured to reach it; yields the endpoint."""
    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


def test_s3_pack_then_read(s3, key, tmp_path):
    data = os.urandom(12 * MiB + 5)  # more than two 5 MiB upload parts
    src = tmp_path / "data.bin"
    src.write_bytes(data)
    url = "s3://qeltrix-bucket/dir/data.qltx"
    r = qeltrix.pack(src, url, key, block_size=MiB, workers=2)
    assert not r.header_patched
    local = tmp_path / "local.qltx"
    fsspec.filesystem("s3").get("qeltrix-bucket/dir/data.qltx", str(local))
    assert local.stat().st_size == r.bytes_out
    i = qeltrix.info(url)
    assert i == qeltrix.info(local) and i["original_size"] == len(data)
    for off, n in [(0, 10), (MiB - 1, 2), (5 * MiB + 3, 3 * MiB), (len(data) - 1, 10)]:
        assert qeltrix.seek_extract(url, off, n, key) == data[off:off + n]
    out = io.BytesIO()
    assert qeltrix.unpack(url, out, key).name == "data.bin"
    assert out.getvalue() == data
    assert qeltrix.verify(url, key).ok
    with qeltrix.open(url, key) as f:
        f.seek(7 * MiB)
        assert f.read(100) == data[7 * MiB:7 * MiB + 100]


def test_s3_failed_pack_aborts_the_upload(s3, key):
    url = "s3://qeltrix-bucket/broken.qltx"

    def broken():
        for _ in range(8):
            yield os.urandom(MiB)  # enough for a 5 MiB part to be uploaded before the failure
        raise OSError("source broke")

    with pytest.raises(OSError, match="source broke"):
        qeltrix.pack(_Reader(broken()), url, key, block_size=MiB)
    fs = fsspec.filesystem("s3")
    assert not fs.exists("qeltrix-bucket/broken.qltx")


def test_s3_cli(s3, key, tmp_path):
    data = os.urandom(2 * MiB + 1)
    (tmp_path / "in.bin").write_bytes(data)
    (tmp_path / "k").write_bytes(key)
    env = dict(os.environ, FSSPEC_S3_ENDPOINT_URL=s3, FSSPEC_S3_KEY="testing", FSSPEC_S3_SECRET="testing",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "qeltrix", *map(str, args)], cwd=tmp_path, env=env,
                              capture_output=True, timeout=120)

    url = "s3://qeltrix-bucket/cli.qltx"
    p = run("pack", "in.bin", url, "--key-file", "k", "--block-size", "256", "-q")
    assert p.returncode == 0, p.stderr
    p = run("pack", "in.bin", url, "--key-file", "k", "-q")
    assert p.returncode == 6, p.stderr  # exists: --force needed
    p = run("seek", url, "--offset", 300_000, "--length", 1000, "--key-file", "k")
    assert p.returncode == 0 and p.stdout == data[300_000:301_000], p.stderr
    p = run("unpack", url, "out.bin", "--key-file", "k", "-q")
    assert p.returncode == 0 and (tmp_path / "out.bin").read_bytes() == data
    p = run("info", "s3://qeltrix-bucket/missing.qltx")
    assert p.returncode == 5 and b"Traceback" not in p.stderr, p.stderr
