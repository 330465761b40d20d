"""The native core (qeltrix._core) against spec/qeltrix_v6.ksy: constants, the header, the block
prefix and the block metadata, each encoded and decoded against the spec's layout (built with
``struct`` in tests/corelayout.py). Bad inputs assert the exact exception class."""

from __future__ import annotations

import mmap

import pytest

from qeltrix import _core
from qeltrix.errors import DamagedError, NotAContainerError, TruncatedError, UnsupportedVersionError
from corelayout import (
    MIB, U64_MAX, raises_exactly, header_bytes, make_header, HEADER_FIELDS, fields,
    prefix_bytes, META_FIELDS, make_meta, meta_bytes,
)


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
