"""Every change to a container is reported as a QeltrixError by every reader; never wrong bytes.

Containers here are format 6.1 (what writers write) with a one-slot keyring, so that flipping
every bit stays quick; 6.0 containers get the same edits where the layout allows
(``_pack60``), and the known-answer vectors pin 6.0's failures byte for byte. A change to one
keyring copy alone is the one change a reader may survive: the other copy opens the container
(that is what the second copy is for), and then the output is exact."""

from __future__ import annotations

import io
import os
import struct

import pytest

import qeltrix as qltx
from streams import Unseekable
from qeltrix import _core
from qeltrix.inspect import data_offset, index_entries, parse_container
from qeltrix.writer import _pack_from_parts
from speccheck import spec_check

BS = 4096
MK = qltx.random_master_key()


def _pack(data, mk=MK, **kw):
    out = io.BytesIO()
    r = qltx.pack(data, out, mk, block_size=BS, keyring_slots=1, **kw)
    spec_check(out.getvalue(), r, patched=True)
    return out.getvalue()


def _pack60(data, mk=MK):
    return _pack_from_parts(data, mk, rand=os.urandom, block_size=BS, version=6)


def _keyring_span(blob):
    p = parse_container(blob)
    return (256, data_offset(p)) if p.version != 6 else (0, 0)


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
    keyring = _keyring_span(blob)
    for pos in range(len(blob)):
        for bit in (0x01, 0x80):
            t = bytearray(blob)
            t[pos] ^= bit
            t = bytes(t)
            for fn in (lambda out: qltx.unpack(t, out, MK),
                       lambda out: qltx.unpack(Unseekable(t), out, MK)):
                out = io.BytesIO()
                try:
                    fn(out)
                except qltx.QeltrixError:
                    continue
                if keyring[0] <= pos < keyring[1] and out.getvalue() == DATA:
                    continue  # one keyring copy changed: the other opened it, and the output is exact
                raise AssertionError(f"flip of bit {bit:#x} at byte {pos} went undetected")


def test_seek_reports_damage_in_the_block_it_reads():
    data = os.urandom(4 * BS)
    blob = bytearray(_pack(data))
    e = list(index_entries(parse_container(bytes(blob))))[2]
    blob[e.ofs_block + 300] ^= 1  # payload of block 2
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
    p = parse_container(blob)
    return [bytes(blob[e.ofs_block:e.ofs_block + e.len_block]) for e in index_entries(p)], p.trailer.ofs_footer


def _rebuild(blob, blocks):
    """Same header (and keyring), index pages, footer and trailer, with other block bytes in
    between (pages after the blocks, trailer re-pointed)."""
    p = parse_container(blob)
    ofs, ln = p.trailer.ofs_footer, p.trailer.len_footer
    start = data_offset(p)
    pages = b"" if p.version == 6 else b"".join(
        blob[t.ofs_page:t.ofs_page + 16 + 56 * t.page.num_entries] for t in p.footer.pages)
    body = b"".join(blocks) + pages
    footer = blob[ofs:ofs + ln]
    new_ofs = start + len(body)
    return blob[:start] + body + footer + struct.pack(">QQ", new_ofs, ln) + b"QLTX-END"


DATA3 = os.urandom(3 * BS)
BLOB3 = _pack(DATA3)


BLOB3_60 = _pack60(DATA3)


@pytest.mark.parametrize("version", [0x601, 6])
@pytest.mark.parametrize("edit", ["swap", "drop-first", "drop-middle", "drop-last", "duplicate", "reverse"])
def test_block_reordering_is_detected(edit, version):
    blob = BLOB3 if version != 6 else BLOB3_60
    blocks, _ = _blocks(blob)
    b = {"swap": [blocks[1], blocks[0], blocks[2]],
         "drop-first": blocks[1:], "drop-middle": [blocks[0], blocks[2]], "drop-last": blocks[:2],
         "duplicate": [blocks[0], blocks[0], blocks[2]], "reverse": blocks[::-1]}[edit]
    _all_readers_fail(_rebuild(blob, b), DATA3)


@pytest.mark.parametrize("version", [0x601, 6])
def test_transplant_from_another_container_with_the_same_key(version):
    pack, blob = (_pack, BLOB3) if version != 6 else (_pack60, BLOB3_60)
    other = pack(os.urandom(3 * BS))
    mine, _ = _blocks(blob)
    theirs, _ = _blocks(other)
    _all_readers_fail(_rebuild(blob, [mine[0], theirs[1], mine[2]]), DATA3)
    # The other container's whole block area and footer under this header (and keyring).
    start = data_offset(parse_container(blob))
    _all_readers_fail(blob[:start] + other[start:], DATA3)


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


FLIP = None  # random fields (ids, commitments, MACs): flip a bit, since any fixed byte may be the one there


def _edited(blob, offset, value):
    """The container with one header field changed; the edit must change it."""
    t = bytearray(blob)
    if value is FLIP:
        t[offset] ^= 0x01
    else:
        assert t[offset:offset + len(value)] != value
        t[offset:offset + len(value)] = value
    assert t != blob
    return bytes(t)


@pytest.mark.parametrize("field,offset,value", [
    ("cipher", 6, b"\x02"), ("index_hash", 7, b"\x01"), ("block_hash", 8, b"\x02"), ("page_shift", 9, b"\x0b"),
    ("flags", 11, b"\x01"), ("block_size", 12, struct.pack(">I", 8192)), ("container_id", 16, FLIP),
    ("keyring_slots", 48, struct.pack(">I", 2)), ("key_commitment", 60, FLIP),
    ("num_blocks", 88, struct.pack(">Q", 5)), ("plaintext_size", 96, struct.pack(">Q", 1)),
    ("reserved", 150, b"\x01"), ("header_mac", 240, FLIP),
])
def test_header_field_edits_are_detected(field, offset, value):
    _all_readers_fail(_edited(BLOB3, offset, value), DATA3)


@pytest.mark.parametrize("field,offset,value", [
    ("cipher", 6, b"\x02"), ("kdf", 7, b"\x01"), ("flags", 11, b"\x01"), ("block_size", 12, struct.pack(">I", 8192)),
    ("container_id", 16, FLIP), ("num_blocks", 140, struct.pack(">Q", 5)),
    ("plaintext_size", 148, struct.pack(">Q", 1)), ("reserved", 300, b"\x01"),
])
def test_header_field_edits_are_detected_60(field, offset, value):
    _all_readers_fail(_edited(BLOB3_60, offset, value), DATA3)


def test_a_tampered_container_leaves_no_output(tmp_path):
    t = bytearray(BLOB3)
    t[list(index_entries(parse_container(BLOB3)))[2].ofs_block + 250] ^= 4  # payload of the last block
    (tmp_path / "c.qltx").write_bytes(bytes(t))
    out = tmp_path / "out.bin"
    with pytest.raises(qltx.DamagedError):
        qltx.unpack(str(tmp_path / "c.qltx"), str(out), MK)
    assert sorted(os.listdir(tmp_path)) == ["c.qltx"]
