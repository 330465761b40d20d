"""The seek arithmetic of uniform containers (qeltrix._core.block_count, _container_size,
_block_offset, _block_span) against models and brute force, up to 2**64."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qeltrix import _core
from corelayout import MIB, U64_MAX, raises_exactly, footer_bytes, brute_span


# ---------------------------------------------------------------------------------------------
# seek arithmetic

block_sizes = st.integers(4096, 64 * MIB)


def model_count(p, bs):
    return -(-p // bs)


@given(p=st.one_of(st.integers(0, 2**40), st.integers(2**57 - 2**30, 2**57 + 2**30),
                   st.integers(0, 2**63 - 1)), bs=block_sizes)
def test_block_count_and_container_size(p, bs):
    n = model_count(p, bs)
    if n > 2**31:
        raises_exactly(ValueError, _core.block_count, p, bs)
        raises_exactly(ValueError, _core._container_size, p, bs)
        return
    assert _core.block_count(p, bs) == n
    for info in (46, 1070):
        size = _core._container_size(p, bs, info)
        assert size == 416 + (p + 220 * n) + (64 + 56 * n + info) + 24 < 2**64
    assert _core._container_size(p, bs) == _core._container_size(p, bs, 46)


@given(i=st.integers(0, 2**31 - 1), bs=block_sizes)
def test_block_offset(i, bs):
    assert _core._block_offset(i, bs) == 416 + i * (bs + 220)


@settings(max_examples=500)
@given(p=st.integers(0, 40_000), bs=st.sampled_from([4096, 4097, 5000, 8192, 12288]),
       offset=st.integers(0, 45_000), length=st.integers(0, 45_000))
def test_block_span_brute_force(p, bs, offset, length):
    n = model_count(p, bs)
    end = min(offset + length, p)
    blocks = [i for i in range(n) if max(offset, i * bs) < min(end, (i + 1) * bs)]
    expected = (blocks[0], blocks[-1] + 1) if blocks else (n, n)
    assert _core._block_span(offset, length, p, bs) == expected


SPAN_EDGES = [  # (offset, length, expected) for 4 blocks of 4096 bytes, the last holding 5
    (0, 4096, (0, 1)), (0, 4097, (0, 2)), (4095, 1, (0, 1)), (4095, 2, (0, 2)),
    (4096, 4096, (1, 2)), (4096, 8192, (1, 3)), (3 * 4096, 5, (3, 4)), (3 * 4096, 6, (3, 4)),
    (3 * 4096 + 4, 100, (3, 4)), (3 * 4096 + 5, 1, (4, 4)), (0, 0, (4, 4)), (10, 0, (4, 4)),
    (0, U64_MAX, (0, 4)), (U64_MAX, 1, (4, 4)), (8191, U64_MAX, (1, 4)),
]


@pytest.mark.parametrize("offset,length,expected", SPAN_EDGES)
def test_span_edges(offset, length, expected):
    p = 3 * 4096 + 5
    assert _core._block_span(offset, length, p, 4096) == expected
    raw, ofs = footer_bytes([4096, 4096, 4096, 5])
    assert _core.decode_footer(raw, 4096, ofs).span(offset, length) == expected
    sizes = [4096, 4095, 1, 4096, 5]  # not uniform: binary search
    raw, ofs = footer_bytes(sizes)
    idx = _core.decode_footer(raw, 4096, ofs)
    assert not idx.uniform
    assert idx.span(offset, length) == brute_span(sizes, offset, length)


@given(p=st.integers(0, 2**31 * 4096), offset=st.integers(0, U64_MAX), length=st.integers(0, U64_MAX))
def test_block_span_near_2_64(p, offset, length):
    bs = 4096
    n = model_count(p, bs)
    end = min(offset + length, p)  # Python ints: no overflow in the model
    expected = (offset // bs, (end - 1) // bs + 1) if offset < end else (n, n)
    assert _core._block_span(offset, length, p, bs) == expected


@pytest.mark.parametrize("fn,args", [
    (_core.block_count, (0, 4095)), (_core.block_count, (0, 64 * MIB + 1)),
    (_core.block_count, (2**63, 64 * MIB)), (_core.block_count, (-1, 4096)),
    (_core.block_count, (2**64, 4096)), (_core.block_count, (2**31 * 4096 + 1, 4096)),
    (_core._container_size, (2**63 - 1, 4096)), (_core._container_size, (0, 4096, 45)),
    (_core._container_size, (0, 4096, 1071)),
    (_core._block_offset, (2**31, 4096)), (_core._block_offset, (-1, 4096)),
    (_core._block_offset, (0, 0)), (_core._block_offset, (U64_MAX, 64 * MIB)),
    (_core._block_span, (-1, 0, 10, 4096)), (_core._block_span, (0, -1, 10, 4096)),
    (_core._block_span, (0, 2**64, 10, 4096)), (_core._block_span, (0, 1, 2**63, 4096)),
    (_core._block_span, (0, 1, 10, 1)),
])
def test_seek_misuse(fn, args):
    raises_exactly(ValueError, fn, *args)


def test_seek_limits():
    assert _core.block_count(2**31 * 64 * MIB, 64 * MIB) == 2**31
    assert _core.block_count(0, 4096) == 0 and _core._container_size(0, 4096) == 416 + 64 + 46 + 24
    assert _core._block_span(U64_MAX, U64_MAX, 2**31 * 4096, 4096) == (2**31, 2**31)
    assert _core._block_offset(2**31 - 1, 64 * MIB) == 416 + (2**31 - 1) * (64 * MIB + 220)
    assert _core.block_count(True, 4096) == 1  # bool is an int
