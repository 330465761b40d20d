"""The native core (qeltrix._core) against spec/qeltrix_v6.ksy: the footer (its index, locate and
span) and the trailer, against the spec's layout (tests/corelayout.py). Bad inputs assert the exact
exception class."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qeltrix import _core
from qeltrix.errors import DamagedError, NotAContainerError, TruncatedError
from corelayout import (
    MIB, U64_MAX, raises_exactly, INFO, MAC, entries_for, footer_bytes, trailer_bytes,
)


# ---------------------------------------------------------------------------------------------
# footer

def test_footer_layout_and_round_trip():
    sizes = [4096, 4096, 10]
    raw, ofs = footer_bytes(sizes)
    assert _core.encode_footer(entries_for(sizes), sum(sizes), INFO, MAC) == raw
    assert _core.decode_footer_head(raw) == (3, 8202, len(INFO), MAC)
    idx = _core.decode_footer(raw, 4096, ofs)
    assert (len(idx), idx.num_blocks, idx.plaintext_size, idx.info_size, idx.mac) == (3, 3, 8202, 52, MAC)
    assert idx.uniform
    got = [(e.plain_offset, e.block_offset, e.plain_size, e.block_size, e.hash) for e in idx]
    assert got == entries_for(sizes)
    assert idx[-1].plain_size == 10 and idx[-3].plain_offset == 0
    for i in (3, -4, 2**70, -(2**70)):
        with pytest.raises(IndexError):
            idx[i]
    # Entry objects are accepted by the encoder too.
    assert _core.encode_footer(list(idx), 8202, INFO, MAC) == raw


def test_footer_empty_stream():
    raw, ofs = footer_bytes([])
    assert ofs == 416 and len(raw) == 64 + 52
    assert _core.encode_footer([], 0, INFO, MAC) == raw
    idx = _core.decode_footer(raw, 4096, 416)
    assert len(idx) == 0 and idx.uniform and idx.span(0, 10) == (0, 0)
    raises_exactly(ValueError, idx.locate, 0)
    # One empty final block is a valid empty stream too.
    raw, ofs = footer_bytes([0])
    idx = _core.decode_footer(raw, 4096, ofs)
    assert ofs == 636 and len(idx) == 1 and idx.span(0, 10) == (1, 1) and idx[0].block_size == 220


def test_footer_empty_last_block():
    sizes = [4096, 4096, 0]  # a stream that ended exactly on a block boundary after a flush
    raw, ofs = footer_bytes(sizes)
    idx = _core.decode_footer(raw, 4096, ofs)
    assert idx.uniform and idx.locate(8191) == 1 and idx.span(0, 10**9) == (0, 2)


def test_footer_info_sizes():
    for n in (46, 1070):
        raw, ofs = footer_bytes([5], info=b"x" * n)
        assert _core.decode_footer(raw, 4096, ofs).info_size == n
        assert _core.encode_footer(entries_for([5]), 5, b"x" * n, MAC) == raw
    for n in (0, 45, 1071):
        raw, ofs = footer_bytes([5], info=b"x" * n)
        raises_exactly(DamagedError, _core.decode_footer_head, raw)
        raises_exactly(DamagedError, _core.decode_footer, raw, 4096, ofs)
        raises_exactly(ValueError, _core.encode_footer, entries_for([5]), 5, b"x" * n, MAC)


def _bad_entry(sizes, i, field, value):
    entries = [list(e) for e in entries_for(sizes)]
    entries[i][field] = value
    return [tuple(e) for e in entries]


BAD_FOOTERS = [
    # (description, footer_bytes kwargs, decode block size, footer offset delta, block, message)
    ("plain offset of entry 1", dict(entries=_bad_entry([4096, 4096, 5], 1, 0, 4095)), 4096, 0, 1,
     "footer entry 1: plaintext offset does not follow block 0"),
    ("plain offset of entry 0", dict(entries=_bad_entry([4096, 5], 0, 0, 1)), 4096, 0, 0,
     "footer entry 0: plaintext offset is not 0"),
    ("block offset of entry 2", dict(entries=_bad_entry([4096, 4096, 5], 2, 1, 416 + 2 * 4316 + 1)),
     4096, 0, 2, "footer entry 2: block offset does not follow block 1"),
    ("block offset of entry 0", dict(entries=_bad_entry([5], 0, 1, 415)), 4096, 0, 0,
     "footer entry 0: block offset is not 416"),
    ("stored size", dict(entries=_bad_entry([4096, 5], 1, 3, 5 + 219)), 4096, 0, 1,
     "stored size 224 is not plaintext size + 220"),
    ("empty middle block", dict(entries=entries_for([4096, 0, 5])), 4096, 0, 1,
     "empty block before the last"),
    ("block above block size", dict(entries=entries_for([4096, 4097])), 4096, 0, 1,
     "plaintext size 4097 is above the block size 4096"),
    ("total mismatch", dict(entries=entries_for([4096, 5]), total=4100), 4096, 0, None,
     "entries hold 4101 plaintext bytes, not 4100"),
    ("footer offset", dict(entries=entries_for([4096, 5])), 4096, 1, None, "blocks end at"),
    ("footer offset short", dict(entries=entries_for([4096, 5])), 4096, -1, None, "blocks end at"),
    ("reserved", dict(entries=entries_for([5]), reserved=1), 4096, 0, None, "reserved"),
    ("num above 2**31", dict(entries=[], num=2**31 + 1, total=0), 4096, 0, None, "num_blocks"),
    ("total 2**63", dict(entries=entries_for([5]), total=2**63), 4096, 0, None, "2^63"),
    ("total above the blocks", dict(entries=entries_for([5]), total=64 * MIB + 1), 4096, 0, None,
     "cannot hold"),
]


@pytest.mark.parametrize("desc,kw,bs,delta,block,message", BAD_FOOTERS, ids=[b[0] for b in BAD_FOOTERS])
def test_footer_inconsistent(desc, kw, bs, delta, block, message):
    sizes = [e[2] for e in kw["entries"]]
    raw, ofs = footer_bytes(sizes, **kw)
    e = raises_exactly(DamagedError, _core.decode_footer, raw, bs, ofs + delta, match=message)
    assert e.block == block


def test_footer_wrong_length():
    raw, ofs = footer_bytes([4096, 5])
    for n in range(len(raw)):
        raises_exactly(TruncatedError, _core.decode_footer, raw[:n], 4096, ofs)
    for n in range(64):
        raises_exactly(TruncatedError, _core.decode_footer_head, raw[:n])
    raises_exactly(DamagedError, _core.decode_footer, raw + b"\0", 4096, ofs)
    # The count says one block more than the bytes hold: truncated, never read past the end.
    raw2, _ = footer_bytes([4096, 5], num=3)
    raises_exactly(TruncatedError, _core.decode_footer, raw2, 4096, ofs)
    # A huge count in a small buffer is truncated (nothing is allocated from the count).
    raw3, _ = footer_bytes([], num=2**31, total=2**31 - 1)
    raises_exactly(TruncatedError, _core.decode_footer, raw3, 4096, 416)


@pytest.mark.parametrize("pos", range(8))
def test_footer_magic(pos):
    raw, ofs = footer_bytes([5])
    bad = bytearray(raw)
    bad[pos] ^= 1
    raises_exactly(NotAContainerError, _core.decode_footer, bytes(bad), 4096, ofs)
    raises_exactly(NotAContainerError, _core.decode_footer_head, bytes(bad[:pos + 1]))


def test_footer_bad_block_size_is_misuse():
    raw, ofs = footer_bytes([5])
    raises_exactly(ValueError, _core.decode_footer, raw, 4095, ofs)
    raises_exactly(ValueError, _core.decode_footer, raw, 4096, -1)


ENCODE_BAD = [
    ("plain offset", _bad_entry([4096, 5], 1, 0, 0), 4101),
    ("block offset", _bad_entry([4096, 5], 1, 1, 0), 4101),
    ("stored size", _bad_entry([4096, 5], 1, 3, 0), 4101),
    ("empty middle", entries_for([4096, 0, 5]), 4101),
    ("above 64 MiB", entries_for([64 * MIB + 1]), 64 * MIB + 1),
    ("total", entries_for([4096, 5]), 4100),
    ("hash short", _bad_entry([5], 0, 4, b"h" * 31), 5),
    ("negative", _bad_entry([5], 0, 2, -1), 5),
    ("u32 overflow", _bad_entry([5], 0, 3, 2**32), 5),
    ("four fields", [(0, 416, 5, 225)], 5),
]


@pytest.mark.parametrize("desc,entries,total", ENCODE_BAD, ids=[b[0] for b in ENCODE_BAD])
def test_encode_footer_rejects(desc, entries, total):
    raises_exactly(ValueError, _core.encode_footer, entries, total, INFO, MAC)


def test_encode_footer_bad_args():
    raises_exactly(ValueError, _core.encode_footer, [], 0, INFO, bytes(31))
    raises_exactly(TypeError, _core.encode_footer, [5], 0, INFO, MAC)
    raises_exactly(TypeError, _core.encode_footer, [(0, 416, 5, 225, "not bytes")], 5, INFO, MAC)


sizes_strategy = st.lists(st.integers(1, 4096), min_size=0, max_size=40).flatmap(
    lambda xs: st.tuples(st.just(xs), st.integers(0, 4096)))


@settings(max_examples=300, deadline=None)
@given(sizes_last=sizes_strategy, data=st.data())
def test_index_locate_and_span_match_brute_force(sizes_last, data):
    body, last = sizes_last
    sizes = body + [last] if body or last else []
    raw, ofs = footer_bytes(sizes)
    assert _core.encode_footer(entries_for(sizes), sum(sizes), INFO, MAC) == raw
    idx = _core.decode_footer(raw, 4096, ofs)
    assert idx.uniform == all(n == 4096 for n in sizes[:-1])
    total = sum(sizes)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]

    def owner(off):
        return next(i for i, (s, n) in enumerate(zip(starts, sizes)) if s <= off < s + n)

    offset = data.draw(st.integers(0, total + 10))
    length = data.draw(st.integers(0, total + 10))
    if offset < total:
        assert idx.locate(offset) == owner(offset)
    else:
        raises_exactly(ValueError, idx.locate, offset)
    end = min(offset + length, total)
    expected = (owner(offset), owner(end - 1) + 1) if offset < end else (len(sizes), len(sizes))
    assert idx.span(offset, length) == expected
    assert idx.span(offset, U64_MAX) == ((owner(offset), owner(total - 1) + 1) if offset < total
                                         else (len(sizes), len(sizes)))
    if idx.uniform and (not sizes or sizes[-1] > 0):  # block_span knows no empty last block
        assert idx.span(offset, length) == _core._block_span(offset, length, total, 4096)


def test_index_negative_is_misuse():
    raw, ofs = footer_bytes([5, 5])
    idx = _core.decode_footer(raw, 4096, ofs)
    assert not idx.uniform
    for args in [(-1, 1), (0, -1), (2**64, 1)]:
        raises_exactly(ValueError, idx.span, *args)
    raises_exactly(ValueError, idx.locate, -1)
    raises_exactly(ValueError, idx.locate, 10)


@pytest.mark.slow
def test_footer_million_entries():
    n = 1_000_000
    entry = struct.Struct(">QQII32s")
    h = b"h" * 32
    parts = [struct.pack(">8sQQII32s", b"QLTXFOOT", n, n * 4096, len(INFO), 0, MAC)]
    parts += [entry.pack(i * 4096, 416 + i * 4316, 4096, 4316, h) for i in range(n)]
    raw = b"".join(parts) + INFO
    idx = _core.decode_footer(raw, 4096, 416 + n * 4316)
    assert len(idx) == n and idx.uniform and idx[-1].plain_offset == (n - 1) * 4096
    assert idx.locate(n * 4096 - 1) == n - 1


# ---------------------------------------------------------------------------------------------
# trailer

def test_trailer_round_trip():
    raw = _core.encode_trailer(416 + 4096 + 220, 64 + 56 + 46)
    assert raw == trailer_bytes(416 + 4096 + 220, 166)
    total = 416 + 4316 + 166 + 24
    t = _core.decode_trailer(raw, total)
    assert (t.footer_offset, t.footer_size) == (4732, 166)
    # The last 24 bytes of a longer buffer (e.g. the whole container).
    assert _core.decode_trailer(b"\xff" * 100 + raw, total).footer_offset == 4732
    empty = _core.encode_trailer(416, 110)
    assert _core.decode_trailer(empty, 416 + 110 + 24).footer_size == 110


BAD_TRAILERS = [
    ("footer size 109", 416, 109, DamagedError),
    ("footer size 0", 416, 0, DamagedError),
    ("footer size above any", 416, 64 + 56 * 2**31 + 1071, DamagedError),
    ("footer offset 415", 415, 110, DamagedError),
    ("footer offset 0", 0, 110, DamagedError),
    ("offset leaves no room", 416 + 220 * 2 - 1, 64 + 56 * 3 + 1070, DamagedError),
    ("offset beyond the blocks", 416 + (220 + 64 * MIB) * 1 + 1, 110 + 56, DamagedError),
    ("near 2**64", U64_MAX - 100, 110, DamagedError),
]


@pytest.mark.parametrize("desc,ofs,size,exc", BAD_TRAILERS, ids=[b[0] for b in BAD_TRAILERS])
def test_trailer_bad(desc, ofs, size, exc):
    raises_exactly(exc, _core.decode_trailer, trailer_bytes(ofs, size), (ofs + size + 24) % 2**64)
    raises_exactly(ValueError, _core.encode_trailer, ofs, size)


def test_trailer_size_mismatch_and_magic():
    raw = trailer_bytes(416, 110)
    assert _core.decode_trailer(raw, 550).footer_offset == 416
    for total in (549, 551, 0, U64_MAX):
        raises_exactly(DamagedError, _core.decode_trailer, raw, total)
    for pos in range(16, 24):
        bad = bytearray(raw)
        bad[pos] ^= 4
        raises_exactly(NotAContainerError, _core.decode_trailer, bytes(bad), 550)
    for n in range(24):
        raises_exactly(TruncatedError, _core.decode_trailer, raw[:n], 550)
    raises_exactly(ValueError, _core.decode_trailer, raw, -1)
