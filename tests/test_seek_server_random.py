"""SeekServer under many short random ranges at once (what a media player or a database file
reader asks): byte for byte from real clients (http.client keep-alive connections, curl), the
cache on and (nearly) off, so that blocks are decrypted again and again; a block damaged in the
file after it was first read is answered with a cut response, never its plaintext, while the
reads batched with it still succeed; a quiet server's access log and one turned up later."""

from __future__ import annotations

import http.client
import logging
import random
import subprocess
import threading

import pytest

import qeltrix as qltx
from polling import wait_until

BS = 4096  # small blocks: many of them, each short range one or two blocks
N = 600 * BS + 123


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("seekrand")
    plain = random.Random(11).randbytes(N)
    mk = qltx.random_master_key()
    box = d / "file.qltx"
    qltx.pack(plain, str(box), mk, block_size=BS, name="file.bin")
    return {"dir": d, "plain": plain, "box": box, "mk": mk}


def _ranges(seed: int, count: int, size: int, lo: int = 0):
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        length = rnd.choice((1, 100, 4096, 4096, 4096, 5000, 3 * BS))
        first = rnd.randrange(lo, size)
        out.append((first, min(size - 1, first + length - 1)))
    return out


def _client(port: int, seed: int, count: int, plain: bytes, errors: list, lo: int = 0) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        for first, last in _ranges(seed, count, len(plain), lo):
            c.request("GET", "/file.bin", headers={"Range": f"bytes={first}-{last}"})
            r = c.getresponse()
            body = r.read()
            if r.status != 206 or body != plain[first:last + 1] or \
                    r.getheader("Content-Range") != f"bytes {first}-{last}/{len(plain)}":
                errors.append((first, last, r.status, len(body)))
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append(repr(e))
    finally:
        c.close()


@pytest.mark.parametrize("cache_bytes", [32 << 20, 0])
def test_many_concurrent_random_ranges_byte_exact(files, cache_bytes):
    """16 keep-alive clients at once, random ranges (within a block, across blocks, single
    bytes): every body byte-exact. With the cache (nearly) off every read decrypts its blocks
    again, first in full, then by the short path of a block opened before."""
    plain = files["plain"]
    with qltx.SeekServer(files["box"], files["mk"], port=0, workers=4, cache_bytes=cache_bytes) as srv:
        errors: list = []
        threads = [threading.Thread(target=_client, args=(srv.port, seed, 60, plain, errors)) for seed in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        counters = srv._cache.counters()
        if cache_bytes == 0:
            assert counters["decrypted"] > 600  # blocks decrypted again, not served from a cache
    # and curl, one connection, several ranges in one request (multipart) and a whole GET
    with qltx.SeekServer(files["box"], files["mk"], port=0, cache_bytes=cache_bytes) as srv:
        out = subprocess.run(["curl", "-sS", "-r", f"{5 * BS - 3}-{5 * BS + 2}", f"{srv.url}file.bin"],
                             capture_output=True, check=True).stdout
        assert out == plain[5 * BS - 3:5 * BS + 3]
        out = subprocess.run(["curl", "-sS", f"{srv.url}file.bin"], capture_output=True, check=True).stdout
        assert out == plain


def _flip(path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x20]))


@pytest.mark.parametrize("where", ["payload", "metadata", "payload tag"])
def test_block_damaged_after_first_read_is_never_served(files, tmp_path, where, caplog):
    """Block 7 is read (authenticated, hash-checked, remembered), then damaged in the file: with
    the cache (nearly) off the next read of it opens the stored bytes again and must fail, cut
    before any of its bytes, whichever part was changed; ranges of other blocks, asked at the
    same time on other connections (batched with it), still answer byte for byte."""
    plain = files["plain"]
    box = tmp_path / "box.qltx"
    box.write_bytes(files["box"].read_bytes())
    with qltx.reader.Container(qltx.sources.open_random_access(str(box)), files["mk"]) as c:
        e = c.index[7]
    offset = {"payload": e.block_offset + e.block_size - 100,  # payload ciphertext
              "metadata": e.block_offset + 100,  # sealed metadata
              "payload tag": e.block_offset + e.block_size - 3}[where]
    caplog.set_level(logging.WARNING, logger="qeltrix.server")
    with qltx.SeekServer(box, files["mk"], port=0, workers=4, cache_bytes=0) as srv:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
        c.request("GET", "/file.bin", headers={"Range": f"bytes={7 * BS + 10}-{7 * BS + 99}"})
        assert c.getresponse().read() == plain[7 * BS + 10:7 * BS + 100]
        c.close()
        for k in range(3):  # push block 7 out of the (one-block) cache
            assert qltx_get(srv.port, (20 + k) * BS, 10) == plain[(20 + k) * BS:(20 + k) * BS + 10]
        _flip(box, offset)
        results: dict = {}

        def bad(k):
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
            try:
                conn.request("GET", "/file.bin", headers={"Range": f"bytes={7 * BS + k}-{7 * BS + k + 99}"})
                r = conn.getresponse()
                try:
                    results[("bad", k)] = r.read()
                except http.client.IncompleteRead as ir:
                    results[("bad", k)] = ("cut", ir.partial)
            except (http.client.HTTPException, OSError) as err:
                results[("bad", k)] = ("error", repr(err))
            finally:
                conn.close()

        errors: list = []
        threads = [threading.Thread(target=bad, args=(k,)) for k in range(4)]
        threads += [threading.Thread(target=_client, args=(srv.port, 100 + k, 20, plain, errors, 9 * BS))
                    for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for k in range(4):
        got = results[("bad", k)]
        assert isinstance(got, tuple), (where, k, got)  # never a whole body
        if got[0] == "cut":
            assert got[1] == b""  # nothing of the block
    assert errors == []  # the other clients' reads (of other blocks), byte for byte
    assert any("block 7" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def qltx_get(port: int, first: int, length: int) -> bytes:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", "/file.bin", headers={"Range": f"bytes={first}-{first + length - 1}"})
        return c.getresponse().read()
    finally:
        c.close()


def test_quiet_access_log_and_turned_up_later(files, caplog):
    """At WARNING the server makes no access lines; turned up to INFO while it runs, they come
    within about a second (the native server asks for the level once a second)."""
    caplog.set_level(logging.WARNING, logger="qeltrix.server")
    with qltx.SeekServer(files["box"], files["mk"], port=0) as srv:
        assert qltx_get(srv.port, 0, 10) == files["plain"][:10]
        assert not any("GET /file.bin" in r.getMessage() for r in caplog.records)
        caplog.set_level(logging.INFO, logger="qeltrix.server")

        def logged():
            qltx_get(srv.port, 5, 10)
            return any('"GET /file.bin HTTP/1.1" 206 10' in r.getMessage() for r in caplog.records)

        wait_until(logged, "an access line once the level is INFO")


def test_block_cache_loads_a_block_once_for_concurrent_askers():
    """Eight threads ask for one missing block at once: one loads it, the others wait and get the
    same value; when the load fails, each waiter tries itself (and gets its own error)."""
    from qeltrix.blockcache import BlockCache

    cache = BlockCache(1 << 20)
    release = threading.Event()
    calls = []

    def load():
        calls.append(1)
        release.wait(30)
        return memoryview(bytearray(b"x" * 10))

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", load))) for _ in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: cache._waiting == 7, "seven threads waiting for the one load")
    release.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)
    assert cache.counters()["decrypted"] == 1

    failing = threading.Event()
    tries = []

    def bad():
        tries.append(1)
        if len(tries) == 1:
            failing.wait(30)
        raise ValueError("damaged")

    errors = []

    def ask():
        try:
            cache.get_or_load("bad", bad)
        except ValueError as e:
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: cache._waiting == 3, "three threads waiting for the failing load")
    failing.set()
    for t in threads:
        t.join()
    assert len(errors) == 4 and len(tries) == 4 and not cache.has("bad")
