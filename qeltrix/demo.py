"""``qeltrix demo``: pack a generated sample, show info, seek a range, unpack and check."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile

from . import operations, writer
from .crypto import random_master_key


def _sample(size: int) -> bytes:
    rng = random.Random(6)
    text = b"".join(b"line %08d: the quick brown fox jumps over the lazy dog\n" % i for i in range(size // 64 + 1))
    noise = rng.randbytes(size // 2)
    return (text[: size - len(noise)] + noise)[:size]


def _serve_step(dst: str, mk: bytes, data: bytes, say) -> bool:
    """Serve the container on a free loopback port and fetch a byte range over HTTP."""
    import urllib.request

    from .server import SeekServer

    size = len(data)
    first, last = size // 2, min(size - 1, size // 2 + 65_535)
    with SeekServer(dst, mk, port=0, workers=2) as srv:
        req = urllib.request.Request(srv.url, headers={"Range": f"bytes={first}-{last}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
            status, content_range = resp.status, resp.headers.get("Content-Range")
    ok = status == 206 and content_range == f"bytes {first}-{last}/{size}" and body == data[first:last + 1]
    say(f"4. serve    GET {srv.url} Range: bytes={first}-{last} -> {status} {content_range}: "
        f"{'OK, matches the original' if ok else 'MISMATCH'}")
    return ok


def run_demo(workdir: str | None = None, size: int = 8 << 20, quiet: bool = False) -> int:
    say = (lambda *a: None) if quiet else print
    tmp = None
    if workdir is None:
        workdir = tmp = tempfile.mkdtemp(prefix="qeltrix-demo-")
    os.makedirs(workdir, exist_ok=True)
    try:
        data = _sample(size)
        src = os.path.join(workdir, "sample.bin")
        dst = os.path.join(workdir, "sample.qltx")
        out = os.path.join(workdir, "recovered.bin")
        with open(src, "wb") as f:
            f.write(data)
        mk = random_master_key()
        say(f"1. pack     {src} ({size} bytes) -> {dst}")
        r = writer.pack(src, dst, mk, block_size=256 * 1024)
        say(f"           {r.total_blocks} blocks, {r.bytes_out} bytes, {r.elapsed_s * 1000:.1f} ms")
        say("2. info     (no key needed)")
        for k, v in operations.info(dst).items():
            say(f"           {k:16} {v}")
        off, length = size // 3, min(100_000, size - size // 3)
        got = operations.seek_extract(dst, off, length, mk)
        ok_seek = got == data[off:off + length]
        say(f"3. seek     bytes {off}..{off + length - 1}: {'OK, matches the original' if ok_seek else 'MISMATCH'}")
        ok_http = _serve_step(dst, mk, data, say)
        u = operations.unpack(dst, out, mk)
        with open(out, "rb") as f:
            ok_hash = hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
        say(f"5. unpack   {u.bytes_out} bytes, SHA-256 {'OK, matches the original' if ok_hash else 'MISMATCH'}")
        ok = ok_seek and ok_http and ok_hash and u.integrity_ok
        say("demo: all checks passed" if ok else "demo: FAILED")
        return 0 if ok else 1
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
