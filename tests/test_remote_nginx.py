"""Remote containers served by a real nginx on 127.0.0.1 (tests/nginxserver.py): every reading
entry point, byte for byte, and the bytes nginx actually sent (from its access log).

Without nginx these tests are skipped, except in CI (env CI set), where they fail."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import pytest

import qeltrix

from nginxserver import Nginx, require_nginx

BIG = 256 << 20  # plaintext of the large container
BIG_BS = 1 << 20
OVERHEAD = 220  # stored bytes of a block beyond its plaintext


@pytest.fixture(scope="module")
def key():
    return qeltrix.random_master_key()


@pytest.fixture(scope="module")
def www(tmp_path_factory, key):
    d = tmp_path_factory.mktemp("www")
    small = os.urandom(3_000_000 + 17)
    (d / "small.bin").write_bytes(small)
    qeltrix.pack(d / "small.bin", d / "small.qltx", key, block_size=64 << 10)
    qeltrix.pack(small, d / "small-pw.qltx", passphrase="pw", block_size=64 << 10)
    # 256 MiB of random bytes, fast: a random MiB, each copy made unique by its index.
    base = os.urandom(1 << 20)
    with open(d / "big.bin", "wb") as f:
        for i in range(BIG >> 20):
            f.write(i.to_bytes(8, "big") + base[8:])
    qeltrix.pack(d / "big.bin", d / "big.qltx", key, block_size=BIG_BS, workers=2)
    yield d
    for name in ("big.bin", "big.qltx"):  # pytest keeps recent temp folders: free 512 MiB
        (d / name).unlink()


@pytest.fixture(scope="module")
def nginx(www, tmp_path_factory):
    require_nginx()
    with Nginx(www, tmp_path_factory.mktemp("nginx")) as n:
        yield n


def test_small_container_every_entry_point(nginx, www, key):
    url = f"{nginx.url}/small.qltx"
    small = (www / "small.bin").read_bytes()
    assert qeltrix.info(url) == qeltrix.info(www / "small.qltx")
    for off, n in [(0, 4096), (65535, 2), (1_000_000, 500_000), (len(small) - 10, 100)]:
        assert qeltrix.seek_extract(url, off, n, key) == small[off:off + n]
    assert qeltrix.verify(url, key).ok and qeltrix.verify(url).ok
    out = io.BytesIO()
    qeltrix.unpack(url, out, key, workers=2)
    assert out.getvalue() == small
    assert qeltrix.inspect_container(url) == qeltrix.inspect_container(www / "small.qltx")
    with qeltrix.open(f"{nginx.url}/small-pw.qltx", passphrase="pw") as f:
        f.seek(123_456)
        assert f.read(1000) == small[123_456:124_456]
    lines = nginx.mark()
    assert lines and all(line.status == 206 for line in lines)  # never a whole-object 200


def test_cli_against_nginx(nginx, www, key, tmp_path):
    (tmp_path / "k").write_bytes(key)
    url = f"{nginx.url}/small.qltx"

    def run(*args):
        p = subprocess.run([sys.executable, "-m", "qeltrix", *map(str, args)], cwd=tmp_path, capture_output=True,
                           timeout=120)
        assert p.returncode == 0 and b"Traceback" not in p.stderr, p.stderr.decode()
        return p

    run("unpack", url, "out.bin", "--key-file", "k", "-q")
    assert (tmp_path / "out.bin").read_bytes() == (www / "small.bin").read_bytes()
    run("seek", url, "--offset", 100, "--length", 5000, "--key-file", "k", "-o", "part.bin", "-q")
    assert (tmp_path / "part.bin").read_bytes() == (www / "small.bin").read_bytes()[100:5100]
    assert b"OK" in run("verify", url, "--key-file", "k").stdout
    assert b"original_size" in run("info", url).stdout


def test_readers_over_nginx(nginx, www, key):
    members = {f"m{i}.bin": os.urandom(50_000 + i) for i in range(20)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    qeltrix.pack(buf.getvalue(), www / "z.qltx", key, block_size=64 << 10)
    with qeltrix.open(f"{nginx.url}/z.qltx", key) as f, zipfile.ZipFile(f) as z:
        for k in reversed(list(members)):
            assert z.read(k) == members[k]
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": range(100_000), "b": [f"x{i % 13}" for i in range(100_000)]})
    qeltrix.pack(df.to_csv(index=False).encode(), www / "d.qltx", key, block_size=64 << 10)
    with qeltrix.open(f"{nginx.url}/d.qltx", key) as f:
        pd.testing.assert_frame_equal(pd.read_csv(f), df)
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    sink = io.BytesIO()
    table = pa.table({"a": list(range(100_000))})
    pq.write_table(table, sink, row_group_size=20_000)
    qeltrix.pack(sink.getvalue(), www / "p.qltx", key, block_size=64 << 10)
    with qeltrix.open(f"{nginx.url}/p.qltx", key) as f:
        assert pq.ParquetFile(f).read_row_group(2).column("a").to_pylist() == list(range(40_000, 60_000))


@pytest.mark.slow
@pytest.mark.parametrize("offset", [100 * BIG_BS + 12345, 77 * BIG_BS - 2048], ids=["in-block", "across-blocks"])
def test_4k_seek_into_256_mib_transfers_footer_header_and_two_blocks(nginx, www, key, offset):
    url = f"{nginx.url}/big.qltx"
    info = qeltrix.info(www / "big.qltx")
    nginx.mark()
    got = qeltrix.seek_extract(url, offset, 4096, key)
    with open(www / "big.bin", "rb") as f:
        f.seek(offset)
        assert got == f.read(4096)
    lines = nginx.mark()
    sent = sum(line.sent for line in lines)
    body = sum(line.body for line in lines)
    footer = info["footer_size"] + 24  # footer and trailer (6.1: the top table of index pages)
    blocks = 2 * (BIG_BS + OVERHEAD)
    head = 4464  # header and keyring
    page = 16 + 56 * 1024  # at most one index page
    # tail (trailer + footer), header and keyring, the index page unless the tail held it, the block(s)
    assert len(lines) in (3, 4), lines
    tail_slack = max(0, (16 << 10) - footer)  # the 16 KiB suffix holds a little more than the footer
    assert body <= footer + head + page + blocks + tail_slack, lines
    assert sent <= footer + head + page + blocks + tail_slack + 400 * len(lines), (sent, lines)  # headers < 400 B
    print(f"4 KiB seek into {info['container_size']} bytes: {len(lines)} requests, {sent} bytes sent "
          f"(footer {footer}, header and keyring {head}, a block {BIG_BS + OVERHEAD})")


@pytest.mark.slow
def test_big_range_and_unpack_over_nginx(nginx, www, key, tmp_path):
    url = f"{nginx.url}/big.qltx"
    off, n = 3 * BIG_BS + 99, 40 << 20
    got = qeltrix.seek_extract(url, off, n, key, workers=2)
    with open(www / "big.bin", "rb") as f:
        f.seek(off)
        assert got == f.read(n)
    nginx.mark()
    r = qeltrix.unpack(url, tmp_path / "big.out", key, workers=2)
    assert r.bytes_out == BIG
    lines = nginx.mark()
    # each byte once, but for index pages, which the index reads on their own too (a few KiB)
    assert os.path.getsize(www / "big.qltx") <= sum(line.body for line in lines) <= (
        os.path.getsize(www / "big.qltx") + 16 + 56 * 1024)
    with open(tmp_path / "big.out", "rb") as a, open(www / "big.bin", "rb") as b:
        while True:
            x, y = a.read(8 << 20), b.read(8 << 20)
            assert x == y
            if not x:
                break
    (tmp_path / "big.out").unlink()
