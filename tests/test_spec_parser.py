"""The parser generated from spec/qeltrix_v6.ksy, and qeltrix.inspect built on it.

Containers here are built byte by byte with ``struct`` from the layout the spec gives (header
416 bytes, block prefix 28, meta_sealed 164, footer head 64, entry 56, file info iv 12 and
sealed len_info - 12, trailer 24); sealed parts are random bytes, as only the structure is parsed.
"""

from __future__ import annotations

import gc
import hashlib
import inspect as pyinspect
import io
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import kaitaistruct
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qeltrix import inspect as qinspect
from qeltrix._spec.qeltrix_v6 import QeltrixV6
from qeltrix.errors import (
    DamagedError,
    NotAContainerError,
    QeltrixError,
    TruncatedError,
    UnsupportedVersionError,
)

ROOT = Path(__file__).resolve().parent.parent
GEN_PARSER = ROOT / "tools" / "gen_parser.py"
COMPILER_JS = ROOT / "tools" / "node_modules" / "kaitai-struct-compiler" / "kaitai-struct-compiler.js"
YAML_PKG = ROOT / "tools" / "node_modules" / "yaml"

HEADER = struct.Struct(">4sHBBII32s16sIII32s32sQQQQ240sI")
PREFIX = struct.Struct(">4sQIQI")
FOOTER_HEAD = struct.Struct(">8sQQII32s")
ENTRY = struct.Struct(">QQII32s")
TRAILER = struct.Struct(">QQ8s")


def test_layout_sizes():
    assert (HEADER.size, PREFIX.size, FOOTER_HEAD.size, ENTRY.size, TRAILER.size) == (
        416, 28, 64, 56, 24)
    assert qinspect.FOOTER_HEAD_SIZE == FOOTER_HEAD.size
    assert (qinspect.MIN_INFO_SIZE, qinspect.MAX_INFO_SIZE) == (46, 1070)


# --------------------------------------------------------------------------------------------
# (a) the committed parser is what the pinned compiler makes of the spec


def test_generated_parser_is_current():
    missing = [str(p.relative_to(ROOT)) for p in (COMPILER_JS, YAML_PKG) if not p.exists()]
    if shutil.which("node") is None:
        missing.insert(0, "node")
    if missing:
        msg = (f"cannot check qeltrix/_spec/qeltrix_v6.py against the spec: missing "
               f"{', '.join(missing)}; run `npm ci --prefix tools`")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    proc = subprocess.run([sys.executable, str(GEN_PARSER), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"


def _read_order(cls: type) -> tuple[str, ...]:
    src = pyinspect.getsource(cls._read)
    names = re.findall(r"^\s+self\.(\w+) = ", src, re.M)
    return tuple(dict.fromkeys(n.removeprefix("_raw_") for n in names))


def test_inspect_field_table_matches_parser():
    classes = {"qeltrix_v6": QeltrixV6, "header_v6_0": QeltrixV6.HeaderV60,
               "header_v6_1": QeltrixV6.HeaderV61, "keyring_copy": QeltrixV6.KeyringCopy,
               "key_slot": QeltrixV6.KeySlot, "block": QeltrixV6.Block,
               "block_prefix": QeltrixV6.BlockPrefix, "footer_v6_0": QeltrixV6.FooterV60,
               "footer_v6_1": QeltrixV6.FooterV61, "top_entry": QeltrixV6.TopEntry,
               "index_page": QeltrixV6.IndexPage, "index_entry": QeltrixV6.IndexEntry,
               "trailer": QeltrixV6.Trailer}
    assert set(classes) == set(qinspect.SEQ_IDS)
    for name, cls in classes.items():
        assert _read_order(cls) == qinspect.SEQ_IDS[name], name


# --------------------------------------------------------------------------------------------
# building containers


@dataclass
class Block:
    index: int
    plaintext_len: int
    is_final: bool
    meta_iv: bytes
    meta_sealed: bytes
    payload_sealed: bytes
    flags_extra: int = 0
    len_meta: int = 164

    def prefix(self) -> bytes:
        flags = (self.flags_extra << 1) | int(self.is_final)
        return PREFIX.pack(b"QBLK", self.index, self.len_meta, len(self.payload_sealed), flags)

    def stored(self) -> bytes:
        return self.prefix() + self.meta_iv + self.meta_sealed + self.payload_sealed


@dataclass
class Container:
    cipher: int = 2
    kdf: int = 1
    permuted: bool = True
    block_size: int = 4096
    container_id: bytes = b""
    kdf_salt: bytes = b""
    kdf_t: int = 3
    kdf_m: int = 65536
    kdf_p: int = 4
    key_commitment: bytes = b""
    header_mac: bytes = b""
    footer_mac: bytes = b""
    blocks: list[Block] = field(default_factory=list)
    version: int = 6
    info_iv: bytes = bytes(12)
    #: sealed file_info: 18 bytes + the name + a 16-byte tag (random bytes here)
    info_sealed: bytes = bytes(34)
    footer_reserved: int = 0

    @property
    def len_info(self) -> int:
        return len(self.info_iv) + len(self.info_sealed)

    def header(self) -> bytes:
        flags = int(self.permuted)
        # streamed header: num_blocks, len_plaintext, ofs_footer, len_footer all zero
        return HEADER.pack(b"QLTX", self.version, self.cipher, self.kdf, flags, self.block_size,
                           self.container_id, self.kdf_salt, self.kdf_t, self.kdf_m, self.kdf_p,
                           self.key_commitment, self.header_mac, 0, 0, 0, 0, bytes(240), 0)

    def layout(self) -> tuple[bytes, list[tuple[int, int, int, int, bytes]], int]:
        """(image, entries as (ofs_plaintext, ofs_block, len_plaintext, len_block, hash),
        ofs_footer)."""
        out = bytearray(self.header())
        entries = []
        ofs_plain = 0
        for b in self.blocks:
            stored = b.stored()
            entries.append((ofs_plain, len(out), b.plaintext_len, len(stored),
                            hashlib.sha256(stored).digest()))
            out += stored
            ofs_plain += b.plaintext_len
        ofs_footer = len(out)
        out += FOOTER_HEAD.pack(b"QLTXFOOT", len(entries), ofs_plain, self.len_info,
                                self.footer_reserved, self.footer_mac)
        for e in entries:
            out += ENTRY.pack(*e)
        out += self.info_iv + self.info_sealed
        len_footer = len(out) - ofs_footer
        out += TRAILER.pack(ofs_footer, len_footer, b"QLTX-END")
        return bytes(out), entries, ofs_footer


NAME_LEN = len("data.bin")
LEN_INFO = 12 + 18 + NAME_LEN + 16  # 54
FOOTER_LEN = 64 + 56 * 2 + LEN_INFO  # the default two-block container's footer: 230


def make_container(seed: int = 6, sizes: tuple[int, ...] = (4096, 100),
                   name_len: int = NAME_LEN) -> Container:
    rnd = random.Random(seed)
    rb = rnd.randbytes
    c = Container(container_id=rb(32), kdf_salt=rb(16), key_commitment=rb(32),
                  header_mac=rb(32), footer_mac=rb(32), info_iv=rb(12),
                  info_sealed=rb(18 + name_len + 16))
    for i, n in enumerate(sizes):
        c.blocks.append(Block(index=i, plaintext_len=n, is_final=i == len(sizes) - 1,
                              meta_iv=rb(12), meta_sealed=rb(164), payload_sealed=rb(n + 16)))
    return c


@pytest.fixture
def container() -> Container:
    return make_container()


# --------------------------------------------------------------------------------------------
# (b) parsing a well-formed container


def test_parse_every_field(container: Container):
    image, entries, ofs_footer = container.layout()
    p = QeltrixV6.from_bytes(image)
    h = p.header
    assert p.magic == b"QLTX"
    assert p.version == 6
    assert h.cipher == QeltrixV6.Cipher.chacha20_poly1305
    assert h.kdf == QeltrixV6.Kdf.argon2id
    assert h.reserved_flags == 0
    assert h.permuted is True
    assert h.block_size == 4096
    assert h.container_id == container.container_id
    assert h.kdf_salt == container.kdf_salt
    assert (h.kdf_t, h.kdf_m, h.kdf_p) == (3, 65536, 4)
    assert h.key_commitment == container.key_commitment
    assert h.header_mac == container.header_mac
    assert (h.num_blocks, h.len_plaintext, h.ofs_footer, h.len_footer) == (0, 0, 0, 0)
    assert h.reserved == bytes(240)
    assert h.reserved_tail == 0
    assert p._io.pos() == 416  # the seq is the header only

    t = p.trailer
    assert (t.ofs_footer, t.len_footer, t.magic) == (ofs_footer, FOOTER_LEN, b"QLTX-END")
    assert FOOTER_LEN == 64 + 56 * 2 + 54
    assert t.ofs_footer + t.len_footer + 24 == len(image)

    f = p.footer
    assert f.magic == b"QLTXFOOT"
    assert f.num_entries == 2
    assert f.len_plaintext == 4196
    assert f.len_info == LEN_INFO
    assert f.reserved == 0
    assert f.footer_mac == container.footer_mac
    assert len(f.entries) == 2
    assert f.info_iv == container.info_iv
    assert f.info_sealed == container.info_sealed and len(f.info_sealed) == LEN_INFO - 12
    assert f._io.is_eof()  # the file info ends the footer

    for i, (e, want, blk) in enumerate(zip(f.entries, entries, container.blocks)):
        assert (e.ofs_plaintext, e.ofs_block, e.len_plaintext, e.len_block, e.hash) == want
        assert e.len_block == e.len_plaintext + 220
        b = e.block
        stored = image[e.ofs_block:e.ofs_block + e.len_block]
        assert hashlib.sha256(stored).digest() == e.hash
        pr = b.prefix
        assert pr.magic == b"QBLK"
        assert pr.index == i
        assert pr.len_meta == 164
        assert pr.len_payload == blk.plaintext_len + 16
        assert pr.reserved_flags == 0
        assert pr.is_final is (i == 1)
        assert b.meta_iv == blk.meta_iv
        assert b.meta_sealed == blk.meta_sealed
        assert b.payload_sealed == blk.payload_sealed
        assert b._io.size() == e.len_block
        assert b._io.is_eof()  # the block fills its entry's len_block exactly
    assert f.entries[1].ofs_block == f.entries[0].ofs_block + f.entries[0].len_block == 416 + 4316


def test_flag_bits_are_bit_zero(container: Container):
    container.permuted = False
    container.blocks[1].is_final = False
    image, _, _ = container.layout()
    p = QeltrixV6.from_bytes(image)
    assert p.header.permuted is False
    assert p.footer.entries[1].block.prefix.is_final is False
    # bit 0 of the big-endian flags word is the last byte's low bit
    assert image[8:12] == b"\x00\x00\x00\x00"
    container.permuted = True
    assert container.layout()[0][8:12] == b"\x00\x00\x00\x01"


def test_empty_stream_and_raw_key():
    c = make_container(sizes=())
    c.kdf, c.cipher, c.permuted = 0, 1, False
    c.kdf_salt, c.kdf_t, c.kdf_m, c.kdf_p = bytes(16), 0, 0, 0
    image, _, ofs_footer = c.layout()
    assert len(image) == 416 + 64 + LEN_INFO + 24
    p = QeltrixV6.from_bytes(image)
    assert p.header.cipher == QeltrixV6.Cipher.aes_256_gcm
    assert p.header.kdf == QeltrixV6.Kdf.none
    assert p.footer.num_entries == 0 and p.footer.entries == []
    d = qinspect.describe(qinspect.parse_container(image))
    assert d["entries"] == [] and d["header"]["kdf"] == "none" and d["footer"]["ofs"] == 416


def test_patched_header_fields():
    c = make_container()
    image, _, ofs_footer = c.layout()
    patched = bytearray(image)
    struct.pack_into(">QQQQ", patched, 140, 2, 4196, ofs_footer, FOOTER_LEN)
    h = QeltrixV6.from_bytes(bytes(patched)).header
    assert (h.num_blocks, h.len_plaintext, h.ofs_footer, h.len_footer) == (
        2, 4196, ofs_footer, FOOTER_LEN)
    d = qinspect.describe(qinspect.parse_container(bytes(patched)))
    assert d["header"]["streamed"] is False and d["header"]["num_blocks"] == 2


# --------------------------------------------------------------------------------------------
# (c) malformed images: which Kaitai error the generated parser raises


def _corrupt(image: bytes, ofs: int, data: bytes) -> bytes:
    out = bytearray(image)
    out[ofs:ofs + len(data)] = data
    return bytes(out)


def _parse_all(image: bytes) -> None:
    p = QeltrixV6.from_bytes(image)
    p._fetch_instances()  # trailer, footer, entries and every block


BLOCK0 = 416  # the first block's prefix


def _foot(image: bytes) -> int:
    """The footer's offset, from the trailer."""
    return struct.unpack_from(">Q", image, len(image) - 24)[0]


@pytest.mark.parametrize("name, mutate, exc, src_path", [
    ("bad magic", lambda im: _corrupt(im, 0, b"QLTY"),
     kaitaistruct.ValidationNotEqualError, "/seq/0"),
    ("bad version", lambda im: _corrupt(im, 4, b"\x00\x05"),
     kaitaistruct.ValidationNotAnyOfError, "/seq/1"),
    ("unknown cipher", lambda im: _corrupt(im, 6, b"\x03"),
     kaitaistruct.ValidationNotInEnumError, "/types/header_v6_0/seq/0"),
    ("unknown kdf", lambda im: _corrupt(im, 7, b"\x07"),
     kaitaistruct.ValidationNotInEnumError, "/types/header_v6_0/seq/1"),
    ("reserved header flag", lambda im: _corrupt(im, 8, b"\x80\x00\x00\x01"),
     kaitaistruct.ValidationNotEqualError, "/types/header_v6_0/seq/2"),
    ("block_size too small", lambda im: _corrupt(im, 12, struct.pack(">I", 4095)),
     kaitaistruct.ValidationLessThanError, "/types/header_v6_0/seq/4"),
    ("block_size too large", lambda im: _corrupt(im, 12, struct.pack(">I", 64 * 2**20 + 1)),
     kaitaistruct.ValidationGreaterThanError, "/types/header_v6_0/seq/4"),
    ("num_blocks over 2^31", lambda im: _corrupt(im, 140, struct.pack(">Q", 2**31 + 1)),
     kaitaistruct.ValidationGreaterThanError, "/types/header_v6_0/seq/12"),
    ("nonzero reserved", lambda im: _corrupt(im, 172 + 239, b"\x01"),
     kaitaistruct.ValidationExprError, "/types/header_v6_0/seq/16"),
    ("nonzero reserved_tail", lambda im: _corrupt(im, 412, b"\x00\x00\x00\x01"),
     kaitaistruct.ValidationNotEqualError, "/types/header_v6_0/seq/17"),
    ("bad block magic", lambda im: _corrupt(im, BLOCK0, b"QBLX"),
     kaitaistruct.ValidationNotEqualError, "/types/block_prefix/seq/0"),
    ("len_meta != 164", lambda im: _corrupt(im, BLOCK0 + 12, struct.pack(">I", 148)),
     kaitaistruct.ValidationNotEqualError, "/types/block_prefix/seq/2"),
    ("len_payload < 16", lambda im: _corrupt(im, BLOCK0 + 16, struct.pack(">Q", 15)),
     kaitaistruct.ValidationLessThanError, "/types/block_prefix/seq/3"),
    ("len_payload > 64 MiB + 16", lambda im: _corrupt(im, BLOCK0 + 16, struct.pack(">Q", 2**40)),
     kaitaistruct.ValidationGreaterThanError, "/types/block_prefix/seq/3"),
    ("len_payload past the block", lambda im: _corrupt(im, BLOCK0 + 16, struct.pack(">Q", 4113)),
     kaitaistruct.EndOfStreamError, None),
    ("reserved block flag", lambda im: _corrupt(im, BLOCK0 + 24, b"\x00\x00\x01\x00"),
     kaitaistruct.ValidationNotEqualError, "/types/block_prefix/seq/4"),
    ("bad trailer magic", lambda im: im[:-1] + b"X",
     kaitaistruct.ValidationNotEqualError, "/types/trailer/seq/2"),
    ("truncated header", lambda im: im[:300], kaitaistruct.EndOfStreamError, None),
    ("truncated end", lambda im: im[:-100],
     kaitaistruct.ValidationNotEqualError, "/types/trailer/seq/2"),
    ("footer past the end", lambda im: _corrupt(im, len(im) - 24, struct.pack(">Q", len(im))),
     kaitaistruct.EndOfStreamError, None),
    ("len_info below 46", lambda im: _corrupt(im, _foot(im) + 24, struct.pack(">I", 45)),
     kaitaistruct.ValidationLessThanError, "/types/footer_v6_0/seq/3"),
    ("len_info zero", lambda im: _corrupt(im, _foot(im) + 24, struct.pack(">I", 0)),
     kaitaistruct.ValidationLessThanError, "/types/footer_v6_0/seq/3"),
    ("len_info above 1070", lambda im: _corrupt(im, _foot(im) + 24, struct.pack(">I", 1071)),
     kaitaistruct.ValidationGreaterThanError, "/types/footer_v6_0/seq/3"),
    ("len_info past the footer", lambda im: _corrupt(im, _foot(im) + 24, struct.pack(">I", 55)),
     kaitaistruct.EndOfStreamError, None),
    ("nonzero footer reserved", lambda im: _corrupt(im, _foot(im) + 28, struct.pack(">I", 1)),
     kaitaistruct.ValidationNotEqualError, "/types/footer_v6_0/seq/4"),
    ("footer reserved high bit", lambda im: _corrupt(im, _foot(im) + 28, b"\x80"),
     kaitaistruct.ValidationNotEqualError, "/types/footer_v6_0/seq/4"),
])
def test_malformed_raises_kaitai_errors(container, name, mutate, exc, src_path):
    image = mutate(container.layout()[0])
    with pytest.raises(exc) as info:
        _parse_all(image)
    assert type(info.value) is exc, name
    assert isinstance(info.value, kaitaistruct.KaitaiStructError)
    assert info.value.src_path == src_path


def test_footer_errors(container: Container):
    image, _, ofs_footer = container.layout()
    with pytest.raises(kaitaistruct.ValidationNotEqualError) as info:
        _parse_all(_corrupt(image, ofs_footer, b"QLTXFOOX"))
    assert info.value.src_path == "/types/footer_v6_0/seq/0"
    # more entries than the footer holds: the entries run off the footer's substream
    with pytest.raises(kaitaistruct.EndOfStreamError):
        _parse_all(_corrupt(image, ofs_footer + 8, struct.pack(">Q", 3)))
    with pytest.raises(kaitaistruct.ValidationGreaterThanError) as info:
        _parse_all(_corrupt(image, ofs_footer + 8, struct.pack(">Q", 2**31 + 1)))
    assert info.value.src_path == "/types/footer_v6_0/seq/1"


# --------------------------------------------------------------------------------------------
# qeltrix.inspect


def test_describe(container: Container):
    image, entries, ofs_footer = container.layout()
    d = qinspect.describe(qinspect.parse_container(image))
    assert json.loads(json.dumps(d)) == d
    assert d["size"] == len(image)
    assert d["header"] == {
        "version": 6,
        "format": "6.0",
        "cipher": "chacha20_poly1305",
        "kdf": "argon2id",
        "flags": {"permuted": True},
        "block_size": 4096,
        "container_id": container.container_id.hex(),
        "kdf_salt": container.kdf_salt.hex(),
        "kdf_t": 3,
        "kdf_m": 65536,
        "kdf_p": 4,
        "key_commitment": container.key_commitment.hex(),
        "header_mac": container.header_mac.hex(),
        "streamed": True,
        "num_blocks": 0,
        "len_plaintext": 0,
        "ofs_footer": 0,
        "len_footer": 0,
    }
    assert d["footer"] == {"ofs": ofs_footer, "len": FOOTER_LEN, "num_entries": 2,
                           "len_plaintext": 4196, "len_info": LEN_INFO,
                           "footer_mac": container.footer_mac.hex(),
                           "info_iv": container.info_iv.hex(), "len_info_sealed": LEN_INFO - 12}
    assert container.info_sealed.hex() not in json.dumps(d)  # sealed info only by its size
    assert len(d["entries"]) == 2
    for i, (e, want, blk) in enumerate(zip(d["entries"], entries, container.blocks)):
        assert e == {
            "index": i,
            "ofs_plaintext": want[0],
            "len_plaintext": want[2],
            "ofs_block": want[1],
            "len_block": want[3],
            "hash": want[4].hex(),
            "block": {"index": i, "len_meta": 164, "len_payload": blk.plaintext_len + 16,
                      "is_final": i == 1, "meta_iv": blk.meta_iv.hex()},
        }


def test_parse_container_sources(container: Container, tmp_path: Path):
    image, _, _ = container.layout()
    want = qinspect.describe(qinspect.parse_container(image))
    assert qinspect.describe(qinspect.parse_container(bytearray(image))) == want
    assert qinspect.describe(qinspect.parse_container(memoryview(image))) == want
    path = tmp_path / "c.qltx"
    path.write_bytes(image)
    with qinspect.parse_container(path) as parsed:
        assert qinspect.describe(parsed) == want
    with qinspect.parse_container(str(path)) as parsed:
        assert qinspect.describe(parsed) == want
    with open(path, "rb") as fh:
        assert qinspect.describe(qinspect.parse_container(fh)) == want
        assert not fh.closed
    with pytest.raises(TypeError):
        qinspect.parse_container(12)  # type: ignore[arg-type]
    # a path needs no close(): nothing is left open to warn about once the parse is collected
    assert qinspect.describe(qinspect.parse_container(path)) == want
    gc.collect()
    empty = tmp_path / "empty.qltx"
    empty.write_bytes(b"")
    with pytest.raises(NotAContainerError):
        qinspect.parse_container(empty)
    bad = tmp_path / "bad.qltx"
    bad.write_bytes(image[:-1])
    with pytest.raises(TruncatedError):
        qinspect.parse_container(bad)


def _block_ofs(i: int) -> int:
    return BLOCK0 + (0 if i == 0 else 4096 + 220)


@pytest.mark.parametrize("name, mutate, err, block", [
    ("empty", lambda im: b"", NotAContainerError, None),
    ("short", lambda im: b"QL", NotAContainerError, None),
    ("bad magic", lambda im: _corrupt(im, 0, b"QLTY"), NotAContainerError, None),
    ("other file", lambda im: b"PK\x03\x04" + bytes(1000), NotAContainerError, None),
    ("bad version", lambda im: _corrupt(im, 4, b"\x00\x07"), UnsupportedVersionError, None),
    ("unknown cipher", lambda im: _corrupt(im, 6, b"\x09"), DamagedError, None),
    ("nonzero reserved", lambda im: _corrupt(im, 200, b"\xff"), DamagedError, None),
    ("reserved flag", lambda im: _corrupt(im, 11, b"\x02"), DamagedError, None),
    ("truncated header", lambda im: im[:415], TruncatedError, None),
    ("header only", lambda im: im[:416], TruncatedError, None),
    ("truncated end", lambda im: im[:-1], TruncatedError, None),
    ("cut in block 1", lambda im: im[:_block_ofs(1) + 50], TruncatedError, None),
    ("bad trailer ofs", lambda im: _corrupt(im, len(im) - 24, struct.pack(">Q", 2**64 - 1)),
     DamagedError, None),
    ("bad footer magic", lambda im: _corrupt(im, _foot(im), b"XXXXXXXX"), DamagedError, None),
    ("footer too long", lambda im: _corrupt(im, _foot(im) + 8, struct.pack(">Q", 1)),
     DamagedError, None),
    ("len_info below 46", lambda im: _corrupt(im, _foot(im) + 24, struct.pack(">I", 45)),
     DamagedError, None),
    ("len_info above 1070", lambda im: _corrupt(im, _foot(im) + 24, struct.pack(">I", 1071)),
     DamagedError, None),
    ("len_info short of the footer", lambda im: _corrupt(im, _foot(im) + 24, struct.pack(">I", 53)),
     DamagedError, None),
    ("len_info past the footer", lambda im: _corrupt(im, _foot(im) + 24, struct.pack(">I", 55)),
     DamagedError, None),
    ("nonzero footer reserved", lambda im: _corrupt(im, _foot(im) + 31, b"\x01"),
     DamagedError, None),
    ("entry outside", lambda im: _corrupt(im, _foot(im) + 64 + 8, struct.pack(">Q", 2**63)),
     DamagedError, 0),
    ("block 1 magic", lambda im: _corrupt(im, _block_ofs(1), b"XBLK"), DamagedError, 1),
    ("block 0 len_meta", lambda im: _corrupt(im, _block_ofs(0) + 12, struct.pack(">I", 0)),
     DamagedError, 0),
    ("block 1 reserved flag", lambda im: _corrupt(im, _block_ofs(1) + 27, b"\x03"),
     DamagedError, 1),
])
def test_inspect_wraps_errors(container, name, mutate, err, block):
    image = mutate(container.layout()[0])
    with pytest.raises(QeltrixError) as info:
        qinspect.describe(qinspect.parse_container(image))
    e = info.value
    assert type(e) is err, f"{name}: {type(e).__name__}: {e}"
    msg = str(e)
    assert msg and "\n" not in msg and len(msg) < 300, msg
    if isinstance(e, DamagedError) and not isinstance(e, TruncatedError):
        assert e.block == block, msg
    if e.__cause__ is not None:
        assert isinstance(e.__cause__, (kaitaistruct.KaitaiStructError, EOFError))


def test_inspect_messages_name_the_field(container: Container):
    image, _, _ = container.layout()
    with pytest.raises(DamagedError, match=r"header\.cipher: unknown value 9"):
        qinspect.parse_container(_corrupt(image, 6, b"\x09"))
    with pytest.raises(DamagedError, match=r"block 1: block_prefix\.magic: expected 51424c4b"):
        qinspect.describe(qinspect.parse_container(_corrupt(image, _block_ofs(1), b"XBLK")))
    with pytest.raises(UnsupportedVersionError, match="version 7"):
        qinspect.parse_container(_corrupt(image, 4, b"\x00\x07"))
    foot = _foot(image)
    with pytest.raises(DamagedError, match=r"footer\.len_info: 45 is below the minimum 46"):
        qinspect.parse_container(_corrupt(image, foot + 24, struct.pack(">I", 45)))
    with pytest.raises(DamagedError, match=r"footer\.len_info: 1071 is above the maximum 1070"):
        qinspect.parse_container(_corrupt(image, foot + 24, struct.pack(">I", 1071)))
    with pytest.raises(DamagedError, match=r"footer\.reserved: expected 0, found 7"):
        qinspect.parse_container(_corrupt(image, foot + 28, struct.pack(">I", 7)))
    with pytest.raises(DamagedError, match=rf"{FOOTER_LEN} bytes for 2 entries and 53 bytes "
                                           rf"of file info \(expected {FOOTER_LEN - 1}\)"):
        qinspect.parse_container(_corrupt(image, foot + 24, struct.pack(">I", 53)))


@pytest.mark.parametrize("name_len", [0, 1, 1024])
def test_file_info_sizes(name_len: int):
    c = make_container(sizes=(5,), name_len=name_len)
    image, _, ofs_footer = c.layout()
    len_info = 46 + name_len
    assert len(image) == 416 + 5 + 220 + 64 + 56 + len_info + 24
    p = qinspect.parse_container(image)
    assert p.footer.len_info == len_info and len(p.footer.info_sealed) == len_info - 12
    assert p.trailer.len_footer == 64 + 56 + len_info
    d = qinspect.describe(p)
    assert (d["footer"]["len_info"], d["footer"]["len_info_sealed"]) == (len_info, len_info - 12)


_IMAGE = make_container(seed=1, sizes=(4096, 4096, 7)).layout()[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_IMAGE) - 1), st.integers(1, 255))
def test_any_byte_flip_parses_or_raises_qeltrix_error(ofs, xor):
    image = bytearray(_IMAGE)
    image[ofs] ^= xor
    try:
        qinspect.describe(qinspect.parse_container(bytes(image)))
    except QeltrixError as e:
        assert "\n" not in str(e)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(_IMAGE) - 1))
def test_any_truncation_raises_qeltrix_error(n):
    with pytest.raises(QeltrixError):
        qinspect.describe(qinspect.parse_container(_IMAGE[:n]))


def test_file_object_read_from_start(container: Container):
    image, _, _ = container.layout()
    fh = io.BytesIO(image)
    fh.seek(100)
    assert qinspect.describe(qinspect.parse_container(fh))["size"] == len(image)
