"""The native core (qeltrix._core) against spec/qeltrix_v6.ksy.

Every structure is also built here independently with ``struct`` from the spec's layout, so the
encoders are checked byte for byte, and the permutation is checked against a literal Python
transcription of the spec text. Bad inputs assert the exact exception class.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qeltrix import _core
from gil import python_keeps_running
from qeltrix.errors import DamagedError, NotAContainerError, TruncatedError, UnsupportedVersionError

MIB = 1 << 20
U64_MAX = 2**64 - 1


def raises_exactly(cls, fn, *args, match: str | None = None):
    """fn(*args) raises exactly cls (TruncatedError is a DamagedError: pytest.raises would pass)."""
    with pytest.raises(Exception) as info:
        fn(*args)
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    if match is not None:
        assert match in str(info.value), str(info.value)
    return info.value


# ---------------------------------------------------------------------------------------------
# constants

def test_constants():
    c = _core
    assert (c.VERSION, c.HEADER_SIZE, c.HEADER_MAC_OFFSET, c.PREFIX_SIZE) == (6, 416, 108, 28)
    assert (c.META_IV_SIZE, c.META_PLAIN_SIZE, c.META_SEALED_SIZE, c.TAG_SIZE) == (12, 148, 164, 16)
    assert c.BLOCK_OVERHEAD == 220 == c.PREFIX_SIZE + c.META_IV_SIZE + c.META_SEALED_SIZE + c.TAG_SIZE
    assert (c.FOOTER_HEAD_SIZE, c.FOOTER_MAC_OFFSET, c.FOOTER_ENTRY_SIZE, c.TRAILER_SIZE) == (64, 32, 56, 24)
    assert (c.MIN_INFO_SIZE, c.MAX_INFO_SIZE) == (46, 1070)
    assert (c.MIN_BLOCK_SIZE, c.MAX_BLOCK_SIZE, c.MAX_BLOCKS) == (4096, 64 * MIB, 2**31)
    assert (c.CIPHER_AES256_GCM, c.CIPHER_CHACHA20_POLY1305) == (1, 2)
    assert (c.KDF_NONE, c.KDF_ARGON2ID, c.KDF_SCRYPT) == (0, 1, 2)
    assert (c.FLAG_PERMUTED, c.FLAG_FINAL) == (1, 1)


# ---------------------------------------------------------------------------------------------
# header

HEADER_FMT = ">4sHBBII32s16sIII32s32sQQQQ244s"
assert struct.calcsize(HEADER_FMT) == 416


def header_bytes(*, magic=b"QLTX", version=6, cipher=1, kdf=1, flags=1, block_size=MIB,
                 container_id=bytes(range(32)), salt=bytes(range(100, 116)), t=3, m=65536, p=4,
                 commitment=b"C" * 32, mac=b"M" * 32, num_blocks=3, plaintext_size=2 * MIB + 5,
                 footer_offset=None, footer_size=None, reserved=bytes(244)) -> bytes:
    """A header built from the spec's layout (independent of the encoder)."""
    if footer_offset is None:
        footer_offset = 416 + 220 * num_blocks + plaintext_size
    if footer_size is None:
        footer_size = 64 + 56 * num_blocks + 50
    return struct.pack(HEADER_FMT, magic, version, cipher, kdf, flags, block_size, container_id,
                       salt, t, m, p, commitment, mac, num_blocks, plaintext_size, footer_offset,
                       footer_size, reserved)


def make_header(**kw) -> _core.Header:
    h = _core.Header()
    values = dict(cipher_id=1, kdf_id=1, flags=1, block_size=MIB, container_id=bytes(range(32)),
                  kdf_salt=bytes(range(100, 116)), kdf_t=3, kdf_m=65536, kdf_p=4,
                  key_commitment=b"C" * 32, header_mac=b"M" * 32, num_blocks=3,
                  plaintext_size=2 * MIB + 5, footer_offset=416 + 220 * 3 + 2 * MIB + 5,
                  footer_size=64 + 56 * 3 + 50)
    values.update(kw)
    for k, v in values.items():
        setattr(h, k, v)
    return h


HEADER_FIELDS = ["cipher_id", "kdf_id", "flags", "block_size", "container_id", "kdf_salt", "kdf_t",
                 "kdf_m", "kdf_p", "key_commitment", "header_mac", "num_blocks", "plaintext_size",
                 "footer_offset", "footer_size"]


def fields(obj, names):
    return {n: getattr(obj, n) for n in names}


def test_header_default_is_empty():
    h = _core.Header()
    assert fields(h, HEADER_FIELDS) == dict(
        cipher_id=0, kdf_id=0, flags=0, block_size=0, container_id=b"", kdf_salt=b"", kdf_t=0,
        kdf_m=0, kdf_p=0, key_commitment=b"", header_mac=b"", num_blocks=0, plaintext_size=0,
        footer_offset=0, footer_size=0)
    assert h.streamed and not h.permuted
    raises_exactly(ValueError, _core.encode_header, h)  # empty container_id etc.


def test_header_layout_and_round_trip():
    h = make_header()
    raw = _core.encode_header(h)
    assert raw == header_bytes()
    d = _core.decode_header(raw)
    assert fields(d, HEADER_FIELDS) == fields(h, HEADER_FIELDS)
    assert d.permuted and not d.streamed
    assert _core.encode_header(d) == raw


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, "mmap", "longer"])
def test_header_accepts_any_buffer(kind, tmp_path):
    raw = header_bytes()
    if kind == "mmap":
        path = tmp_path / "h"
        path.write_bytes(raw)
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert _core.decode_header(mm).block_size == MIB
        return
    buf = raw + b"trailing bytes are ignored" if kind == "longer" else kind(raw)
    assert _core.decode_header(buf).block_size == MIB


def test_header_streamed_round_trip():
    h = make_header(num_blocks=0, plaintext_size=0, footer_offset=0, footer_size=0, flags=0,
                    kdf_id=0, kdf_salt=bytes(16), kdf_t=0, kdf_m=0, kdf_p=0, cipher_id=2)
    d = _core.decode_header(_core.encode_header(h))
    assert d.streamed and not d.permuted and d.cipher_id == 2 and d.kdf_id == 0


def test_header_patched_empty_stream():
    h = make_header(num_blocks=0, plaintext_size=0, footer_offset=416, footer_size=64 + 46)
    d = _core.decode_header(_core.encode_header(h))
    assert not d.streamed and d.footer_offset == 416


BAD_HEADERS = [
    # (description, keyword arguments of header_bytes, exception)
    ("version 5", dict(version=5), UnsupportedVersionError),
    ("version 7", dict(version=7), UnsupportedVersionError),
    ("version 0x0600", dict(version=0x600), UnsupportedVersionError),
    ("cipher 0", dict(cipher=0), DamagedError),
    ("cipher 3", dict(cipher=3), DamagedError),
    ("cipher 255", dict(cipher=255), DamagedError),
    ("kdf 3", dict(kdf=3), DamagedError),
    ("block size 0", dict(block_size=0), DamagedError),
    ("block size 4095", dict(block_size=4095), DamagedError),
    ("block size 64 MiB + 1", dict(block_size=64 * MIB + 1, plaintext_size=5), DamagedError),
    ("block size 2**32 - 1", dict(block_size=2**32 - 1, plaintext_size=5), DamagedError),
    ("kdf none with salt", dict(kdf=0, t=0, m=0, p=0), DamagedError),
    ("kdf none with cost", dict(kdf=0, salt=bytes(16), t=1, m=0, p=0), DamagedError),
    ("num_blocks 2**31 + 1", dict(num_blocks=2**31 + 1, plaintext_size=2**31 + 1), DamagedError),
    ("num_blocks 2**64 - 1", dict(num_blocks=U64_MAX, plaintext_size=5, footer_offset=5, footer_size=5),
     DamagedError),
    ("plaintext 2**63", dict(num_blocks=2**31, plaintext_size=2**63, footer_offset=0), DamagedError),
    ("plaintext above the blocks", dict(num_blocks=2, plaintext_size=2 * MIB + 1), DamagedError),
    ("blocks without plaintext", dict(num_blocks=3, plaintext_size=1), DamagedError),
    ("footer size too small", dict(footer_size=64 + 56 * 3 + 45), DamagedError),
    ("footer size too large", dict(footer_size=64 + 56 * 3 + 1071), DamagedError),
    ("footer offset one off", dict(footer_offset=416 + 660 + 2 * MIB + 6), DamagedError),
    ("only footer size set", dict(num_blocks=0, plaintext_size=0, footer_offset=0, footer_size=56),
     DamagedError),
    ("only plaintext set", dict(num_blocks=0, plaintext_size=1, footer_offset=0, footer_size=0),
     DamagedError),
]


@pytest.mark.parametrize("desc,kw,exc", BAD_HEADERS, ids=[b[0] for b in BAD_HEADERS])
def test_header_bad_fields(desc, kw, exc):
    raises_exactly(exc, _core.decode_header, header_bytes(**kw))


@pytest.mark.parametrize("bit", range(1, 32))
def test_header_reserved_flag_bits(bit):
    raises_exactly(DamagedError, _core.decode_header, header_bytes(flags=1 | (1 << bit)))
    raises_exactly(ValueError, _core.encode_header, make_header(flags=1 << bit))


def test_header_reserved_bytes():
    raw = header_bytes()
    for pos in range(172, 416):
        bad = bytearray(raw)
        bad[pos] = 0x01 if pos % 2 else 0x80
        raises_exactly(DamagedError, _core.decode_header, bytes(bad))


@pytest.mark.parametrize("pos", range(4))
def test_header_magic(pos):
    bad = bytearray(header_bytes())
    bad[pos] ^= 0x20
    raises_exactly(NotAContainerError, _core.decode_header, bytes(bad))
    # A short input that already differs from the magic is not a container either.
    raises_exactly(NotAContainerError, _core.decode_header, bytes(bad[:pos + 1]))
    raises_exactly(NotAContainerError, _core.decode_header, b"%PDF-1.7 not a container")


def test_header_every_truncation():
    raw = header_bytes()
    for n in range(416):
        raises_exactly(TruncatedError, _core.decode_header, raw[:n])
    assert _core.decode_header(raw[:416]).num_blocks == 3


def test_header_short_wrong_version():
    raises_exactly(UnsupportedVersionError, _core.decode_header, b"QLTX\x00\x05")


BAD_HEADER_FIELDS = [
    dict(cipher_id=0), dict(cipher_id=3), dict(kdf_id=3), dict(flags=2), dict(block_size=4095),
    dict(block_size=64 * MIB + 1), dict(container_id=b"x" * 31), dict(container_id=b"x" * 33),
    dict(kdf_salt=b""), dict(key_commitment=bytes(31)), dict(header_mac=bytes(33)),
    dict(kdf_id=0), dict(num_blocks=2**31 + 1), dict(footer_offset=0), dict(footer_size=0),
    dict(plaintext_size=2**63),
]


@pytest.mark.parametrize("kw", BAD_HEADER_FIELDS, ids=[str(k) for k in BAD_HEADER_FIELDS])
def test_encode_header_rejects(kw):
    raises_exactly(ValueError, _core.encode_header, make_header(**kw))


@pytest.mark.parametrize("name,value", [("cipher_id", 256), ("kdf_id", -1), ("flags", 2**32),
                                        ("block_size", 2**32), ("kdf_t", -5), ("num_blocks", 2**64),
                                        ("footer_size", -1)])
def test_header_field_width(name, value):
    h = _core.Header()
    with pytest.raises(ValueError):
        setattr(h, name, value)
    with pytest.raises(TypeError):
        setattr(h, name, 1.5)


# ---------------------------------------------------------------------------------------------
# block prefix

def prefix_bytes(magic=b"QBLK", index=7, meta=164, payload=4096 + 16, flags=0) -> bytes:
    return struct.pack(">4sQIQI", magic, index, meta, payload, flags)


def test_prefix_defaults():
    p = _core.Prefix()
    assert (p.index, p.meta_size, p.payload_size, p.flags, p.final) == (0, 164, 16, 0, False)
    p = _core.Prefix(5, 100, True)
    assert (p.index, p.payload_size, p.flags, p.final) == (5, 100, 1, True)
    p = _core.Prefix(index=2**31 - 1, payload_size=64 * MIB + 16, final=False)
    assert _core.encode_prefix(p) == prefix_bytes(index=2**31 - 1, payload=64 * MIB + 16)


@pytest.mark.parametrize("index,payload,final", [(0, 16, True), (7, 4112, False),
                                                 (2**31 - 1, 1000, True)])
def test_prefix_round_trip(index, payload, final):
    raw = _core.encode_prefix(_core.Prefix(index, payload, final))
    assert raw == prefix_bytes(index=index, payload=payload, flags=int(final))
    p = _core.decode_prefix(bytearray(raw), 4096)
    assert (p.index, p.meta_size, p.payload_size, p.final) == (index, 164, payload, final)


BAD_PREFIXES = [
    ("meta 0", dict(meta=0), DamagedError),
    ("meta 148", dict(meta=148), DamagedError),
    ("meta 165", dict(meta=165), DamagedError),
    ("payload 15", dict(payload=15), DamagedError),
    ("payload 0", dict(payload=0), DamagedError),
    ("payload block + 17", dict(payload=4096 + 17), DamagedError),
    ("payload 2**64 - 1", dict(payload=U64_MAX), DamagedError),
    ("flags 2", dict(flags=2), DamagedError),
    ("flags high bit", dict(flags=0x80000001), DamagedError),
    ("index 2**31", dict(index=2**31), DamagedError),
    ("index 2**64 - 1", dict(index=U64_MAX), DamagedError),
    ("magic QBLk", dict(magic=b"QBLk"), NotAContainerError),
    ("magic QLTX", dict(magic=b"QLTX"), NotAContainerError),
]


@pytest.mark.parametrize("desc,kw,exc", BAD_PREFIXES, ids=[b[0] for b in BAD_PREFIXES])
def test_prefix_bad(desc, kw, exc):
    raises_exactly(exc, _core.decode_prefix, prefix_bytes(**kw), 4096)


def test_prefix_block_attribute():
    e = raises_exactly(DamagedError, _core.decode_prefix, prefix_bytes(index=9, meta=1), 4096)
    assert e.block == 9
    e = raises_exactly(DamagedError, _core.decode_prefix, prefix_bytes(index=2**40), 4096)
    assert e.block is None


def test_prefix_every_truncation():
    raw = prefix_bytes()
    for n in range(28):
        raises_exactly(TruncatedError, _core.decode_prefix, raw[:n], 4096)
    assert _core.decode_prefix(raw, 4096).index == 7


@pytest.mark.parametrize("bs", [0, 4095, 64 * MIB + 1, -1, 2**64])
def test_prefix_bad_block_size_is_misuse(bs):
    raises_exactly(ValueError, _core.decode_prefix, prefix_bytes(), bs)


@pytest.mark.parametrize("kw", [dict(index=2**31), dict(payload_size=15),
                                dict(payload_size=64 * MIB + 17)])
def test_encode_prefix_rejects(kw):
    raises_exactly(ValueError, _core.encode_prefix, _core.Prefix(**kw))
    p = _core.Prefix()
    p.flags = 2
    raises_exactly(ValueError, _core.encode_prefix, p)
    p = _core.Prefix()
    p.meta_size = 148
    raises_exactly(ValueError, _core.encode_prefix, p)


# ---------------------------------------------------------------------------------------------
# block metadata

META_FIELDS = ["plain_offset", "plain_size", "payload_iv", "block_salt", "wrap_iv", "wrapped_cdk",
               "plaintext_sha256"]


def make_meta(**kw) -> _core.Meta:
    m = _core.Meta()
    values = dict(plain_offset=3 * MIB, plain_size=MIB, payload_iv=b"i" * 12, block_salt=b"s" * 32,
                  wrap_iv=b"w" * 12, wrapped_cdk=b"k" * 48, plaintext_sha256=b"h" * 32)
    values.update(kw)
    for k, v in values.items():
        setattr(m, k, v)
    return m


def meta_bytes(offset=3 * MIB, size=MIB) -> bytes:
    return struct.pack(">QI12s32s12s48s32s", offset, size, b"i" * 12, b"s" * 32, b"w" * 12,
                       b"k" * 48, b"h" * 32)


def test_meta_round_trip():
    m = make_meta()
    raw = _core.encode_meta(m)
    assert raw == meta_bytes()
    assert fields(_core.decode_meta(memoryview(raw)), META_FIELDS) == fields(m, META_FIELDS)
    e = _core.Meta()
    assert fields(e, META_FIELDS) == dict(plain_offset=0, plain_size=0, payload_iv=b"",
                                          block_salt=b"", wrap_iv=b"", wrapped_cdk=b"",
                                          plaintext_sha256=b"")


def test_meta_limits():
    assert _core.decode_meta(meta_bytes(2**63 - 1 - 64 * MIB, 64 * MIB)).plain_size == 64 * MIB
    raises_exactly(DamagedError, _core.decode_meta, meta_bytes(size=64 * MIB + 1))
    raises_exactly(DamagedError, _core.decode_meta, meta_bytes(size=2**32 - 1))
    raises_exactly(DamagedError, _core.decode_meta, meta_bytes(offset=2**63 - 10, size=10))
    raises_exactly(DamagedError, _core.decode_meta, meta_bytes(offset=U64_MAX, size=1))
    for n in range(148):
        raises_exactly(TruncatedError, _core.decode_meta, meta_bytes()[:n])


@pytest.mark.parametrize("kw", [dict(payload_iv=b"i" * 11), dict(block_salt=b""),
                                dict(wrap_iv=b"w" * 13), dict(wrapped_cdk=b"k" * 32),
                                dict(plaintext_sha256=b"h" * 31), dict(plain_size=64 * MIB + 1),
                                dict(plain_offset=2**63 - 1)])
def test_encode_meta_rejects(kw):
    raises_exactly(ValueError, _core.encode_meta, make_meta(**kw))


# ---------------------------------------------------------------------------------------------
# footer

INFO = b"I" * 12 + b"S" * 40  # info_iv || info_sealed of a 6-byte name: 46 + 6
MAC = bytes(range(32))


def entries_for(sizes) -> list[tuple[int, int, int, int, bytes]]:
    out, plain, block = [], 0, 416
    for i, n in enumerate(sizes):
        out.append((plain, block, n, n + 220, hashlib.sha256(b"%d" % i).digest()))
        plain += n
        block += n + 220
    return out


def footer_bytes(sizes, *, total=None, info=INFO, mac=MAC, magic=b"QLTXFOOT", num=None,
                 reserved=0, entries=None) -> tuple[bytes, int]:
    """(footer, footer_offset) built from the spec's layout."""
    entries = entries_for(sizes) if entries is None else entries
    total = sum(sizes) if total is None else total
    num = len(entries) if num is None else num
    raw = struct.pack(">8sQQII32s", magic, num, total, len(info), reserved, mac)
    raw += b"".join(struct.pack(">QQII32s", *e) for e in entries) + info
    return raw, 416 + sum(sizes) + 220 * len(sizes)


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

def trailer_bytes(ofs, size, magic=b"QLTX-END") -> bytes:
    return struct.pack(">QQ8s", ofs, size, magic)


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
        raises_exactly(ValueError, _core._block_count, p, bs)
        raises_exactly(ValueError, _core._container_size, p, bs)
        return
    assert _core._block_count(p, bs) == n
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


def brute_span(sizes, offset, length):
    """Blocks holding at least one byte of [offset, offset + length), by enumeration."""
    end = min(offset + length, sum(sizes))
    hits, start = [], 0
    for i, n in enumerate(sizes):
        if max(offset, start) < min(end, start + n):
            hits.append(i)
        start += n
    return (hits[0], hits[-1] + 1) if hits else (len(sizes), len(sizes))


@given(p=st.integers(0, 2**31 * 4096), offset=st.integers(0, U64_MAX), length=st.integers(0, U64_MAX))
def test_block_span_near_2_64(p, offset, length):
    bs = 4096
    n = model_count(p, bs)
    end = min(offset + length, p)  # Python ints: no overflow in the model
    expected = (offset // bs, (end - 1) // bs + 1) if offset < end else (n, n)
    assert _core._block_span(offset, length, p, bs) == expected


@pytest.mark.parametrize("fn,args", [
    (_core._block_count, (0, 4095)), (_core._block_count, (0, 64 * MIB + 1)),
    (_core._block_count, (2**63, 64 * MIB)), (_core._block_count, (-1, 4096)),
    (_core._block_count, (2**64, 4096)), (_core._block_count, (2**31 * 4096 + 1, 4096)),
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
    assert _core._block_count(2**31 * 64 * MIB, 64 * MIB) == 2**31
    assert _core._block_count(0, 4096) == 0 and _core._container_size(0, 4096) == 416 + 64 + 46 + 24
    assert _core._block_span(U64_MAX, U64_MAX, 2**31 * 4096, 4096) == (2**31, 2**31)
    assert _core._block_offset(2**31 - 1, 64 * MIB) == 416 + (2**31 - 1) * (64 * MIB + 220)
    assert _core._block_count(True, 4096) == 1  # bool is an int


# ---------------------------------------------------------------------------------------------
# permutation: a literal transcription of the spec text

def ref_table(K: bytes) -> list[int]:
    # "Table T is the identity on 0..63 shuffled by Fisher-Yates: for k = 63 down to 1,
    #  j = K[63-k] mod (k+1), swap T[k] and T[j]."
    T = list(range(64))
    for k in range(63, 0, -1):
        j = K[63 - k] % (k + 1)
        T[k], T[j] = T[j], T[k]
    return T


def ref_chunk_map(K: bytes, n: int):
    # "Let c = floor(n / 64) for a block of n bytes, s = u64 from K[64..71]. If c > 0:
    #  a = s mod c, a = 1 if a = 0, then while gcd(a, c) != 1: a = a + 1 (wrapping c to 1);
    #  b = (s >> 32) mod c."
    c = n // 64
    s = int.from_bytes(K[64:72], "big")
    a = s % c
    if a == 0:
        a = 1
    while math.gcd(a, c) != 1:
        a = a + 1
        if a == c:
            a = 1
    b = (s >> 32) % c
    return a, b, c


def ref_permute(data: bytes, K: bytes) -> bytes:
    # "Output chunk m (bytes 64m..64m+63) takes input chunk q = (a*m + b) mod c, and
    #  out[64m + k] = in[64q + T[k]]. The last n mod 64 bytes stay in place."
    n = len(data)
    out = bytearray(data)
    if n // 64 > 0:
        a, b, c = ref_chunk_map(K, n)
        T = ref_table(K)
        for m in range(c):
            q = (a * m + b) % c
            for k in range(64):
                out[64 * m + k] = data[64 * q + T[k]]
    return bytes(out)


def ref_unpermute(data: bytes, K: bytes) -> bytes:
    # "Unpermute is the inverse map": in[64q + T[k]] = out[64m + k].
    n = len(data)
    out = bytearray(data)
    if n // 64 > 0:
        a, b, c = ref_chunk_map(K, n)
        T = ref_table(K)
        for m in range(c):
            q = (a * m + b) % c
            for k in range(64):
                out[64 * q + T[k]] = data[64 * m + k]
    return bytes(out)


KEYS = [bytes(range(72)), bytes(72), b"\xff" * 72, hashlib.sha512(b"k").digest() + b"\x01" * 8]
KERNELS = ["auto"] + _core._permute_kernels()
SIZES = [0, 1, 63, 64, 65, 127, 128, 129, 384, 4096, 4096 + 63, MIB + 7]


def test_permutation_table():
    for K in KEYS + [os.urandom(72) for _ in range(20)]:
        T = _core._permutation_table(K)
        assert T == ref_table(K) and sorted(T) == list(range(64))
    assert _core._permutation_table(bytes(72)) == ref_table(bytes(72))
    for bad in (b"", bytes(64), bytes(71), bytes(73)):
        raises_exactly(ValueError, _core._permutation_table, bad)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("n", SIZES)
def test_permute_matches_reference(kernel, n):
    keys = KEYS[:2] + [os.urandom(72)] if n <= 4096 + 63 else [os.urandom(72)]  # the reference is slow
    for K in keys:
        data = os.urandom(n)
        buf = bytearray(data)
        _core._permute_with(buf, K, kernel)
        assert bytes(buf) == ref_permute(data, K)
        if n >= 128:
            assert buf != data  # bytes actually moved
        assert buf[n - n % 64:] == data[n - n % 64:]  # the tail stays in place
        if n <= 4096 + 63:
            assert ref_unpermute(bytes(buf), K) == data  # the reference is an inverse pair
        _core._permute_with(buf, K, kernel, True)
        assert bytes(buf) == data


@pytest.mark.parametrize("n", SIZES)
def test_permute_round_trip_public(n):
    K = os.urandom(72)
    data = os.urandom(n)
    buf = bytearray(data)
    _core.permute(buf, K)
    assert bytes(buf) == ref_permute(data, K)
    _core.unpermute(buf, K)
    assert buf == data
    # unpermute matches the reference inverse too
    buf = bytearray(data)
    _core.unpermute(buf, K)
    if n <= 4096 + 63:
        assert bytes(buf) == ref_unpermute(data, K)


def test_permute_chunk_map_edge_cases():
    # c = 6, s mod 6 = 2: gcd steps 2 -> 3 -> 4 -> 5; s mod c = 0 -> a = 1; c = 1.
    for s, n in [(2, 384), (6, 384), (0, 64), (2**64 - 1, 64 * 7), (3 << 32 | 4, 64 * 12)]:
        K = bytes(range(64)) + s.to_bytes(8, "big")
        data = os.urandom(n + 5)
        buf = bytearray(data)
        _core.permute(buf, K)
        assert bytes(buf) == ref_permute(data, K)
    assert ref_chunk_map(bytes(64) + (2).to_bytes(8, "big"), 384)[0] == 5


def test_permute_known_answer():
    """Pinned output, so a change to both the reference and the core cannot go unnoticed."""
    K = bytes(range(72))
    buf = bytearray(bytes(range(256)) * 4 + b"tail!!!")
    _core.permute(buf, K)
    assert buf[:16].hex() == KAT_FIRST_16
    assert hashlib.sha256(buf).hexdigest() == KAT_SHA256


KAT_FIRST_16 = "e1fce3e9faeee8f0eaf4f6e7e6e4ece0"
KAT_SHA256 = "fdb075b3b1a7fbcd4a4d95c31830110a3c5d3aeffdc4831daaf6302d93b794ed"


def test_permute_buffers(tmp_path):
    K = os.urandom(72)
    data = os.urandom(4096)
    mv = memoryview(bytearray(data))
    _core.permute(mv[64:], K)  # a writable slice of a larger buffer
    assert bytes(mv[:64]) == data[:64] and bytes(mv[64:]) == ref_permute(data[64:], K)
    path = tmp_path / "m"
    path.write_bytes(data)
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as mm:
        _core.permute(mm, memoryview(K))
        assert mm[:] == ref_permute(data, K)
        _core.unpermute(mm, bytearray(K))
        assert mm[:] == data
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        raises_exactly(TypeError, _core.permute, mm, K)


def test_permute_misuse():
    raises_exactly(TypeError, _core.permute, bytes(128), bytes(72))
    raises_exactly(TypeError, _core.unpermute, memoryview(bytes(128)), bytes(72))
    raises_exactly(TypeError, _core.permute, "text", bytes(72))
    raises_exactly(TypeError, _core.permute, bytearray(128), None)
    for bad in (bytes(71), bytes(73), b""):
        raises_exactly(ValueError, _core.permute, bytearray(128), bad)
        raises_exactly(ValueError, _core.unpermute, bytearray(128), bad)
    raises_exactly(ValueError, _core._permute_with, bytearray(128), bytes(72), "nope")
    nc = memoryview(bytearray(256))[::2]  # not contiguous
    with pytest.raises(BufferError):
        _core.permute(nc, bytes(72))


def test_permute_releases_the_gil():
    """While one thread permutes big buffers, another keeps running Python code."""
    buf = bytearray(64 * MIB)
    K = os.urandom(72)

    def work():
        for _ in range(4):
            _core._permute_with(buf, K, "portable")

    python_keeps_running(work)


