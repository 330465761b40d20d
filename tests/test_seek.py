"""seek_extract equals the slice, reading and decrypting only the blocks that hold it."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qeltrix as qltx
import qeltrix.reader as reader_mod
from speccheck import spec_check

BS = 4096
DATA = os.urandom(13 * BS + 77)
MK = qltx.random_master_key()
_out = io.BytesIO()
_R = qltx.pack(DATA, _out, MK, block_size=BS)
BLOB = _out.getvalue()


def test_blob_is_valid():
    spec_check(BLOB, _R, patched=True)


@settings(max_examples=200, deadline=None)
@given(offset=st.integers(0, len(DATA) + 2 * BS), length=st.integers(0, 3 * BS))
def test_seek_equals_slice(offset, length):
    assert qltx.seek_extract(BLOB, offset, length, MK) == DATA[offset:offset + length]


@pytest.mark.parametrize("offset,length", [(0, 0), (0, 1), (len(DATA) - 1, 1), (len(DATA) - 1, 100),
                                           (len(DATA), 10), (len(DATA) + 5, 10), (BS - 1, 2),
                                           (BS, BS), (0, len(DATA)), (0, 10 ** 12)])
def test_edges(offset, length):
    assert qltx.seek_extract(BLOB, offset, length, MK) == DATA[offset:offset + length]


def test_negative_is_misuse():
    with pytest.raises(ValueError):
        qltx.seek_extract(BLOB, -1, 10, MK)
    with pytest.raises(ValueError):
        qltx.seek_extract(BLOB, 0, -1, MK)


def test_only_needed_blocks_are_decrypted(monkeypatch):
    opened = []
    real = reader_mod.open_blocks

    def counting(keys, group, *a, **k):
        opened.extend(job[0] for job in group)
        return real(keys, group, *a, **k)

    monkeypatch.setattr(reader_mod, "open_blocks", counting)
    assert qltx.seek_extract(BLOB, 5 * BS + 10, 4096, MK) == DATA[5 * BS + 10:6 * BS + 10]
    assert opened == [5, 6]
    opened.clear()
    qltx.seek_extract(BLOB, 3 * BS + 1, 100, MK)
    assert opened == [3]


def test_seek_on_uneven_blocks(mk):
    """Blocks shorter than the block size (a live stream flushed early): binary search."""
    from qeltrix.writer import Sealer

    pieces = [os.urandom(n) for n in (10, BS, 1, 3000, BS, 7)]
    s = Sealer(mk, block_size=BS, workers=2)
    out = io.BytesIO()
    out.write(s.header_bytes)
    chunks = [(memoryview(p), i == len(pieces) - 1, None) for i, p in enumerate(pieces)]
    for view in s.seal(iter(chunks)):
        out.write(view)
    out.write(s.finish())
    blob = out.getvalue()
    spec_check(blob, s.result(0.0, False), patched=False)
    data = b"".join(pieces)
    for off in range(0, len(data), 97):
        for ln in (1, 50, 5000):
            assert qltx.seek_extract(blob, off, ln, mk) == data[off:off + ln]
    res = io.BytesIO()
    qltx.unpack(blob, res, mk)
    assert res.getvalue() == data


def test_container_reads_and_block_cache(tmp_path):
    """One Container, many reads (a file on disk: blocks read into reused buffers; bytes: views):
    every read equals the slice; through a file object, repeated reads of a block decrypt it
    once, and its cache (the BlockCache the servers use) is bounded, least recently used first."""
    path = tmp_path / "c.qltx"
    path.write_bytes(BLOB)
    from qeltrix.fileobj import ContainerFile
    from qeltrix.sources import open_random_access

    for src in (str(path), BLOB):
        opened = []
        real = reader_mod.open_blocks

        def counting(keys, group, *a, **kw):
            opened.extend(job[0] for job in group)
            return real(keys, group, *a, **kw)

        reader_mod.open_blocks = counting
        try:
            with ContainerFile(reader_mod.Container(open_random_access(src), MK), cache_blocks=3,
                               readahead_blocks=1) as f:
                for off in (0, 10, 100, BS - 50, 5 * BS + 1, 5 * BS + 9, 13 * BS, 40, 5 * BS):
                    f.seek(off)
                    assert f.read(50) == DATA[off:off + 50]  # within one block
                assert sorted(opened) == [0, 5, 13]  # each decrypted once
                f.seek(7 * BS)
                assert f.read(1) == DATA[7 * BS:7 * BS + 1]  # evicts block 13 (least recent)
                assert [k for k in range(len(DATA) // BS + 1) if f._cache.has(k)] == [0, 5, 7]
                c = f.container
                for off in (0, 10, BS - 50, 5 * BS + 9, 13 * BS, 2 * BS - 3, len(DATA) - 3):
                    for n in (0, 1, 50, BS, 3 * BS):
                        assert c.read_range(off, n) == DATA[off:off + n]
                        f.seek(off)
                        assert f.read(n) == DATA[off:off + n]
                assert f._cache.counters()["bytes"] <= 3 * BS
        finally:
            reader_mod.open_blocks = real


def _container_with_bad_hash(bad: int):
    """A container whose block ``bad`` is authentic (sealed under the file's keys) but carries a
    wrong plaintext hash: what a writer bug would leave. Only the plaintext check finds it."""
    from qeltrix.blocks import _seal_hashed, stored_size
    from qeltrix.writer import Sealer

    s = Sealer(MK, block_size=BS, workers=1, version=6)  # 6.0: a flat index, easy to make agree
    out = io.BytesIO()
    out.write(s.header_bytes)
    chunks = [(memoryview(DATA)[o:o + BS], o + BS >= len(DATA), None) for o in range(0, len(DATA), BS)]
    for view in s.seal(iter(chunks)):
        out.write(view)
    plain_offset, block_offset, n, stored, _ = s.entries[bad]
    forged = bytearray(stored_size(n))
    _seal_hashed(s.keys, bad, plain_offset, bytearray(DATA[plain_offset:plain_offset + n]), False, False,
                 forged, bytes(32), os.urandom)
    out.seek(block_offset)
    out.write(forged)
    out.seek(0, io.SEEK_END)
    s.entries[bad] = (plain_offset, block_offset, n, stored, hashlib.sha256(forged).digest())  # index agrees
    out.write(s.finish())
    return out.getvalue()


def test_plaintext_hash_checked_once_per_block(monkeypatch):
    """A Container hashes a block's plaintext the first time it decrypts it; again with the
    same two AEAD tags (authenticated again) it skips the hash, never the AEAD."""
    from qeltrix.sources import open_random_access

    calls = []
    real = reader_mod.open_blocks

    def counting(keys, group, permuted, verify):
        calls.append(([job[0] for job in group], verify))
        return real(keys, group, permuted, verify)

    monkeypatch.setattr(reader_mod, "open_blocks", counting)
    with reader_mod.Container(open_random_access(BLOB), MK) as c:
        for _ in range(3):
            pt, buf = c.decrypt_block(3)
            assert bytes(pt) == DATA[3 * BS:4 * BS]
        assert calls == [([3], True), ([3], False), ([3], False)]
        calls.clear()
        c.decrypt_blocks([2, 3, 4])
        assert calls == [([3], False), ([2, 4], True)]
        # the same tags on different bytes: the AEAD still refuses them
        e = c.index[3]
        stored = bytearray(BLOB[e.block_offset:e.block_offset + e.block_size])
        stored[300] ^= 1
        with pytest.raises(qltx.DamagedError, match="block 3"):
            c.open_stored(3, stored)
        assert bytes(c.open_stored(3, BLOB[e.block_offset:e.block_offset + e.block_size])) == DATA[3 * BS:4 * BS]
    calls.clear()
    with reader_mod.Container(open_random_access(BLOB), MK) as c:
        c.remember_checked = False  # what unpack and verify do: one pass
        c.decrypt_block(3)
        c.decrypt_block(3)
        assert calls == [([3], True), ([3], True)] and not c._verified

    bad = _container_with_bad_hash(5)
    for _ in range(2):  # a failed check is not remembered
        with reader_mod.Container(open_random_access(bad), MK) as c:
            assert bytes(c.decrypt_block(4)[0]) == DATA[4 * BS:5 * BS]
            for _ in range(2):
                with pytest.raises(qltx.DamagedError, match="block 5: plaintext hash mismatch"):
                    c.decrypt_block(5)
                with pytest.raises(qltx.DamagedError, match="block 5: plaintext hash mismatch"):
                    c.read_range(5 * BS + 1, 10)
    with pytest.raises(qltx.DamagedError, match="block 5: plaintext hash mismatch"):
        qltx.unpack(bad, io.BytesIO(), MK)
    out = io.BytesIO()
    qltx.unpack(bad, out, MK, verify=False)  # --no-verify skips only this check
    assert out.getvalue() == DATA
    assert qltx.verify(bad).ok  # the stored bytes are what the index says
    r = qltx.verify(bad, MK)
    assert not r.ok and r.errors == ["block 5: plaintext hash mismatch"]


def test_verify_names_every_damaged_block():
    blob = bytearray(BLOB)
    from qeltrix.sources import open_random_access

    with reader_mod.Container(open_random_access(bytes(BLOB)), MK) as c:
        for i in (2, 7, 13):
            e = c.index[i]
            blob[e.block_offset + e.block_size - 40] ^= 0x10  # in the payload
    for key in (None, MK):
        r = qltx.verify(bytes(blob), key)
        assert not r.ok and [e.split(":")[0] for e in r.errors] == ["block 2", "block 7", "block 13"], r.errors
