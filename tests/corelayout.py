"""The structures of spec/qeltrix_v6.ksy (format 6.0) built independently with ``struct`` from
the spec's layout, for the tests of the native core's codecs (tests/test_core_*.py): the encoders
are checked byte for byte against them, the decoders fed them."""

from __future__ import annotations

import hashlib
import struct

import pytest

from qeltrix import _core

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


# ---------------------------------------------------------------------------------------------
# block prefix

def prefix_bytes(magic=b"QBLK", index=7, meta=164, payload=4096 + 16, flags=0) -> bytes:
    return struct.pack(">4sQIQI", magic, index, meta, payload, flags)


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


# ---------------------------------------------------------------------------------------------
# trailer

def trailer_bytes(ofs, size, magic=b"QLTX-END") -> bytes:
    return struct.pack(">QQ8s", ofs, size, magic)


# ---------------------------------------------------------------------------------------------
# seek arithmetic

def brute_span(sizes, offset, length):
    """Blocks holding at least one byte of [offset, offset + length), by enumeration."""
    end = min(offset + length, sum(sizes))
    hits, start = [], 0
    for i, n in enumerate(sizes):
        if max(offset, start) < min(end, start + n):
            hits.append(i)
        start += n
    return (hits[0], hits[-1] + 1) if hits else (len(sizes), len(sizes))
