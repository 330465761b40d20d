"""The native 6.1 codecs (qeltrix._core, cpp/format61.hpp) against spec/qeltrix_v6.ksy.

Every structure is also built here with ``struct`` from the spec's layout, so the encoders are
checked byte for byte; every field out of range and every way the index can fail to tile the
container is rejected with the exact exception class; sizes read from the input are checked
before anything is allocated from them; and the one-pass stream decoder reads synthetic 6.1
streams (built with these encoders) whole, a byte at a time and split anywhere.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qeltrix import _core
from qeltrix.errors import DamagedError, NotAContainerError, TruncatedError, UnsupportedVersionError
from streams import decode_stream

MIB = 1 << 20
U64_MAX = 2**64 - 1
BS = 4096


def raises_exactly(cls, fn, *args, match: str | None = None, **kw):
    """fn(*args) raises exactly cls (TruncatedError is a DamagedError: pytest.raises would pass)."""
    with pytest.raises(Exception) as info:
        fn(*args, **kw)
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    if match is not None:
        assert match in str(info.value), str(info.value)
    return info.value


def test_constants():
    c = _core
    assert (c.VERSION_6_0, c.VERSION_6_1, c.HEADER61_SIZE, c.HEADER61_MAC_OFFSET) == (6, 0x0601, 256, 224)
    assert (c.KEYRING_HEAD_SIZE, c.SLOT_SIZE, c.SLOT_BODY_MAX) == (24, 128, 124)
    assert (c.MIN_KEYRING_SLOTS, c.MAX_KEYRING_SLOTS) == (1, 1024)
    assert (c.PAGE_HEAD_SIZE, c.TOP_ENTRY_SIZE, c.MIN_PAGE_SHIFT, c.MAX_PAGE_SHIFT) == (16, 48, 6, 16)
    assert (c.HASH_SHA256, c.HASH_BLAKE3) == (1, 2)
    assert (c.SLOT_EMPTY, c.SLOT_RAW, c.SLOT_ARGON2ID, c.SLOT_SCRYPT, c.SLOT_X25519) == (0, 1, 2, 3, 4)
    assert c.SLOT_BODY_SIZES == {1: 48, 2: 76, 3: 76, 4: 96}


# ---------------------------------------------------------------------------------------------
# header_version

def test_header_version():
    assert _core.header_version(b"QLTX\x00\x06") == 6
    assert _core.header_version(b"QLTX\x06\x01" + bytes(300)) == 0x0601
    for v in (0, 5, 7, 0x0600, 0x0602, 0x0106, 0xFFFF):
        raises_exactly(UnsupportedVersionError, _core.header_version, b"QLTX" + struct.pack(">H", v))
    for k in range(6):
        raises_exactly(TruncatedError, _core.header_version, b"QLTX\x06\x01"[:k])
    for bad in (b"X", b"QLTY", b"qltx\x06\x01", b"\x00" * 6):
        raises_exactly(NotAContainerError, _core.header_version, bad)


# ---------------------------------------------------------------------------------------------
# header

HEADER_FMT = ">4sHBBBBHI32sII32sQQQQ104s32s"
assert struct.calcsize(HEADER_FMT) == 256


def footer_size_for(n: int, shift: int, info: int = 50) -> int:
    return 64 + 48 * -(-n // (1 << shift)) + info


def footer_offset_for(n: int, plain: int, shift: int, slots: int) -> int:
    pages = -(-n // (1 << shift))
    return 256 + 2 * (56 + 128 * slots) + 276 * n + plain + 16 * pages


def header_bytes(*, magic=b"QLTX", version=0x0601, cipher=1, index_hash=2, block_hash=1, shift=10,
                 flags=1, block_size=MIB, container_id=bytes(range(32)), slots=3, reserved_a=0,
                 commitment=b"C" * 32, num_blocks=3, plaintext_size=2 * MIB + 5, footer_offset=None,
                 footer_size=None, reserved=bytes(104), mac=b"M" * 32) -> bytes:
    """A header built from the spec's layout (independent of the encoder)."""
    if footer_offset is None:
        footer_offset = footer_offset_for(num_blocks, plaintext_size, shift, slots)
    if footer_size is None:
        footer_size = footer_size_for(num_blocks, shift)
    return struct.pack(HEADER_FMT, magic, version, cipher, index_hash, block_hash, shift, flags,
                       block_size, container_id, slots, reserved_a, commitment, num_blocks,
                       plaintext_size, footer_offset, footer_size, reserved, mac)


HEADER_FIELDS = ["cipher_id", "index_hash", "block_hash", "page_shift", "flags", "block_size",
                 "container_id", "keyring_slots", "key_commitment", "num_blocks", "plaintext_size",
                 "footer_offset", "footer_size", "header_mac"]


def make_header(**kw) -> _core.Header61:
    h = _core.Header61()
    values = dict(cipher_id=1, index_hash=2, block_hash=1, page_shift=10, flags=1, block_size=MIB,
                  container_id=bytes(range(32)), keyring_slots=3, key_commitment=b"C" * 32,
                  num_blocks=3, plaintext_size=2 * MIB + 5,
                  footer_offset=footer_offset_for(3, 2 * MIB + 5, 10, 3),
                  footer_size=footer_size_for(3, 10), header_mac=b"M" * 32)
    values.update(kw)
    for k, v in values.items():
        setattr(h, k, v)
    return h


def fields(obj, names):
    return {n: getattr(obj, n) for n in names}


def test_header_default_is_empty():
    h = _core.Header61()
    assert fields(h, HEADER_FIELDS) == dict(
        cipher_id=0, index_hash=0, block_hash=0, page_shift=0, flags=0, block_size=0,
        container_id=b"", keyring_slots=0, key_commitment=b"", num_blocks=0, plaintext_size=0,
        footer_offset=0, footer_size=0, header_mac=b"")
    assert h.streamed and not h.permuted
    raises_exactly(ValueError, _core.encode_header61, h)


def test_header_layout_and_round_trip():
    h = make_header()
    raw = _core.encode_header61(h)
    assert raw == header_bytes()
    d = _core.decode_header61(raw)
    assert fields(d, HEADER_FIELDS) == fields(h, HEADER_FIELDS)
    assert d.permuted and not d.streamed
    assert d.keyring_copy_size == 56 + 128 * 3
    assert d.data_offset == 256 + 2 * (56 + 128 * 3)
    assert d.page_entries == 1024
    assert _core.encode_header61(d) == raw
    assert _core.decode_header61(raw + b"extra").header_mac == b"M" * 32  # reads the first 256
    assert _core.decode_header61(bytearray(raw)).block_size == MIB
    assert _core.decode_header61(memoryview(raw)).block_size == MIB


def test_header_streamed():
    raw = header_bytes(num_blocks=0, plaintext_size=0, footer_offset=0, footer_size=0, flags=0)
    h = _core.decode_header61(raw)
    assert h.streamed and not h.permuted
    assert _core.encode_header61(h) == raw


@given(cipher=st.sampled_from([1, 2]), ih=st.sampled_from([1, 2]), bh=st.sampled_from([1, 2]),
       shift=st.integers(6, 16), flags=st.sampled_from([0, 1]), bs=st.integers(4096, 64 * MIB),
       slots=st.integers(1, 1024), n=st.integers(0, 2**31), cid=st.binary(min_size=32, max_size=32),
       info=st.integers(46, 1070), data=st.data())
def test_header_round_trip_any(cipher, ih, bh, shift, flags, bs, slots, n, cid, info, data):
    plain = data.draw(st.integers(max(0, n - 1), min(n * bs, 2**63 - 1))) if n else 0
    kw = dict(cipher_id=cipher, index_hash=ih, block_hash=bh, page_shift=shift, flags=flags,
              block_size=bs, keyring_slots=slots, container_id=cid, num_blocks=n, plaintext_size=plain,
              footer_offset=footer_offset_for(n, plain, shift, slots) if n else 0,
              footer_size=footer_size_for(n, shift, info) if n else 0)
    h = make_header(**kw)
    raw = _core.encode_header61(h)
    assert raw == header_bytes(cipher=cipher, index_hash=ih, block_hash=bh, shift=shift, flags=flags,
                               block_size=bs, slots=slots, container_id=cid, num_blocks=n,
                               plaintext_size=plain, footer_offset=kw["footer_offset"],
                               footer_size=kw["footer_size"])
    assert fields(_core.decode_header61(raw), HEADER_FIELDS) == fields(h, HEADER_FIELDS)


BAD_HEADER_FIELDS = [
    dict(cipher=0), dict(cipher=3), dict(cipher=255),
    dict(index_hash=0), dict(index_hash=3), dict(block_hash=0), dict(block_hash=3),
    dict(shift=0), dict(shift=5), dict(shift=17), dict(shift=255),
    dict(flags=2), dict(flags=0x8000), dict(flags=0xFFFF),
    dict(block_size=0), dict(block_size=4095), dict(block_size=64 * MIB + 1), dict(block_size=2**32 - 1),
    dict(slots=0), dict(slots=1025), dict(slots=2**32 - 1),
    dict(reserved_a=1), dict(reserved_a=2**31),
    # totals
    dict(num_blocks=2**31 + 1, plaintext_size=0, footer_offset=1, footer_size=1),
    dict(num_blocks=3, plaintext_size=3 * MIB + 1),  # more than 3 blocks hold
    dict(num_blocks=3, plaintext_size=1),  # fewer than one byte per non-final block
    dict(num_blocks=1, plaintext_size=2**63),
    dict(footer_offset=0), dict(footer_size=0), dict(footer_size=footer_size_for(3, 10, 45)),
    dict(footer_size=footer_size_for(3, 10, 1071)),
    dict(footer_offset=footer_offset_for(3, 2 * MIB + 5, 10, 3) + 1),
    dict(footer_offset=footer_offset_for(3, 2 * MIB + 5, 10, 3) - 16),  # no page
    dict(footer_offset=footer_offset_for(3, 2 * MIB + 5, 10, 2)),  # another keyring size
    dict(num_blocks=0, plaintext_size=0, footer_offset=0, footer_size=1),  # partly patched
    dict(footer_offset=U64_MAX, footer_size=U64_MAX),
]


@pytest.mark.parametrize("kw", BAD_HEADER_FIELDS)
def test_header_field_out_of_range(kw):
    raises_exactly(DamagedError, _core.decode_header61, header_bytes(**kw))


@pytest.mark.parametrize("at", [120, 121, 150, 200, 223])
def test_header_reserved_bytes(at):
    raw = bytearray(header_bytes())
    raw[at] = 1
    raises_exactly(DamagedError, _core.decode_header61, bytes(raw), match="reserved")


@pytest.mark.parametrize("field,value", [
    ("cipher_id", 3), ("index_hash", 0), ("block_hash", 3), ("page_shift", 5), ("page_shift", 17),
    ("flags", 2), ("block_size", 4095), ("keyring_slots", 0), ("keyring_slots", 1025),
    ("container_id", b"x" * 31), ("key_commitment", b""), ("header_mac", b"m" * 33),
    ("num_blocks", 2**31 + 1), ("footer_offset", 1), ("footer_size", 7)])
def test_header_encoder_rejects(field, value):
    raises_exactly(ValueError, _core.encode_header61, make_header(**{field: value}))


def test_header_int_fields_fit():
    h = _core.Header61()
    for name, bits in [("cipher_id", 8), ("index_hash", 8), ("block_hash", 8), ("page_shift", 8),
                       ("flags", 16), ("block_size", 32), ("keyring_slots", 32), ("num_blocks", 64)]:
        setattr(h, name, 2**bits - 1)
        assert getattr(h, name) == 2**bits - 1
        raises_exactly(ValueError, setattr, h, name, 2**bits)
        raises_exactly(ValueError, setattr, h, name, -1)
    h.page_shift = 200  # unchecked object: the property is still a number
    assert h.page_entries == 1 << 200


def test_header_version_and_magic():
    raises_exactly(UnsupportedVersionError, _core.decode_header61, header_bytes(version=6))
    raises_exactly(UnsupportedVersionError, _core.decode_header61, header_bytes(version=0x0602))
    raises_exactly(NotAContainerError, _core.decode_header61, header_bytes(magic=b"QLTZ"))
    raises_exactly(NotAContainerError, _core.decode_header61, b"QX")
    # a 6.0 header is refused by the 6.1 decoder and the other way round
    raises_exactly(UnsupportedVersionError, _core.decode_header, header_bytes())


def test_header_truncated_at_every_length():
    raw = header_bytes()
    for k in range(256):
        raises_exactly(TruncatedError, _core.decode_header61, raw[:k])
        raises_exactly(TruncatedError, _core.header61_mac_input, raw[:k])


def test_header_mac_input():
    raw = header_bytes()
    want = raw[:88] + bytes(32) + raw[120:224]
    assert _core.header61_mac_input(raw) == want
    assert len(want) == 224
    streamed = header_bytes(num_blocks=0, plaintext_size=0, footer_offset=0, footer_size=0)
    assert _core.header61_mac_input(streamed) == want  # patching does not change the MAC
    raises_exactly(UnsupportedVersionError, _core.header61_mac_input, header_bytes(version=6))
    raises_exactly(NotAContainerError, _core.header61_mac_input, b"NOPE" + raw[4:])


# ---------------------------------------------------------------------------------------------
# keyring copies

def slot_bytes(slot_type: int, body: bytes, *, reserved=0, len_body=None, padding=None) -> bytes:
    n = len(body) if len_body is None else len_body
    pad = bytes(124 - len(body)) if padding is None else padding
    return struct.pack(">BBH", slot_type, reserved, n) + body + pad


def keyring_bytes(slots: list[bytes], n: int, *, generation=7, magic=b"QKEY", num=None, reserved=0,
                  mac=b"K" * 32) -> bytes:
    slots = slots + [bytes(128)] * (n - len(slots))
    return struct.pack(">4sIQQ", magic, n if num is None else num, generation, reserved) + b"".join(slots) + mac


ALL_TYPES = [(1, os.urandom(48)), (2, os.urandom(76)), (3, os.urandom(76)), (4, os.urandom(96)),
             (5, b""), (9, os.urandom(1)), (200, os.urandom(124)), (255, os.urandom(60))]


def test_keyring_every_slot_type():
    raw = _core.encode_keyring_copy(10, 42, ALL_TYPES, b"K" * 32)
    assert len(raw) == 56 + 128 * 10
    assert raw == keyring_bytes([slot_bytes(t, b) for t, b in ALL_TYPES], 10, generation=42)
    gen, slots, mac = _core.decode_keyring_copy(raw, 10)
    assert gen == 42 and mac == b"K" * 32
    assert slots == ALL_TYPES + [(0, b"")] * 2
    # empty slots given explicitly encode as padding does
    assert _core.encode_keyring_copy(10, 42, ALL_TYPES + [(0, b"")], b"K" * 32) == raw


@settings(max_examples=60)
@given(st.integers(1, 40), st.integers(0, U64_MAX), st.data())
def test_keyring_round_trip_any(n, gen, data):
    kinds = st.one_of(st.sampled_from([1, 2, 3, 4]).flatmap(
        lambda t: st.tuples(st.just(t), st.binary(min_size=_core.SLOT_BODY_SIZES[t], max_size=_core.SLOT_BODY_SIZES[t]))),
        st.tuples(st.integers(5, 255), st.binary(max_size=124)), st.just((0, b"")))
    slots = data.draw(st.lists(kinds, max_size=n))
    mac = data.draw(st.binary(min_size=32, max_size=32))
    raw = _core.encode_keyring_copy(n, gen, slots, mac)
    got_gen, got, got_mac = _core.decode_keyring_copy(raw, n)
    assert (got_gen, got_mac) == (gen, mac)
    assert got == slots + [(0, b"")] * (n - len(slots))


@pytest.mark.parametrize("slot,what", [
    (slot_bytes(1, bytes(48), reserved=1), "reserved"),
    (slot_bytes(0, b"", reserved=1), "reserved"),
    (slot_bytes(1, bytes(47)), "48"),
    (slot_bytes(1, bytes(49)), "48"),
    (slot_bytes(2, bytes(48)), "76"),
    (slot_bytes(3, bytes(80)), "76"),
    (slot_bytes(4, bytes(76)), "96"),
    (slot_bytes(1, bytes(48), padding=b"\x01" + bytes(75)), "padding"),
    (slot_bytes(7, b"abc", padding=bytes(120) + b"\x01"), "padding"),
    (slot_bytes(0, b"", len_body=1), "empty"),
    (slot_bytes(0, b"", padding=b"\x01" + bytes(123)), "padding"),
    (slot_bytes(9, b"", len_body=125), "124"),
    (slot_bytes(9, b"", len_body=65535), "124"),
])
def test_keyring_malformed_slot(slot, what):
    for place in (0, 2):
        slots = [slot_bytes(1, bytes(48))] * 3
        slots[place] = slot
        raw = keyring_bytes(slots, 3)
        e = raises_exactly(DamagedError, _core.decode_keyring_copy, raw, 3, match=f"slot {place}")
        assert what in str(e)


def test_keyring_malformed_copy():
    good = keyring_bytes([], 2)
    assert _core.decode_keyring_copy(good, 2)[1] == [(0, b"")] * 2
    raises_exactly(DamagedError, _core.decode_keyring_copy, keyring_bytes([], 2, magic=b"QKEZ"), 2, match="magic")
    raises_exactly(DamagedError, _core.decode_keyring_copy, keyring_bytes([], 2, num=3), 2)
    raises_exactly(DamagedError, _core.decode_keyring_copy, keyring_bytes([], 2, num=2**32 - 1), 2)
    raises_exactly(DamagedError, _core.decode_keyring_copy, keyring_bytes([], 2, reserved=1), 2, match="reserved")
    raises_exactly(DamagedError, _core.decode_keyring_copy, good + b"\x00", 2)
    for k in range(len(good)):
        raises_exactly(TruncatedError, _core.decode_keyring_copy, good[:k], 2)
    # the copy of another slot count: wrong length for this one
    raises_exactly(TruncatedError, _core.decode_keyring_copy, good, 3)
    raises_exactly(DamagedError, _core.decode_keyring_copy, good, 1)
    for bad in (0, 1025, 2**32, -1):
        raises_exactly(ValueError, _core.decode_keyring_copy, good, bad)


def test_keyring_huge_slot_count_is_an_argument_error():
    # num_slots comes from the (validated) header: above 1024 is refused before any allocation
    raises_exactly(ValueError, _core.decode_keyring_copy, b"QKEY" + b"\xff" * 100, 2**32 - 1)


@pytest.mark.parametrize("slots", [
    [(1, bytes(47))], [(2, bytes(80))], [(4, bytes(48))], [(0, b"x")], [(5, bytes(125))],
    [(1, bytes(48))] * 3,  # more than num_slots
])
def test_keyring_encoder_rejects(slots):
    raises_exactly(ValueError, _core.encode_keyring_copy, 2, 0, slots, b"K" * 32)


def test_keyring_encoder_arguments():
    raises_exactly(ValueError, _core.encode_keyring_copy, 0, 0, [], b"K" * 32)
    raises_exactly(ValueError, _core.encode_keyring_copy, 1025, 0, [], b"K" * 32)
    raises_exactly(ValueError, _core.encode_keyring_copy, 1, 0, [], b"K" * 31)
    raises_exactly(ValueError, _core.encode_keyring_copy, 1, 2**64, [], b"K" * 32)
    raises_exactly(ValueError, _core.encode_keyring_copy, 1, 0, [(256, b"")], b"K" * 32)
    raises_exactly(TypeError, _core.encode_keyring_copy, 1, 0, [1], b"K" * 32)
    raises_exactly(TypeError, _core.encode_keyring_copy, 1, 0, [(1, "text")], b"K" * 32)
    raw = _core.encode_keyring_copy(1024, 1, [], bytes(32))
    assert len(raw) == 56 + 128 * 1024
    assert _core.decode_keyring_copy(raw, 1024)[1] == [(0, b"")] * 1024


# ---------------------------------------------------------------------------------------------
# index pages

def h32(i: int) -> bytes:
    return hashlib.sha256(b"%d" % i).digest()


def entries_for(sizes: list[int], plain_offset=0, block_offset=880, first=0) -> list[tuple]:
    out = []
    for j, n in enumerate(sizes):
        out.append((plain_offset, block_offset, n, n + 220, h32(first + j)))
        plain_offset += n
        block_offset += n + 220
    return out


def page_bytes(first: int, entries: list[tuple], *, magic=b"QPAG", count=None) -> bytes:
    head = struct.pack(">4sIQ", magic, len(entries) if count is None else count, first)
    return head + b"".join(struct.pack(">QQII32s", *e) for e in entries)


def test_page_layout_and_round_trip():
    es = entries_for([BS, BS, 10], plain_offset=64 * BS, block_offset=10_000, first=64)
    raw = _core.encode_page(64, es)
    assert raw == page_bytes(64, es)
    p = _core.decode_page(raw, 64, 3, BS, 64 * BS, 10_000, True)
    assert len(p) == 3 and p.first_block == 64
    assert (p.plain_offset, p.block_offset) == (64 * BS, 10_000)
    assert p.plain_end == 66 * BS + 10 and p.block_end == 10_000 + 2 * BS + 10 + 660
    for j, e in enumerate(es):
        got = p[j]
        assert (got.plain_offset, got.block_offset, got.plain_size, got.block_size, got.hash) == e
    assert p[-1].plain_size == 10
    raises_exactly(IndexError, p.__getitem__, 3)
    raises_exactly(IndexError, p.__getitem__, -4)
    assert p.locate(64 * BS) == 0 and p.locate(65 * BS - 1) == 0 and p.locate(65 * BS) == 1
    assert p.locate(66 * BS + 9) == 2
    raises_exactly(IndexError, p.locate, 66 * BS + 10)
    raises_exactly(IndexError, p.locate, 64 * BS - 1)
    raises_exactly(ValueError, p.locate, -1)
    # Entry objects are accepted too
    assert _core.encode_page(64, [p[j] for j in range(3)]) == raw


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, BS), min_size=1, max_size=300), st.booleans(), st.integers(0, 2**31 - 300),
       st.integers(0, 2**62), st.integers(0, 2**40))
def test_page_round_trip_any(sizes, empty_last, first, block_offset, plain_offset):
    if empty_last:
        sizes[-1] = 0
    es = entries_for(sizes, plain_offset, block_offset, first)
    raw = _core.encode_page(first, es)
    assert raw == page_bytes(first, es)
    p = _core.decode_page(raw, first, len(es), BS, plain_offset, block_offset, True)
    assert [tuple(getattr(p[j], f) for f in ("plain_offset", "block_offset", "plain_size", "block_size", "hash"))
            for j in range(len(p))] == es
    if empty_last:  # only the stream's last page may end with an empty block
        raises_exactly(DamagedError, _core.decode_page, raw, first, len(es), BS, plain_offset, block_offset, False)
    else:
        assert len(_core.decode_page(raw, first, len(es), BS, plain_offset, block_offset, False)) == len(es)


def _damage_entry(es, j, field, value):
    es = [list(e) for e in es]
    es[j][field] = value
    return [tuple(e) for e in es]


def test_page_wrong_in_each_way():
    es = entries_for([BS, 100, BS, 7], plain_offset=0, block_offset=880)
    good = page_bytes(0, es)
    args = (0, 4, BS, 0, 880, True)
    assert len(_core.decode_page(good, *args)) == 4
    cases = [
        (page_bytes(0, es, magic=b"QPAX"), "magic"),
        (page_bytes(0, es, count=3), "lists 3"),
        (page_bytes(0, es, count=2**32 - 1), "lists"),
        (page_bytes(64, es), "starts at block 64"),
        (page_bytes(0, _damage_entry(es, 0, 0, 1)), "entry 0"),       # plaintext offset not 0
        (page_bytes(0, _damage_entry(es, 0, 1, 881)), "entry 0"),     # block offset elsewhere
        (page_bytes(0, _damage_entry(es, 2, 0, es[2][0] + 1)), "entry 2"),
        (page_bytes(0, _damage_entry(es, 2, 1, es[2][1] - 1)), "entry 2"),
        (page_bytes(0, _damage_entry(es, 1, 3, 100 + 221)), "stored size"),
        (page_bytes(0, _damage_entry(es, 1, 3, 0)), "stored size"),
        (page_bytes(0, _damage_entry(_damage_entry(es, 3, 2, BS + 1), 3, 3, BS + 221)), "above the block size"),
        (page_bytes(0, entries_for([BS, 0, BS, 7])), "empty block"),
    ]
    for raw, what in cases:
        raises_exactly(DamagedError, _core.decode_page, raw, *args, match=what)
    e = raises_exactly(DamagedError, _core.decode_page, page_bytes(0, _damage_entry(es, 2, 0, 5)), *args)
    assert e.block == 2  # the error names the block
    # the arguments the caller derives from the top table must match too
    raises_exactly(DamagedError, _core.decode_page, good, 0, 4, BS, 1, 880, True)
    raises_exactly(DamagedError, _core.decode_page, good, 0, 4, BS, 0, 881, True)
    raises_exactly(DamagedError, _core.decode_page, good, 64, 4, BS, 0, 880, True)
    raises_exactly(TruncatedError, _core.decode_page, good, 0, 5, BS, 0, 880, True)
    raises_exactly(DamagedError, _core.decode_page, good, 0, 3, BS, 0, 880, True)
    raises_exactly(DamagedError, _core.decode_page, good + b"\x00", *args)
    for k in range(len(good)):
        raises_exactly(TruncatedError, _core.decode_page, good[:k], *args)


def test_page_arguments():
    good = page_bytes(0, entries_for([10]))
    for bad in [(0, 0, BS, 0, 880, True), (0, 65537, BS, 0, 880, True), (2**31, 1, BS, 0, 880, True),
                (0, 1, 4095, 0, 880, True), (0, 1, 64 * MIB + 1, 0, 880, True), (0, 1, BS, 2**63, 880, True),
                (0, 1, BS, 0, 2**63, True), (-1, 1, BS, 0, 880, True)]:
        raises_exactly(ValueError, _core.decode_page, good, *bad)


def test_page_huge_claims_are_checked_before_allocating():
    # a page claiming 2^32 - 1 entries is 16 bytes long: the length is checked against the
    # caller's count (at most 65536) before anything is read or allocated
    head = struct.pack(">4sIQ", b"QPAG", 2**32 - 1, 0)
    raises_exactly(TruncatedError, _core.decode_page, head, 0, 65536, BS, 0, 880, True)
    big = _core.encode_page(0, entries_for([BS] * 65536))
    assert len(_core.decode_page(big, 0, 65536, BS, 0, 880, False)) == 65536


@pytest.mark.parametrize("es,first", [
    ([], 0), (entries_for([1] * 65537), 0), (entries_for([0, 5]), 0),
    (entries_for([5]), 2**31), (entries_for([5, 5]), 2**31 - 1),
    ([(0, 880, 5, 226, h32(0))], 0), ([(0, 880, 64 * MIB + 1, 64 * MIB + 221, h32(0))], 0),
    (entries_for([5, 5])[:1] + [(6, 1105, 5, 225, h32(1))], 0),
    (entries_for([5, 5])[:1] + [(5, 1106, 5, 225, h32(1))], 0),
    ([(2**63 - 1, 880, 5, 225, h32(0))], 0),
])
def test_page_encoder_rejects(es, first):
    raises_exactly(ValueError, _core.encode_page, first, es)


def test_page_encoder_types():
    raises_exactly(ValueError, _core.encode_page, 0, [(0, 880, 5, 225, b"short")])
    raises_exactly(TypeError, _core.encode_page, 0, [(0, 880, 5, 225, "text")])
    raises_exactly(ValueError, _core.encode_page, 0, [(0, 880, 5)])


# ---------------------------------------------------------------------------------------------
# footer 6.1 and the top table

class Layout:
    """Offsets of a whole 6.1 container, computed the spec's way (independent of the decoder)."""

    def __init__(self, sizes: list[int], shift: int = 6, slots: int = 1, info: bytes = b"I" * 50):
        self.sizes, self.shift, self.slots, self.info = sizes, shift, slots, info
        E = 1 << shift
        self.E = E
        self.data_offset = 256 + 2 * (56 + 128 * slots)
        self.pages = []  # (first_block, entries, ofs_page, page bytes)
        off, plain = self.data_offset, 0
        for first in range(0, len(sizes), E):
            es = entries_for(sizes[first:first + E], plain, off, first)
            raw = page_bytes(first, es)
            off = es[-1][1] + es[-1][3]
            plain = es[-1][0] + es[-1][2]
            self.pages.append((first, es, off, raw))
            off += len(raw)
        self.footer_offset = off
        self.plaintext_size = plain
        self.top = [(ofs, es[0][0], hashlib.sha256(raw).digest()) for _, es, ofs, raw in self.pages]

    def footer(self, *, num_blocks=None, plaintext_size=None, top=None, num_pages=None, mac=b"F" * 32,
               info_size=None) -> bytes:
        top = self.top if top is None else top
        head = struct.pack(">8sQQII32s", b"QLTXFOOT", len(self.sizes) if num_blocks is None else num_blocks,
                           self.plaintext_size if plaintext_size is None else plaintext_size,
                           len(self.info) if info_size is None else info_size,
                           len(top) if num_pages is None else num_pages, mac)
        return head + b"".join(struct.pack(">QQ32s", *t) for t in top) + self.info

    def decode(self, raw=None, **kw):
        args = dict(page_shift=self.shift, block_size=BS, data_offset=self.data_offset,
                    footer_offset=self.footer_offset)
        args.update(kw)
        return _core.decode_footer61(self.footer() if raw is None else raw, **args)


def test_footer_layout_and_round_trip():
    lay = Layout([BS] * 130 + [17], shift=6, slots=2)
    raw = _core.encode_footer61(131, lay.plaintext_size, lay.top, lay.info, b"F" * 32)
    assert raw == lay.footer()
    assert len(raw) == 64 + 48 * 3 + 50
    assert _core.decode_footer61_head(raw) == (131, lay.plaintext_size, 50, 3, b"F" * 32)
    t = lay.decode()
    assert (t.num_blocks, t.plaintext_size, t.info_size, t.mac) == (131, 130 * BS + 17, 50, b"F" * 32)
    assert (t.num_pages, len(t), t.page_shift, t.page_entries) == (3, 3, 6, 64)
    for k, (first, es, ofs, page) in enumerate(lay.pages):
        r = t.page(k)
        assert (r.index, r.ofs_page, r.len_page, r.ofs_plaintext) == (k, ofs, len(page), es[0][0])
        assert (r.first_block, r.num_entries, r.block_offset, r.last) == (first, len(es), es[0][1], k == 2)
        assert r.plain_end == es[-1][0] + es[-1][2]
        assert r.hash == hashlib.sha256(page).digest()
        # the PageRef is what decode_page needs, and the page decodes with it
        p = _core.decode_page(page, r.first_block, r.num_entries, BS, r.ofs_plaintext, r.block_offset, r.last)
        assert p.block_end == r.ofs_page and p.plain_end == r.plain_end
    assert t.page(-1).index == 2
    raises_exactly(IndexError, t.page, 3)
    assert t.locate(0) == 0 and t.locate(64 * BS - 1) == 0 and t.locate(64 * BS) == 1
    assert t.locate(130 * BS + 16) == 2
    raises_exactly(IndexError, t.locate, 130 * BS + 17)
    raises_exactly(IndexError, t.locate, U64_MAX)
    raises_exactly(ValueError, t.locate, -1)
    assert t.span(0, 1) == (0, 1) and t.span(64 * BS - 1, 2) == (0, 2) and t.span(0, U64_MAX) == (0, 3)
    assert t.span(130 * BS + 17, 5) == (3, 3) and t.span(5, 0) == (3, 3)
    assert [t.block_page(i) for i in (0, 63, 64, 127, 128, 130)] == [0, 0, 1, 1, 2, 2]
    raises_exactly(IndexError, t.block_page, 131)


def test_footer_uneven_blocks_and_an_empty_final_block():
    sizes = [BS, 1, 77, BS - 1] * 16 + [0]  # 65 blocks: the last page holds one empty block
    lay = Layout(sizes, shift=6)
    t = lay.decode()
    assert t.num_pages == 2 and t.page(1).num_entries == 1
    assert t.page(1).ofs_plaintext == t.plaintext_size == t.page(1).plain_end
    assert t.locate(t.plaintext_size - 1) == 0
    p = _core.decode_page(lay.pages[1][3], 64, 1, BS, t.plaintext_size, t.page(1).block_offset, True)
    assert p[0].plain_size == 0
    one_empty = Layout([0], shift=10)  # readers accept one empty final block
    assert one_empty.decode().num_pages == 1 and one_empty.decode().plaintext_size == 0


def test_footer_no_blocks():
    lay = Layout([], shift=10, slots=4)
    assert lay.footer_offset == lay.data_offset
    raw = _core.encode_footer61(0, 0, [], lay.info, b"F" * 32)
    assert raw == lay.footer()
    t = lay.decode()
    assert (t.num_blocks, t.num_pages, t.plaintext_size) == (0, 0, 0)
    assert t.span(0, 10) == (0, 0)
    raises_exactly(IndexError, t.locate, 0)
    raises_exactly(IndexError, t.block_page, 0)
    raises_exactly(DamagedError, lay.decode, footer_offset=lay.data_offset + 1)
    # pages without blocks, blocks without pages
    raises_exactly(DamagedError, lay.decode, lay.footer(top=[(lay.data_offset, 0, bytes(32))]))
    raises_exactly(DamagedError, lay.decode, lay.footer(num_blocks=1, plaintext_size=1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, BS), max_size=300), st.booleans(), st.integers(6, 9), st.integers(1, 5))
def test_footer_round_trip_any(sizes, empty_last, shift, slots):
    if empty_last:
        sizes = sizes + [0]
    lay = Layout(sizes, shift=shift, slots=slots)
    raw = _core.encode_footer61(len(sizes), lay.plaintext_size, lay.top, lay.info, b"F" * 32)
    assert raw == lay.footer()
    t = lay.decode()
    assert t.num_pages == len(lay.pages)
    for k in range(t.num_pages):
        assert (t.page(k).ofs_page, t.page(k).ofs_plaintext) == lay.top[k][:2]
    plain = 0
    for k, (first, es, _, _) in enumerate(lay.pages):
        for e in es:
            if e[2]:
                assert t.locate(e[0]) == k and t.locate(e[0] + e[2] - 1) == k
            assert t.block_page(first) == k
            plain += e[2]
    assert plain == t.plaintext_size


def _top(lay, k, ofs_page=None, ofs_plaintext=None):
    top = list(lay.top)
    o, p, h = top[k]
    top[k] = (o if ofs_page is None else ofs_page, p if ofs_plaintext is None else ofs_plaintext, h)
    return top


def test_footer_tiling_wrong_in_each_way():
    lay = Layout([BS] * 64 + [100] * 64 + [5, 6], shift=6)
    assert lay.decode().num_pages == 3
    (_, _, o0, _), (_, _, o1, _), (_, _, o2, _) = lay.pages
    cases = [
        lay.footer(top=_top(lay, 0, ofs_plaintext=1)),                 # page 0 not at plaintext 0
        lay.footer(top=_top(lay, 0, ofs_page=o0 + 1)),                 # page 0 elsewhere
        lay.footer(top=_top(lay, 0, ofs_page=o0 - 56)),
        lay.footer(top=_top(lay, 1, ofs_page=o1 + 16)),
        lay.footer(top=_top(lay, 2, ofs_page=o2 - 1)),
        lay.footer(top=_top(lay, 1, ofs_plaintext=64 * BS + 1)),       # plaintext split elsewhere
        lay.footer(top=_top(lay, 1, ofs_plaintext=64 * BS - 1)),
        lay.footer(top=_top(lay, 2, ofs_plaintext=64 * BS)),           # a page of 64 empty blocks
        lay.footer(top=_top(lay, 2, ofs_plaintext=lay.plaintext_size + 1)),
        lay.footer(top=_top(lay, 1, ofs_plaintext=65 * BS, ofs_page=o1 + BS)),  # 64 blocks can't hold
        lay.footer(top=lay.top[:2]),                                   # a page missing
        lay.footer(top=lay.top + [lay.top[-1]]),                       # a page too many
        lay.footer(num_pages=2),                                       # count and table disagree
        lay.footer(num_blocks=131),                                    # the last page lists more
        lay.footer(num_blocks=129),
        lay.footer(plaintext_size=lay.plaintext_size + 1),
        lay.footer(plaintext_size=lay.plaintext_size - 1),
        lay.footer(top=[lay.top[1], lay.top[0], lay.top[2]]),          # out of order
    ]
    for raw in cases:
        with pytest.raises(DamagedError):  # TruncatedError where the count says longer
            lay.decode(raw)
    raises_exactly(DamagedError, lay.decode, footer_offset=lay.footer_offset + 1, match="footer offset")
    raises_exactly(DamagedError, lay.decode, footer_offset=lay.footer_offset - 1)
    raises_exactly(DamagedError, lay.decode, data_offset=lay.data_offset + 256)  # other keyring size
    raises_exactly(DamagedError, lay.decode, page_shift=7, match="pages")      # ceil(130 / 128) = 2
    e = raises_exactly(DamagedError, lay.decode, lay.footer(top=_top(lay, 1, ofs_page=o1 + 1)))
    assert e.block == 64  # names the page's first block


def test_footer_blocks_larger_than_the_block_size():
    lay = Layout([5000] * 64 + [3], shift=6)
    assert lay.decode(block_size=5000).num_blocks == 65
    raises_exactly(DamagedError, lay.decode, block_size=4999, match="cannot hold")


def test_footer_head_checks():
    lay = Layout([BS] * 70, shift=6)
    good = lay.footer()
    assert _core.decode_footer61_head(good)[:4] == (70, 70 * BS, 50, 2)
    bad = [
        lay.footer(num_blocks=2**31 + 1),
        lay.footer(plaintext_size=2**63),
        lay.footer(plaintext_size=70 * 64 * MIB + 1),
        lay.footer(plaintext_size=68),               # 70 blocks hold at least 69 bytes
        lay.footer(info_size=45), lay.footer(info_size=1071), lay.footer(info_size=2**32 - 1),
        lay.footer(num_pages=0),                     # blocks but no page
        lay.footer(num_pages=3),                     # more than ceil(70 / 64)
        lay.footer(num_pages=2**32 - 1),
    ]
    for raw in bad:
        raises_exactly(DamagedError, _core.decode_footer61_head, raw)
        raises_exactly(DamagedError, lay.decode, raw)
    assert _core.decode_footer61_head(lay.footer(num_blocks=2**16, num_pages=1))[3] == 1  # E = 2^16
    raises_exactly(DamagedError, _core.decode_footer61_head, lay.footer(num_blocks=2**16 + 1, num_pages=1))
    raises_exactly(NotAContainerError, _core.decode_footer61_head, b"QLTXFOOX" + good[8:])
    raises_exactly(NotAContainerError, _core.decode_footer61_head, b"QLTY")
    for k in range(64):
        raises_exactly(TruncatedError, _core.decode_footer61_head, good[:k])
    for k in range(len(good)):
        raises_exactly(TruncatedError, lay.decode, good[:k])
    raises_exactly(DamagedError, lay.decode, good + b"\x00")


def test_footer_huge_claims_are_checked_before_allocating():
    # 2^31 blocks in 2^25 pages (E = 64) claim a 1.5 GiB top table: the 64 + 1070 bytes given
    # are refused by their length before the table is allocated
    head = struct.pack(">8sQQII32s", b"QLTXFOOT", 2**31, 2**31 * BS, 1070, 2**25, bytes(32))
    assert _core.decode_footer61_head(head)[3] == 2**25
    raises_exactly(TruncatedError, _core.decode_footer61, head + bytes(1070), 6, BS, 880, 2**62)
    for n, p, size in [(2**31, 2**32 - 1, 0), (2**64 - 1, 1, 0), (1, 1, 2**64 - 1), (2**31, 2**31, 0)]:
        raw = struct.pack(">8sQQII32s", b"QLTXFOOT", n, size, 50, p, bytes(32)) + bytes(50)
        raises_exactly(DamagedError, _core.decode_footer61_head, raw)
        raises_exactly(DamagedError, _core.decode_footer61, raw, 6, BS, 880, 2**62)
    # offsets near 2^64 in the table are refused, not wrapped
    lay = Layout([BS] * 3, shift=6)
    for ofs in (U64_MAX, 2**63, U64_MAX - 100):
        raises_exactly(DamagedError, lay.decode, lay.footer(top=_top(lay, 0, ofs_page=ofs)))
    raises_exactly(DamagedError, lay.decode, footer_offset=U64_MAX)


def test_footer_arguments():
    lay = Layout([BS] * 3, shift=6)
    raw = lay.footer()
    for kw in [dict(page_shift=5), dict(page_shift=17), dict(page_shift=-1), dict(block_size=4095),
               dict(block_size=64 * MIB + 1), dict(data_offset=0), dict(data_offset=255),
               dict(data_offset=256 + 2 * 56), dict(data_offset=lay.data_offset + 1),
               dict(data_offset=lay.data_offset + 128), dict(data_offset=256 + 2 * (56 + 128 * 1025)),
               dict(footer_offset=-1)]:
        raises_exactly(ValueError, lay.decode, raw, **kw)
    assert lay.decode(raw, data_offset=lay.data_offset).num_blocks == 3


@pytest.mark.parametrize("args", [
    (3, 3 * BS, [], b"I" * 50, b"F" * 32),                            # blocks, no page
    (0, 0, [(880, 0, bytes(32))], b"I" * 50, b"F" * 32),              # a page, no block
    (3, 3 * BS, [(880, 1, bytes(32))], b"I" * 50, b"F" * 32),         # page 0 not at 0
    (200, 200 * BS, [(10, 0, bytes(32)), (5, 64, bytes(32))], b"I" * 50, b"F" * 32),    # ofs_page back
    (200, 200 * BS, [(10, 0, bytes(32)), (20, 0, bytes(32))], b"I" * 50, b"F" * 32),    # plaintext equal
    (3, 3, [(880, 4, bytes(32))], b"I" * 50, b"F" * 32),              # starts after the end
    (3, 3 * BS, [(880, 0, bytes(32))], b"I" * 45, b"F" * 32),
    (3, 3 * BS, [(880, 0, bytes(32))], b"I" * 1071, b"F" * 32),
    (3, 3 * BS, [(880, 0, bytes(32))], b"I" * 50, b"F" * 31),
    (3, 3 * BS, [(880, 0, bytes(31))], b"I" * 50, b"F" * 32),
    (2**31 + 1, 0, [], b"I" * 50, b"F" * 32),
    (3, 2**63, [(880, 0, bytes(32))], b"I" * 50, b"F" * 32),
    (3, 1, [(880, 0, bytes(32))], b"I" * 50, b"F" * 32),               # 3 blocks hold >= 2 bytes
    (65, 65 * BS, [(880, 0, bytes(32))] * 3, b"I" * 50, b"F" * 32),    # more pages than E = 64 gives
])
def test_footer_encoder_rejects(args):
    raises_exactly(ValueError, _core.encode_footer61, *args)


def test_footer_encoder_types():
    raises_exactly(TypeError, _core.encode_footer61, 1, 1, [5], b"I" * 50, b"F" * 32)
    raises_exactly(TypeError, _core.encode_footer61, 1, 1, [(880, 0, "hash")], b"I" * 50, b"F" * 32)
    raises_exactly(ValueError, _core.encode_footer61, 1, 1, [(880, 0)], b"I" * 50, b"F" * 32)


# ---------------------------------------------------------------------------------------------
# trailer (6.1 bounds)

def test_trailer61():
    V = _core.VERSION_6_1
    empty = Layout([], slots=1)
    fsize = len(empty.footer())
    raw = _core.encode_trailer(empty.footer_offset, fsize, version=V)
    assert raw == struct.pack(">QQ8s", empty.footer_offset, fsize, b"QLTX-END")
    t = _core.decode_trailer(raw, empty.footer_offset + fsize + 24, version=V)
    assert (t.footer_offset, t.footer_size) == (empty.footer_offset, fsize)
    # the 6.0 bounds refuse it (a 110-byte 6.0 footer lists no block, so sits at 416)
    raises_exactly(DamagedError, _core.decode_trailer, raw, empty.footer_offset + fsize + 24)
    raises_exactly(ValueError, _core.encode_trailer, empty.footer_offset, fsize)
    for sizes, shift in [([BS] * 130, 6), ([1], 16), ([BS] * 64, 6), ([0], 6)]:
        lay = Layout(sizes, shift=shift, slots=1024)
        fs = len(lay.footer())
        total = lay.footer_offset + fs + 24
        assert _core.decode_trailer(_core.encode_trailer(lay.footer_offset, fs, version=V), total, version=V).footer_size == fs
    bad = [(880, 109), (880, 64 + 48 * 2**25 + 1071), (0, 110), (623, 110), (U64_MAX, 110),
           (880, U64_MAX), (624 + 291, 64 + 48 * 30 + 1070 + 48 * 30)]
    for fo, fs in bad:
        raises_exactly(ValueError, _core.encode_trailer, fo, fs, version=V)
        with pytest.raises(DamagedError):
            _core.decode_trailer(struct.pack(">QQ8s", fo, fs, b"QLTX-END"), (fo + fs + 24) % 2**64, version=V)
    raises_exactly(DamagedError, _core.decode_trailer, raw, empty.footer_offset + fsize + 25, version=V)
    raises_exactly(NotAContainerError, _core.decode_trailer, raw[:-1] + b"X", 10**6, version=V)
    raises_exactly(TruncatedError, _core.decode_trailer, raw[1:], 10**6, version=V)
    raises_exactly(ValueError, _core.decode_trailer, raw, 10**6, version=7)


# ---------------------------------------------------------------------------------------------
# the one-pass stream decoder over 6.1 streams

def block_bytes(i: int, data: bytes, final: bool) -> bytes:
    prefix = _core.encode_prefix(_core.Prefix(i, len(data) + 16, final))
    return prefix + bytes(12 + 164) + data + bytes(16)


def stream61(sizes: list[int], *, shift=6, slots=1, patch=False, copies=None, info=b"I" * 50,
             edit=None) -> tuple[bytes, list[tuple[str, int]]]:
    """A synthetic 6.1 stream (structure only: no crypto) and the items it holds.
    edit(kind, index, bytes) -> bytes may change one item on the way."""
    edit = edit or (lambda kind, i, b: b)
    E = 1 << shift
    h = make_header(page_shift=shift, keyring_slots=slots, block_size=BS, num_blocks=0, plaintext_size=0,
                    footer_offset=0, footer_size=0)
    copy = _core.encode_keyring_copy(slots, 1, [(1, bytes(48))], bytes(32))
    ring = copies if copies is not None else copy + copy
    out = bytearray()
    items = []

    def put(kind, i, b):
        b = edit(kind, i, b)
        if b:
            out.extend(b)
            items.append((kind, len(b)))

    put("header", 0, bytes(256))  # encoded at the end (patched or not), then edited
    put("keyring", 0, ring)
    entries, top = [], []
    plain = 0
    off = 256 + len(ring)
    for i, n in enumerate(sizes):
        final = i == len(sizes) - 1
        b = block_bytes(i, os.urandom(n), final)
        entries.append((plain, off, n, n + 220, hashlib.sha256(b).digest()))
        put("block", i, b)
        off += len(b)
        plain += n
        if len(entries) == E or final:
            first = i + 1 - len(entries)
            page = _core.encode_page(first, entries)
            top.append((off, entries[0][0], hashlib.sha256(page).digest()))
            put("page", first // E, page)
            off += len(page)
            entries = []
    footer = _core.encode_footer61(len(sizes), plain, top, info, b"F" * 32)
    if patch:
        h.num_blocks, h.plaintext_size, h.footer_offset, h.footer_size = len(sizes), plain, off, len(footer)
    out[:256] = edit("header", 0, _core.encode_header61(h))
    put("footer", 0, footer)
    put("trailer", 0, _core.encode_trailer(off, len(footer), version=_core.VERSION_6_1))
    return bytes(out), items


def tr(blob: bytes, want=None):
    """Decode whole, a byte at a time, and with trailing bytes; all must agree."""
    whole = decode_stream([blob])
    if want is not None:
        assert whole == want
    assert sum(n for _, n in whole) == len(blob)
    assert decode_stream([blob[i:i + 1] for i in range(len(blob))]) == whole
    for tail in (b"\x00", b"QLTX", blob[:100]):
        raises_exactly(DamagedError, decode_stream, [blob + tail])
    return whole


@pytest.mark.parametrize("sizes,shift", [
    ([], 6), ([0], 6), ([5], 6), ([BS] * 64, 6), ([BS] * 64 + [0], 6), ([BS] * 65, 6),
    ([BS, 1, 17] * 50 + [3], 6), ([BS] * 3 + [10], 10), ([100] * 128, 6)])
def test_stream61_items(sizes, shift):
    blob, want = stream61(sizes, shift=shift)
    kinds = [k for k, _ in tr(blob, want)]
    E = 1 << shift
    assert kinds[:2] == ["header", "keyring"] and kinds[-2:] == ["footer", "trailer"]
    assert kinds.count("block") == len(sizes) and kinds.count("page") == -(-len(sizes) // E)
    # a page right after every E-th block and after the final one
    body = kinds[2:-2]
    for j, k in enumerate(body):
        if k == "page":
            assert body[j - 1] == "block"
    patched, _ = stream61(sizes, shift=shift, patch=True)
    assert decode_stream([patched]) == want


def test_stream61_decoder_state():
    blob, _ = stream61([BS] * 70 + [9], shift=6, slots=3)
    dec = _core._StreamDecoder()
    assert dec.version == 0
    buf = bytearray(blob)
    seen = []
    while buf:
        kind, n = dec.next(bytes(buf))
        assert kind != "need"
        seen.append(kind)
        if kind == "header":
            assert dec.version == 0x0601 and dec.offset == 256
        if kind == "keyring":
            assert n == 2 * (56 + 128 * 3)
        if kind == "page":
            assert dec.last_page == ((dec.num_pages - 1) * 64, 64 if dec.num_pages == 1 else 7)
        del buf[:n]
    dec.end(0)
    assert dec.done and dec.num_blocks == 71 and dec.num_pages == 2 and dec.plaintext_size == 70 * BS + 9
    # 6.0 streams report their version too
    dec0 = _core._StreamDecoder()
    dec0.next(b"QLTX\x00\x06")
    assert dec0.version == 6


def test_stream61_need_sizes_are_bounded():
    blob, items = stream61([BS] * 64 + [7], shift=6, slots=1024)
    dec = _core._StreamDecoder()
    assert dec.next(b"") == ("need", 256)
    assert dec.next(b"QLTX") == ("need", 256)
    assert dec.next(blob[:6]) == ("need", 256)
    assert dec.next(blob[:256]) == ("header", 256)
    assert dec.next(b"") == ("need", 2 * (56 + 128 * 1024))  # from the header: capped by it
    # a 6.0 header asks for its 416 bytes once the version is known
    assert _core._StreamDecoder().next(b"QLTX\x00\x06") == ("need", 416)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, BS), max_size=140), st.booleans(), st.lists(st.integers(0, 10**6), max_size=12))
def test_stream61_any_split(sizes, empty_last, cuts):
    if empty_last:
        sizes = sizes + [0]
    blob, want = stream61(sizes, shift=6)
    points = sorted({min(c, len(blob)) for c in cuts})
    chunks = [blob[a:b] for a, b in zip([0] + points, points + [len(blob)])]
    assert decode_stream(chunks) == want


def test_stream61_truncated_anywhere():
    blob, items = stream61([BS] * 64 + [100, 3], shift=6)
    bounds = []
    at = 0
    for _, n in items:
        bounds += [at, at + 1, at + n - 1]
        at += n
    for cut in sorted(set(bounds) | set(range(0, len(blob), 997))):
        if cut < len(blob):
            raises_exactly(TruncatedError, decode_stream, [blob[:cut]])


def _corrupt(kind, index, fn):
    return lambda k, i, b: fn(b) if (k, i) == (kind, index) else b


def test_stream61_damage():
    sizes = [BS] * 64 + [100, 3]
    cases = [
        # a page missing, or where a block should be
        _corrupt("page", 0, lambda b: b""),
        _corrupt("page", 1, lambda b: b""),
        # the page lists other blocks than its place says
        _corrupt("page", 1, lambda b: b[:8] + struct.pack(">Q", 65) + b[16:]),
        _corrupt("page", 0, lambda b: b"QPAX" + b[4:]),
        # an entry differs from the block seen (its size), or from its place
        _corrupt("page", 1, lambda b: b[:16] + struct.pack(">Q", 1) + b[24:]),
        _corrupt("page", 1, lambda b: b[:16 + 16] + struct.pack(">II", 99, 319) + b[40:]),
        # the footer's counts or top table differ from the stream
        _corrupt("footer", 0, lambda b: b[:28] + struct.pack(">I", 3) + b[32:]),
        _corrupt("footer", 0, lambda b: b[:8] + struct.pack(">Q", 65) + b[16:]),
        _corrupt("footer", 0, lambda b: b[:64] + struct.pack(">Q", struct.unpack(">Q", b[64:72])[0] + 1) + b[72:]),
        _corrupt("footer", 0, lambda b: b[:64 + 48 + 8] + struct.pack(">Q", 64 * BS + 1) + b[64 + 48 + 16:]),
        # the trailer points elsewhere
        _corrupt("trailer", 0, lambda b: struct.pack(">Q", struct.unpack(">Q", b[:8])[0] + 1) + b[8:]),
        # the header: a 6.1 header field out of range
        _corrupt("header", 0, lambda b: b[:9] + b"\x05" + b[10:]),
    ]
    for edit in cases:
        blob, _ = stream61(sizes, shift=6, edit=edit)
        with pytest.raises((DamagedError, NotAContainerError)):
            decode_stream([blob])
        with pytest.raises((DamagedError, NotAContainerError)):
            decode_stream([blob[i:i + 7] for i in range(0, len(blob), 7)])
    # a block where its page should be: refused at the page's magic
    blob, _ = stream61([BS] * 65, shift=6, edit=_corrupt("page", 0, lambda b: b""))
    raises_exactly(DamagedError, decode_stream, [blob], match="index page")


def test_stream61_keyring_copies():
    copy = _core.encode_keyring_copy(2, 5, [(1, bytes(48))], bytes(32))
    bad = b"QKEZ" + copy[4:]
    for ring in (copy + copy, copy + bad, bad + copy):
        blob, want = stream61([5], slots=2, copies=ring)
        assert decode_stream([blob]) == want  # one well-formed copy suffices (the opener decides)
    blob, _ = stream61([5], slots=2, copies=bad + bad)
    raises_exactly(DamagedError, decode_stream, [blob], match="both keyring copies")
    slot_bad = copy[:24] + b"\x01\x01" + copy[26:]
    blob, _ = stream61([5], slots=2, copies=slot_bad + bad)
    raises_exactly(DamagedError, decode_stream, [blob], match="slot 0")


# ---------------------------------------------------------------------------------------------
# the native gateway's 6.1 hooks: pages from the sealer, the keyring to the opener, pages to
# check_page. The sessions below write and read the structure only (no crypto: that is the
# Python codec's job, wired by qeltrix.gateway); the gateway under test is the real one.

V61 = 0x0601


def _slots_header(shift: int, slots: int) -> bytes:
    h = make_header(page_shift=shift, keyring_slots=slots, block_size=BS, num_blocks=0, plaintext_size=0,
                    footer_offset=0, footer_size=0)
    copy = _core.encode_keyring_copy(slots, 1, [(1, bytes(48))], bytes(32))
    return _core.encode_header61(h) + copy + copy


class StructureSealer:
    def __init__(self, shift=6, slots=2):
        self.page_entries = 1 << shift
        self.header_bytes = _slots_header(shift, slots)
        self.data_offset = len(self.header_bytes)
        self.top = []
        self.first = 0
        self.pages = []  # (first_block, entries) as the gateway gave them
        self.finished_with = None

    def seal(self, index, plain_offset, data, final, out):
        b = block_bytes(index, bytes(data), final)
        out[:len(b)] = b
        return hashlib.sha256(b).digest()

    def page(self, entries):
        raw = _core.encode_page(self.first, entries)
        last = entries[-1]
        self.top.append((last[1] + last[3], entries[0][0], hashlib.sha256(raw).digest()))
        self.pages.append((self.first, list(entries)))
        self.first += len(entries)
        return raw

    def finish(self, entries, plaintext_size):
        self.finished_with = list(entries)
        footer = _core.encode_footer61(self.first, plaintext_size, self.top, b"I" * 50, b"F" * 32)
        fo = self.top[-1][0] + 16 + 56 * len(entries) if self.top else self.data_offset
        return footer + _core.encode_trailer(fo, len(footer), version=V61)


class StructureOpener:
    def __init__(self, header_and_keyring: bytes):
        self.got = header_and_keyring
        self.pages = []
        self.footer = None

    def open(self, index, plain_offset, plain_size, final, stored, out):
        out[:] = stored[204:204 + plain_size]

    def check_page(self, page, offset):
        self.pages.append((offset, bytes(page)))

    def check_footer(self, footer, footer_offset):
        self.footer = (footer_offset, bytes(footer))


def _gateway(decrypt, make_sealer, make_opener):
    gw = _core._Gateway("127.0.0.1", 0, "", 0, decrypt, BS, 1000, 5000, 2, 4, 4, 5000, make_sealer,
                        make_opener, lambda level, msg: None)
    gw.start()
    return gw


def _reflect(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        out = bytearray()

        def read():
            for b in iter(lambda: s.recv(1 << 20), b""):
                out.extend(b)

        reader = threading.Thread(target=read)
        reader.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reader.join(30)
        assert not reader.is_alive()
        return bytes(out)


@pytest.mark.parametrize("size", [0, 100, 64 * BS, 64 * BS + 1, 150 * BS + 7])
def test_native_gateway_writes_and_reads_pages(size):
    sealers, openers = [], []

    def make_sealer():
        sealers.append(StructureSealer())
        return sealers[-1]

    def make_opener(header):
        openers.append(StructureOpener(bytes(header)))
        return openers[-1]

    data = os.urandom(size)
    enc = _gateway(False, make_sealer, None)
    try:
        blob = _reflect(enc.port, data)
    finally:
        enc.stop(1000)
    items = tr(blob)
    s = sealers[0]
    kinds = [k for k, _ in items]
    n_blocks, n_pages = kinds.count("block"), kinds.count("page")
    assert n_pages == -(-n_blocks // 64) == len(s.pages)
    assert n_blocks == (0 if size == 0 else -(-size // BS) + (size % BS == 0))  # an empty final block
    # the gateway's entries: every block once, in order, offsets from the header + keyring size
    flat = [e for _, es in s.pages for e in es]
    assert [e[1] for e in flat[:1]] == ([s.data_offset] if flat else [])
    assert s.finished_with == (s.pages[-1][1] if s.pages else [])
    assert sum(e[2] for e in flat) == size

    dec = _gateway(True, None, make_opener)
    try:
        with socket.create_connection(("127.0.0.1", dec.port), timeout=30) as c:
            c.sendall(blob)
            c.shutdown(socket.SHUT_WR)
            out = bytearray()
            for b in iter(lambda: c.recv(1 << 20), b""):
                out += b
    finally:
        dec.stop(1000)
    assert bytes(out) == data
    o = openers[0]
    assert o.got == s.header_bytes  # the header and both keyring copies
    assert [off for off, _ in o.pages] == [t[0] for t in s.top]
    assert [hashlib.sha256(p).digest() for _, p in o.pages] == [t[2] for t in s.top]
    assert o.footer is not None and o.footer[0] == len(blob) - 24 - len(o.footer[1])
