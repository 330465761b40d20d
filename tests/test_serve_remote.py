"""A SeekServer (and ``qeltrix serve``) whose container is remote: served by nginx over HTTP,
or by moto's S3 server through fsspec. Byte for byte against the plaintext, range by range,
and counting what was fetched: only the stored blocks each client range needs (each once,
thanks to the block cache), never the whole container.

Without nginx the http tests skip, except in CI (env CI set), where they fail; the S3 tests
skip where moto or s3fs is missing."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

import qeltrix as qltx
from qeltrix.sources.remote import TAIL_BYTES

from httpclient import get
from motoserver import BUCKET, CHILD_ENV, moto_s3
from nginxserver import Nginx, require_nginx

N = 3_000_000 + 17
BS = 64 << 10  # 46 blocks


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve-remote")
    plain = random.Random(11).randbytes(N)
    src = d / "movie.webm"  # the stored name: the path served and the Content-Type
    src.write_bytes(plain)
    key = qltx.random_master_key()
    (d / "www").mkdir()
    qltx.pack(src, d / "www" / "x.qltx", key, block_size=BS)
    (d / "key").write_bytes(key)
    return {"dir": d, "root": d / "www", "box": d / "www" / "x.qltx", "plain": plain, "key": key}


@pytest.fixture(scope="module")
def nginx(www, tmp_path_factory):
    require_nginx()
    with Nginx(www["root"], tmp_path_factory.mktemp("nginx")) as n:
        yield n


def _stored(index, first: int, last: int) -> int:
    return sum(index[i].block_size for i in range(first, last))


# Ranges as a client sends them, and the plaintext slice each selects.
RANGES = [
    ("bytes=0-99", 0, 100),
    ("bytes=65530-65545", 65530, 65546),  # straddles blocks 0 and 1
    ("bytes=1000000-", 1_000_000, N),  # open-ended, as media players ask
    ("bytes=-5000", N - 5000, N),  # suffix
    ("bytes=2000000-2000000", 2_000_000, 2_000_001),
]


def test_http_container_served_block_by_block(nginx, www):
    url = f"{nginx.url}/x.qltx"
    plain = www["plain"]
    with qltx.reader.Container(qltx.sources.open_random_access(str(www["box"])), www["key"]) as c:
        index = c.index
        for k in range(getattr(index, "num_pages", 0)):  # 6.1: read the index pages while open
            index.page(k)
    with qltx.SeekServer(url, www["key"], port=0, workers=2) as srv:
        opening = nginx.mark()
        assert len(opening) == 2 and all(x.status == 206 for x in opening), opening  # tail + header
        assert srv.paths == ["/movie.webm"]
        h = get(srv.port, "/movie.webm", method="HEAD")
        assert h.status == 200 and h.headers["content-length"] == str(N)
        assert h.headers["content-type"] == "video/webm" and h.headers["accept-ranges"] == "bytes"
        assert h.headers["etag"].startswith('"') and h.headers["last-modified"].endswith(" GMT")
        assert nginx.mark() == []  # HEAD needs no block
        fetched: set[int] = set()
        for rng, a, b in RANGES:
            r = get(srv.port, "/", headers={"Range": rng})
            assert r.status == 206 and r.body == plain[a:b], rng
            assert r.headers["content-range"] == f"bytes {a}-{b - 1}/{N}"
            first, last = index.span(a, b - a)
            new = [i for i in range(first, last) if i not in fetched]
            fetched.update(new)
            lines = nginx.mark()
            assert all(x.status == 206 and x.range.startswith("bytes=") for x in lines), lines
            body = sum(x.body for x in lines)
            want = sum(index[i].block_size for i in new)
            # exactly the new blocks (the last one may be partly in the tail fetched at open)
            assert want - TAIL_BYTES <= body <= want, (rng, new, lines)
            assert len(lines) <= len(new), (rng, lines)
        # a block already fetched is served from the cache
        r = get(srv.port, "/", headers={"Range": "bytes=10-20"})
        assert r.body == plain[10:21] and nginx.mark() == []
        # multipart and the whole file
        r = get(srv.port, "/", headers={"Range": "bytes=300000-300009,2500000-2500009"})
        assert r.status == 206 and plain[300000:300010] in r.body and plain[2500000:2500010] in r.body
        r = get(srv.port, "/")
        assert r.status == 200 and r.body == plain
        lines = nginx.mark()
        # every byte fetched at most once over the whole test: no block twice
        assert sum(x.body for x in lines) <= os.path.getsize(www["box"]) - _stored(index, 0, 0)
        # conditionals use the validators of the remote object
        assert get(srv.port, "/", headers={"If-None-Match": h.headers["etag"]}).status == 304
    assert nginx.mark() == []


def test_etag_follows_the_remote_object(nginx, www, tmp_path):
    """A changed object (same container re-uploaded: new mtime) gets another ETag; a server that
    keeps serving the old one fails the read rather than mixing versions."""
    root = www["root"]
    copy = root / "copy.qltx"
    copy.write_bytes(www["box"].read_bytes())
    try:
        url = f"{nginx.url}/copy.qltx"
        with qltx.SeekServer(url, www["key"], port=0) as a:
            etag = get(a.port, method="HEAD").headers["etag"]
            os.utime(copy, (time.time() + 100, time.time() + 100))  # Last-Modified and nginx's ETag change
            with qltx.SeekServer(url, www["key"], port=0) as b:
                assert get(b.port, method="HEAD").headers["etag"] != etag
                assert get(b.port, "/", headers={"Range": "bytes=5-9"}).body == www["plain"][5:10]
            # the old server's conditional fetch (If-Match) gets 412: the response is cut short
            r = get(a.port, "/", headers={"Range": "bytes=1500000-1500009"})
            assert r.status == 206 and not r.complete and r.body == b"", r
    finally:
        copy.unlink()
        nginx.mark()


def _serve_cli(args, env=None):
    """Starts ``qeltrix serve ... --port 0``; returns (process, URL of the served path)."""
    p = subprocess.Popen([sys.executable, "-m", "qeltrix", "serve", *map(str, args), "--port", "0"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=env)
    line, m = "", None
    for _ in range(20):  # the logger's "serving N container(s)" line comes first
        got = p.stderr.readline().decode()
        line += got
        m = re.match(r"serving (http://\S+)", got)
        if m or not got:
            break
    if not m:
        p.kill()
        p.wait()
        rest = p.stderr.read().decode()
        p.stderr.close()
        pytest.fail(f"qeltrix serve did not start: {line}{rest}")
    return p, m.group(1)


def _stop_cli(p) -> bytes:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        err = p.stderr.read()
        p.stderr.close()
    assert p.returncode == 0 and b"Traceback" not in err, err
    return err


def _port_path(url: str):
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/.*)", url)
    return int(m.group(1)), m.group(2)


def test_cli_serve_http_url(nginx, www):
    p, url = _serve_cli([f"{nginx.url}/x.qltx", "--key-file", www["dir"] / "key"])
    try:
        port, path = _port_path(url)
        assert path == "/movie.webm"
        r = get(port, path, headers={"Range": "bytes=123456-223455"})
        assert r.status == 206 and r.body == www["plain"][123456:223456]
    finally:
        err = _stop_cli(p)
    assert b'"GET /movie.webm HTTP/1.1" 206 100000 range="bytes=123456-223455"' in err, err
    nginx.mark()


def test_cli_serve_unreachable_url_exits_5(www, tmp_path):
    with socket_closed_port() as port:
        p = subprocess.run([sys.executable, "-m", "qeltrix", "serve", f"http://127.0.0.1:{port}/x.qltx",
                            "--key-file", str(www["dir"] / "key"), "--port", "0"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert p.returncode == 5 and b"Traceback" not in p.stderr, p.stderr


class socket_closed_port:
    """A port on 127.0.0.1 that nothing listens on (bound, never listening, while in use)."""

    def __enter__(self):
        import socket

        self._s = socket.socket()
        self._s.bind(("127.0.0.1", 0))
        return self._s.getsockname()[1]

    def __exit__(self, *exc):
        self._s.close()


# -- s3:// through fsspec (moto) ---------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(tmp_path_factory, www):
    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        import fsspec

        fsspec.filesystem("s3").put(str(www["box"]), f"{BUCKET}/x.qltx")
        yield endpoint


def test_s3_container_served_block_by_block(s3, www):
    plain = www["plain"]
    with qltx.SeekServer(f"s3://{BUCKET}/x.qltx", www["key"], port=0, workers=2) as srv:
        ra = srv._served[0].container.ra
        index = srv._served[0].container.index
        got = []  # (offset, length) of every fetch after opening
        orig = ra._read_into

        def counting(offset, view):
            got.append((offset, len(view)))
            return orig(offset, view)

        ra._read_into = counting
        assert srv.paths == ["/movie.webm"]
        h = get(srv.port, method="HEAD")
        assert h.headers["content-type"] == "video/webm" and h.headers["content-length"] == str(N)
        assert h.headers["last-modified"].endswith(" GMT")
        fetched: set[int] = set()
        for rng, a, b in RANGES:
            got.clear()
            r = get(srv.port, "/movie.webm", headers={"Range": rng})
            assert r.status == 206 and r.body == plain[a:b], rng
            first, last = index.span(a, b - a)
            new = [i for i in range(first, last) if i not in fetched]
            fetched.update(new)
            want = sum(index[i].block_size for i in new)
            assert want - TAIL_BYTES <= sum(n for _, n in got) <= want, (rng, new, got)
            for off, n in got:  # each fetch lies within needed blocks (adjacent ones: one request)
                hit = [i for i in range(len(index))
                       if index[i].block_offset < off + n and off < index[i].block_offset + index[i].block_size]
                assert hit and set(hit) <= set(new), (off, n, hit)
                assert index[hit[0]].block_offset <= off and off + n <= index[hit[-1]].block_offset + index[hit[-1]].block_size
        r = get(srv.port, "/")
        assert r.status == 200 and r.body == plain


def test_cli_serve_s3_url(s3, www):
    env = dict(os.environ, FSSPEC_S3_ENDPOINT_URL=s3, **CHILD_ENV)
    p, url = _serve_cli([f"s3://{BUCKET}/x.qltx", "--key-file", www["dir"] / "key"], env=env)
    try:
        port, path = _port_path(url)
        r = get(port, path, headers={"Range": "bytes=2999990-"})
        assert r.status == 206 and r.body == www["plain"][2999990:]
    finally:
        _stop_cli(p)
