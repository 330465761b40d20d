"""The native core's 6.0 decoders fed one byte at a time, a whole container's layout, and
arbitrary and mutated input: only the documented errors, never anything else."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from qeltrix import _core
from qeltrix.errors import DamagedError, NotAContainerError, TruncatedError, UnsupportedVersionError
from corelayout import (
    MIB, raises_exactly, header_bytes, make_header, prefix_bytes, meta_bytes, INFO, MAC,
    entries_for, footer_bytes, trailer_bytes,
)


# ---------------------------------------------------------------------------------------------
# decoders fed one byte at a time

def _feed(decode, raw):
    for n in range(len(raw)):
        raises_exactly(TruncatedError, decode, raw[:n])
    return decode(raw)


def test_byte_at_a_time():
    raw_footer, ofs = footer_bytes([4096, 17])
    assert _feed(_core.decode_header, header_bytes()).num_blocks == 3
    assert _feed(lambda b: _core.decode_prefix(b, 4096), prefix_bytes()).index == 7
    assert _feed(_core.decode_meta, meta_bytes()).plain_size == MIB
    assert _feed(_core.decode_footer_head, raw_footer[:64])[0] == 2
    assert len(_feed(lambda b: _core.decode_footer(b, 4096, ofs), raw_footer)) == 2
    total = ofs + len(raw_footer) + 24
    assert _feed(lambda b: _core.decode_trailer(b, total),
                 trailer_bytes(ofs, len(raw_footer))).footer_size == len(raw_footer)


def test_whole_container_layout():
    """A tiny container assembled from the encoders is consistent end to end."""
    bs, sizes = 4096, [4096, 4096, 1000]
    h = make_header(block_size=bs, num_blocks=3, plaintext_size=sum(sizes),
                    footer_offset=_core._block_offset(2, bs) + 1220, footer_size=64 + 168 + len(INFO))
    header = _core.encode_header(h)
    blocks = b""
    for i, n in enumerate(sizes):
        blocks += _core.encode_prefix(_core.Prefix(i, n + 16, i == 2)) + bytes(12 + 164 + n + 16)
    entries = [(o, b, n, s, hashlib.sha256(blocks[b - 416:b - 416 + s]).digest())
               for (o, b, n, s, _) in entries_for(sizes)]
    footer = _core.encode_footer(entries, sum(sizes), INFO, MAC)
    blob = header + blocks + footer + _core.encode_trailer(416 + len(blocks), len(footer))
    assert len(blob) == _core._container_size(sum(sizes), bs, len(INFO))
    d = _core.decode_header(blob)
    t = _core.decode_trailer(blob, len(blob))
    assert (t.footer_offset, t.footer_size) == (d.footer_offset, d.footer_size)
    idx = _core.decode_footer(blob[t.footer_offset:t.footer_offset + t.footer_size], bs, t.footer_offset)
    for i in range(3):
        e = idx[i]
        assert e.block_offset == _core._block_offset(i, bs)
        p = _core.decode_prefix(blob[e.block_offset:], bs)
        assert (p.index, p.payload_size - 16, p.final) == (i, e.plain_size, i == 2)
        assert hashlib.sha256(blob[e.block_offset:e.block_offset + e.block_size]).digest() == e.hash


# ---------------------------------------------------------------------------------------------
# arbitrary and mutated input: only the documented errors, never anything else

DATA_ERRORS = (NotAContainerError, UnsupportedVersionError, TruncatedError, DamagedError)


VALID_FOOTER, VALID_FOOTER_OFFSET = footer_bytes([4096, 4096, 77])


VALID = {
    "header": header_bytes(),
    "prefix": prefix_bytes(),
    "meta": meta_bytes(),
    "footer": VALID_FOOTER,
    "trailer": trailer_bytes(VALID_FOOTER_OFFSET, len(VALID_FOOTER)),
}


DECODERS = {
    "header": _core.decode_header,
    "prefix": lambda b: _core.decode_prefix(b, 4096),
    "meta": _core.decode_meta,
    "footer_head": _core.decode_footer_head,
    "footer": lambda b: _core.decode_footer(b, 4096, VALID_FOOTER_OFFSET),
    "trailer": lambda b: _core.decode_trailer(b, VALID_FOOTER_OFFSET + len(VALID_FOOTER) + 24),
}


@settings(max_examples=300)
@given(name=st.sampled_from(sorted(DECODERS)), blob=st.binary(max_size=600))
def test_decoders_on_arbitrary_bytes(name, blob):
    try:
        DECODERS[name](blob)
    except DATA_ERRORS:
        pass


@settings(max_examples=500)
@given(name=st.sampled_from(sorted(VALID)), data=st.data())
def test_decoders_on_mutated_structures(name, data):
    raw = bytearray(VALID[name])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    decode = DECODERS[name]
    try:
        decode(bytes(raw))
    except DATA_ERRORS:
        return
    if name == "footer":  # what decodes is consistent: entries chain, sizes add up
        idx = decode(bytes(raw))
        assert sum(e.plain_size for e in idx) == idx.plaintext_size
