"""Every change to a container is reported as a QeltrixError by every reader; never wrong bytes."""

from __future__ import annotations

import io
import os
import struct

import pytest

import qeltrix as qltx
from streams import Unseekable
from qeltrix import _core
from speccheck import spec_check

BS = 4096
MK = qltx.random_master_key()


def _pack(data, mk=MK, **kw):
    out = io.BytesIO()
    r = qltx.pack(data, out, mk, block_size=BS, **kw)
    spec_check(out.getvalue(), r, patched=True)
    return out.getvalue()


def _all_readers_fail(blob, data, mk=MK):
    """Each reading path raises a QeltrixError (and only that) on ``blob``."""
    readers = {
        "unpack": lambda: qltx.unpack(blob, io.BytesIO(), mk),
        "unpack-noverify": lambda: qltx.unpack(blob, io.BytesIO(), mk, verify=False),
        "stream": lambda: qltx.unpack(Unseekable(blob), io.BytesIO(), mk),
        "seek": lambda: qltx.seek_extract(blob, 0, len(data), mk),
        "verify": lambda: _verify_raises(blob, mk),
    }
    for name, fn in readers.items():
        try:
            fn()
        except qltx.QeltrixError:
            continue
        raise AssertionError(f"{name} accepted a tampered container")


def _verify_raises(blob, mk):
    r = qltx.verify(blob, mk)
    if not r.ok:
        raise qltx.DamagedError("verify reported damage")


DATA = os.urandom(BS + 100)
BLOB = _pack(DATA)


@pytest.mark.parametrize("blob", [BLOB, _pack(DATA, permute=True),
                                  _pack(DATA, cipher_id=qltx.CIPHER_CHACHA20_POLY1305)],
                         ids=["aes", "permuted", "chacha"])
def test_every_bit_flip_is_detected(blob):
    for pos in range(len(blob)):
        for bit in (0x01, 0x80):
            t = bytearray(blob)
            t[pos] ^= bit
            t = bytes(t)
            for fn in (lambda: qltx.unpack(t, io.BytesIO(), MK),
                       lambda: qltx.unpack(Unseekable(t), io.BytesIO(), MK)):
                try:
                    fn()
                except qltx.QeltrixError:
                    continue
                raise AssertionError(f"flip of bit {bit:#x} at byte {pos} went undetected")


def test_seek_reports_damage_in_the_block_it_reads():
    data = os.urandom(4 * BS)
    blob = bytearray(_pack(data))
    e = _core.decode_footer(blob[_trailer(blob)[0]:len(blob) - 24], BS, _trailer(blob)[0])[2]
    blob[e.block_offset + 300] ^= 1  # payload of block 2
    blob = bytes(blob)
    with pytest.raises(qltx.DamagedError) as exc:
        qltx.seek_extract(blob, 2 * BS + 5, 10, MK)
    assert exc.value.block == 2
    # Ranges that avoid the damaged block still work.
    assert qltx.seek_extract(blob, 0, BS, MK) == data[:BS]
    assert qltx.seek_extract(blob, 3 * BS, BS, MK) == data[3 * BS:]
    # Keyless verify finds the storage damage through the index hashes.
    r = qltx.verify(blob)
    assert not r.ok and not r.keyed and "block 2" in r.errors[0]


def _trailer(blob):
    return struct.unpack(">QQ", blob[-24:-8])


def _blocks(blob):
    ofs, ln = _trailer(blob)
    index = _core.decode_footer(blob[ofs:ofs + ln], BS, ofs)
    return [bytes(blob[e.block_offset:e.block_offset + e.block_size]) for e in index], ofs


def _rebuild(blob, blocks):
    """Same header, footer and trailer, with other block bytes in between (trailer re-pointed)."""
    ofs, ln = _trailer(blob)
    body = b"".join(blocks)
    footer = blob[ofs:ofs + ln]
    new_ofs = 416 + len(body)
    return blob[:416] + body + footer + struct.pack(">QQ", new_ofs, ln) + b"QLTX-END"


DATA3 = os.urandom(3 * BS)
BLOB3 = _pack(DATA3)


@pytest.mark.parametrize("edit", ["swap", "drop-first", "drop-middle", "drop-last", "duplicate", "reverse"])
def test_block_reordering_is_detected(edit):
    blocks, _ = _blocks(BLOB3)
    b = {"swap": [blocks[1], blocks[0], blocks[2]],
         "drop-first": blocks[1:], "drop-middle": [blocks[0], blocks[2]], "drop-last": blocks[:2],
         "duplicate": [blocks[0], blocks[0], blocks[2]], "reverse": blocks[::-1]}[edit]
    _all_readers_fail(_rebuild(BLOB3, b), DATA3)


def test_transplant_from_another_container_with_the_same_key():
    other = _pack(os.urandom(3 * BS))
    mine, _ = _blocks(BLOB3)
    theirs, _ = _blocks(other)
    _all_readers_fail(_rebuild(BLOB3, [mine[0], theirs[1], mine[2]]), DATA3)
    # The other container's whole block area and footer under this header.
    ofs, ln = _trailer(other)
    _all_readers_fail(BLOB3[:416] + other[416:], DATA3)


@pytest.mark.parametrize("cut", [1, 24, 25, 100, 416, 417, 500, 416 + BS + 220, -1, -23, -24, -25, -80])
def test_truncation_is_detected(cut):
    t = BLOB3[:cut] if cut > 0 else BLOB3[:len(BLOB3) + cut]
    _all_readers_fail(t, DATA3)


def test_truncation_at_every_offset_stream():
    for cut in range(0, len(BLOB), 7):
        with pytest.raises(qltx.QeltrixError):
            qltx.unpack(Unseekable(BLOB[:cut]), io.BytesIO(), MK)


def test_appended_bytes_are_detected():
    _all_readers_fail(BLOB + b"\0", DATA)


@pytest.mark.parametrize("field,offset,value", [
    ("cipher", 6, b"\x02"), ("kdf", 7, b"\x01"), ("flags", 11, b"\x01"), ("block_size", 12, struct.pack(">I", 8192)),
    ("container_id", 16, b"\xff"), ("num_blocks", 140, struct.pack(">Q", 5)),
    ("plaintext_size", 148, struct.pack(">Q", 1)), ("reserved", 300, b"\x01"),
])
def test_header_field_edits_are_detected(field, offset, value):
    t = bytearray(BLOB3)
    t[offset:offset + len(value)] = value
    _all_readers_fail(bytes(t), DATA3)


def test_a_tampered_container_leaves_no_output(tmp_path):
    t = bytearray(BLOB3)
    t[416 + 2 * (BS + 220) + 250] ^= 4  # payload of the last block
    (tmp_path / "c.qltx").write_bytes(bytes(t))
    out = tmp_path / "out.bin"
    with pytest.raises(qltx.DamagedError):
        qltx.unpack(str(tmp_path / "c.qltx"), str(out), MK)
    assert sorted(os.listdir(tmp_path)) == ["c.qltx"]
