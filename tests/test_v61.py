"""Format 6.1: paged index, keyring, hashes, whole-header MAC, sizes checked before use.

Every reader path (random access, unpack, streaming unpack, verify, info) on 6.1 containers,
and every kind of damage to the new parts detected. 6.0 containers stay readable (the vectors
and the rest of the suite); here ``_pack_from_parts(version=...)`` makes both side by side."""

from __future__ import annotations

import io
import itertools
import os
import struct
import subprocess
import sys
import textwrap
import unicodedata

import pytest
from hypothesis import given, settings, strategies as st

import qeltrix as qltx
from qeltrix import _core
from qeltrix.crypto import KDF_ARGON2ID, VERSION_6_0, VERSION_6_1, KdfParams
from qeltrix.errors import DamagedError, LimitError, QeltrixError, TruncatedError, WrongKeyError
from qeltrix.inspect import index_entries, parse_container
from qeltrix.sources import open_random_access
from qeltrix.reader import Container, Limits
from qeltrix.writer import Sealer, _pack_from_parts

from speccheck import spec_check

BS = 4096


class Pipe(io.RawIOBase):
    """A non-seekable reader over bytes (a pipe)."""

    def __init__(self, data: bytes):
        self._b = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        return self._b.readinto(b)


def det_rand(seed: int):
    counter = itertools.count()

    def rand(n: int) -> bytes:
        import hashlib

        out = b""
        while len(out) < n:
            out += hashlib.sha256(b"%d:%d" % (seed, next(counter))).digest()
        return out[:n]
    return rand


def make(data: bytes, mk: bytes, *, page_shift: int = 6, seed: int = 1, **kw) -> bytes:
    """A 6.1 container with small pages (2^6 = 64 blocks of 4 KiB each) to cross many pages."""
    return _pack_from_parts(data, mk, rand=det_rand(seed), block_size=BS, version=VERSION_6_1,
                            page_shift=page_shift, **kw)


def all_readers(blob: bytes, mk: bytes, **keys):
    """The plaintext through every reader: random access, unpack, streaming unpack."""
    keys = keys or {"master_key": mk}
    out = io.BytesIO()
    qltx.unpack(blob, out, **keys)
    whole = out.getvalue()
    out = io.BytesIO()
    qltx.unpack(Pipe(blob), out, **keys)
    assert out.getvalue() == whole
    with Container(open_random_access(blob), **keys) as c:
        assert c.read_range(0, c.size + 10) == whole
    return whole


@pytest.mark.parametrize("size", [0, 1, BS - 1, BS, BS + 1, 64 * BS, 64 * BS + 1, 200 * BS + 77])
@pytest.mark.parametrize("block_hash, index_hash", [("sha256", "blake3"), ("blake3", "sha256")])
def test_roundtrip_across_pages(mk, size, block_hash, index_hash):
    data = os.urandom(size)
    blob = make(data, mk, block_hash=block_hash, index_hash=index_hash)
    p = spec_check(blob)
    assert p.version == VERSION_6_1
    assert p.footer.num_pages == -(-p.footer.num_blocks // 64)
    assert all_readers(blob, mk) == data


@pytest.mark.parametrize("cipher", [1, 2])
@pytest.mark.parametrize("permute", [False, True])
def test_public_pack_writes_6_1(tmp_path, mk, cipher, permute):
    data = os.urandom(1100 * BS + 5)  # 1,101 blocks: two pages of the default 1,024 entries
    r = qltx.pack(data, tmp_path / "x.qltx", mk, block_size=BS, cipher_id=cipher, permute=permute)
    blob = (tmp_path / "x.qltx").read_bytes()
    p = parse_container(blob)
    assert (p.version, p.footer.num_pages, r.total_blocks) == (VERSION_6_1, 2, 1101)
    assert qltx.info(blob)["format"] == "6.1"
    assert all_readers(blob, mk) == data


def test_both_revisions_read_by_every_reader(mk):
    data = os.urandom(70 * BS)
    for version in (VERSION_6_0, VERSION_6_1):
        blob = _pack_from_parts(data, mk, rand=det_rand(3), block_size=BS, version=version)
        assert parse_container(blob).version == version
        assert all_readers(blob, mk) == data


@settings(max_examples=60, deadline=None)
@given(offset=st.integers(0, 140 * BS), length=st.integers(0, 20 * BS))
def test_seek_matches_slice(offset, length):
    mk = b"k" * 32
    data = SEEK_DATA
    blob = SEEK_BLOB.setdefault("blob", make(data, mk, seed=9))
    assert qltx.seek_extract(blob, offset, length, mk) == data[offset:offset + length]


SEEK_DATA = os.urandom(130 * BS + 123)
SEEK_BLOB: dict = {}


def test_random_read_fetches_one_page(mk):
    """A 4 KiB read: header, keyring, trailer, footer, one page, the block: never the other pages."""
    data = os.urandom(300 * BS)
    blob = make(data, mk)
    reads = []

    class Counting:
        def __init__(self, ra):
            self._ra = ra
            self.size, self.name, self.positional = ra.size, ra.name, True

        def read_exact(self, off, n):
            reads.append((off, n))
            return self._ra.read_exact(off, n)

        pread = read_exact

        def read_into(self, off, view):
            reads.append((off, len(view)))
            return self._ra.read_into(off, view)

        def close(self):
            self._ra.close()

    with Container(Counting(open_random_access(blob)), mk) as c:
        assert c.index.pages_read == 0
        assert c.read_range(250 * BS + 7, 100) == data[250 * BS + 7:250 * BS + 107]
        assert c.index.pages_read == 1
    total = sum(n for _, n in reads)
    assert total < 3 * 1024 + 64 * 56 + 2 * (BS + 220) + 4096, reads


def test_empty_stream_both_forms(mk):
    blob = make(b"", mk)
    assert parse_container(blob).footer.num_blocks == 0
    assert all_readers(blob, mk) == b""
    # the other form: one empty final block (readers accept it)
    s = Sealer(mk, block_size=BS, page_shift=6)
    s.record_entries = True
    blob = s.header_bytes + s.seal_block(b"", True) + s.finish()
    assert parse_container(blob).footer.num_blocks == 1
    spec_check(blob)
    assert all_readers(blob, mk) == b""


# -- damage to the new parts --------------------------------------------------------------------

def _page_spans(blob: bytes):
    p = parse_container(blob)
    return [(t.ofs_page, 16 + 56 * t.page.num_entries) for t in p.footer.pages]


def _fails_everywhere(blob: bytes, mk: bytes, what=(DamagedError, TruncatedError)):
    with pytest.raises(what):
        qltx.unpack(blob, io.BytesIO(), mk)
    with pytest.raises(what):
        qltx.unpack(Pipe(blob), io.BytesIO(), mk)
    with pytest.raises(what):
        with Container(open_random_access(blob), mk) as c:
            c.read_range(0, c.size)


@pytest.mark.parametrize("how", ["edit", "swap", "drop", "duplicate", "foreign"])
def test_damaged_pages_are_detected(mk, how):
    data = os.urandom(200 * BS)
    blob = bytearray(make(data, mk))
    spans = _page_spans(bytes(blob))
    (a, la), (b, lb) = spans[0], spans[1]
    if how == "edit":
        blob[a + 16 + 3] ^= 1
    elif how == "swap":  # two pages of equal size trade places
        pa, pb = bytes(blob[a:a + la]), bytes(blob[b:b + lb])
        blob[a:a + la], blob[b:b + lb] = pb, pa
    elif how == "drop":
        del blob[a:a + la]
    elif how == "duplicate":
        blob[b:b] = blob[a:a + la]
    elif how == "foreign":  # the same page of another container made with the same key
        other = make(data, mk, seed=2)
        oa, ol = _page_spans(other)[0]
        blob[a:a + la] = other[oa:oa + ol]
    _fails_everywhere(bytes(blob), mk)
    try:  # keyless: a structure error is raised; damage found in pages or blocks is reported
        r = qltx.verify(bytes(blob))
    except (DamagedError, TruncatedError):
        return
    assert not r.ok and r.errors


def test_keyless_verify_names_a_damaged_page(mk):
    blob = bytearray(make(os.urandom(200 * BS), mk))
    a, _ = _page_spans(bytes(blob))[2]
    blob[a + 40] ^= 0x80
    r = qltx.verify(bytes(blob))
    assert not r.ok and any("index page 2" in e for e in r.errors), r.errors
    assert qltx.verify(make(os.urandom(10 * BS), mk)).ok


def test_every_header_byte_is_authenticated(mk):
    blob = make(os.urandom(3 * BS), mk)
    for i in range(6, 256):
        if 88 <= i < 120:
            continue  # the patched totals: zero or equal to the footer's (checked below)
        bad = bytearray(blob)
        bad[i] ^= 1
        with pytest.raises((DamagedError, WrongKeyError, QeltrixError)):
            qltx.unpack(bytes(bad), io.BytesIO(), mk)


def test_patched_totals_must_agree(mk):
    blob = bytearray(make(os.urandom(3 * BS), mk))
    struct.pack_into(">Q", blob, 96, 12345)  # len_plaintext
    with pytest.raises(DamagedError, match="totals|cannot hold"):
        qltx.unpack(bytes(blob), io.BytesIO(), mk)
    struct.pack_into(">Q", blob, 96, 3 * BS - 1)  # plausible, but not the footer's
    with pytest.raises(DamagedError, match="totals|does not match"):
        qltx.unpack(bytes(blob), io.BytesIO(), mk)


def test_bytes_after_the_trailer(mk):
    blob = make(os.urandom(3 * BS), mk) + b"x"
    with pytest.raises((DamagedError, TruncatedError)):
        qltx.unpack(blob, io.BytesIO(), mk)
    with pytest.raises((DamagedError, TruncatedError)):
        qltx.unpack(Pipe(blob), io.BytesIO(), mk)


def test_block_key_not_bound_to_content_is_rejected(mk, monkeypatch):
    """A writer that wraps a CDK not derived from FK, salt, index and H: readers recompute it."""
    from qeltrix.crypto import FileKeys

    real = FileKeys.block_key
    monkeypatch.setattr(FileKeys, "block_key", lambda self, salt, i, h: real(self, salt, i + 1, h))
    blob = make(os.urandom(2 * BS), mk)
    monkeypatch.setattr(FileKeys, "block_key", real)
    with pytest.raises(DamagedError, match="block key"):
        qltx.unpack(blob, io.BytesIO(), mk)


# -- keyring --------------------------------------------------------------------------------------

def test_slot_added_by_a_stranger_is_detected(mk):
    blob = bytearray(make(os.urandom(2 * BS), mk))
    h = _core.decode_header61(bytes(blob[:256]))
    size = h.keyring_copy_size
    stranger = os.urandom(32)
    # the stranger writes a raw slot for their own key into both copies (an empty slot each)
    from qeltrix.crypto import raw_slot_kek, wrap_secret

    body = wrap_secret(raw_slot_kek(stranger, h.container_id), os.urandom(32))
    for copy in (0, 1):
        at = 256 + copy * size + 24 + 128 * 5
        blob[at:at + 4 + len(body)] = bytes([_core.SLOT_RAW, 0]) + len(body).to_bytes(2, "big") + body
    with pytest.raises(WrongKeyError):
        qltx.unpack(bytes(blob), io.BytesIO(), stranger)
    with pytest.raises(DamagedError, match="keyring"):
        qltx.unpack(bytes(blob), io.BytesIO(), mk)


def test_one_torn_copy_falls_back_to_the_other(mk):
    data = os.urandom(2 * BS)
    blob = bytearray(make(data, mk))
    h = _core.decode_header61(bytes(blob[:256]))
    for which in (0, 1):
        bad = bytearray(blob)
        start = 256 + which * h.keyring_copy_size
        bad[start + 30:start + 90] = os.urandom(60)
        assert all_readers(bytes(bad), mk) == data
    for at in (15, 24 + 128 * 9 + 50):  # the generation (MAC fails), an empty slot (not zero: malformed)
        both = bytearray(blob)
        for which in (0, 1):
            both[256 + which * h.keyring_copy_size + at] ^= 1
        with pytest.raises(DamagedError, match="keyring"):
            qltx.unpack(bytes(both), io.BytesIO(), mk)


def test_several_ways_in(tmp_path, mk):
    from qeltrix.recipients import X25519Identity

    alice, bob = X25519Identity.generate(), X25519Identity.generate()
    data = os.urandom(5 * BS)
    path = tmp_path / "multi.qltx"
    qltx.pack(data, path, mk, passphrase="pw one", recipients=[alice.recipient, str(bob.recipient)], block_size=BS)
    blob = path.read_bytes()
    assert qltx.info(blob)["keyring"]["used"] == ["raw", "argon2id", "x25519", "x25519"]
    assert all_readers(blob, mk) == data
    assert all_readers(blob, None, passphrase="pw one") == data
    assert all_readers(blob, None, identities=[alice]) == data
    assert all_readers(blob, None, identities=[bob.encode()]) == data
    for wrong in ({"master_key": os.urandom(32)}, {"passphrase": "pw two"},
                  {"identities": [X25519Identity.generate()]}):
        with pytest.raises(WrongKeyError, match="no identity or passphrase opens"):
            qltx.unpack(blob, io.BytesIO(), **wrong)


def test_passphrase_is_normalised(tmp_path):
    nfc = unicodedata.normalize("NFC", "caf\u00e9 cr\u00e8me \u00e5ngstr\u00f6m")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    data = os.urandom(1000)
    qltx.pack(data, tmp_path / "p.qltx", passphrase=nfd)
    assert qltx.seek_extract(tmp_path / "p.qltx", 0, 1000, passphrase=nfc) == data
    assert qltx.seek_extract(tmp_path / "p.qltx", 0, 1000, passphrase=nfc.encode("utf-8")) == data


def test_passphrase_slot_costs_are_capped_before_any_kdf(mk):
    params = KdfParams(KDF_ARGON2ID, b"s" * 16, 17, 64 * 1024, 1)  # t above the cap of 16
    with pytest.raises(LimitError):
        make(b"x", None, passphrase="pw", kdf_params=params)


@pytest.mark.parametrize("name", ["/etc/passwd", "..", ".", "a/b", "a\\b", "nul\0x", "tab\tx", "x" * 1025])
def test_writers_refuse_names_that_are_not_plain(tmp_path, mk, name):
    with pytest.raises(ValueError, match="plain file name|longer than"):
        qltx.pack(b"data", tmp_path / "n.qltx", mk, name=name)
    assert not (tmp_path / "n.qltx").exists()


# -- sizes claimed before they are checked --------------------------------------------------------

HOSTILE = """
import os, struct, sys
import qeltrix as qltx
from qeltrix.errors import QeltrixError
path, case = sys.argv[1], sys.argv[2]
try:
    qltx.info(path)
    print("ACCEPTED")
except QeltrixError as e:
    print("REJECTED", type(e).__name__, e)
# VmHWM (this process image's peak RSS): ru_maxrss would carry the forking parent's peak over exec
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print("RSS_KIB", int(hwm.split()[1]))
"""


def _hostile_file(tmp_path, mk, case: str):
    blob = make(os.urandom(4 * BS), mk)
    p = parse_container(blob)
    fo, fl = p.trailer.ofs_footer, p.trailer.len_footer
    path = tmp_path / f"{case}.qltx"
    big = 1 << 40  # a sparse terabyte: the claims fit its size
    with open(path, "wb") as f:
        f.truncate(big)
        f.write(blob[:fo])
        if case == "trailer-huge-footer":
            f.seek(big - 24)
            f.write(struct.pack(">QQ", fo, big - 24 - fo) + b"QLTX-END")
        elif case == "trailer-max":
            f.seek(big - 24)
            f.write(struct.pack(">QQ", 2**64 - 1, 2**64 - 1) + b"QLTX-END")
        elif case in ("pages-claimed", "blocks-claimed"):
            footer = bytearray(blob[fo:fo + fl])
            if case == "pages-claimed":
                struct.pack_into(">I", footer, 28, 2**32 - 1)
            else:
                struct.pack_into(">Q", footer, 8, 2**31)
            at = big - 24 - len(footer)
            f.seek(at)
            f.write(footer + struct.pack(">QQ", at, len(footer)) + b"QLTX-END")
    return path


@pytest.mark.parametrize("case", ["trailer-huge-footer", "trailer-max", "pages-claimed", "blocks-claimed"])
def test_hostile_sizes_are_rejected_in_bounded_memory(tmp_path, mk, case):
    path = _hostile_file(tmp_path, mk, case)
    script = tmp_path / "probe.py"
    script.write_text(HOSTILE)
    r = subprocess.run([sys.executable, str(script), str(path), case], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "REJECTED" in r.stdout, r.stdout
    rss_kib = int(r.stdout.split("RSS_KIB")[1])
    assert rss_kib < 64 * 1024, r.stdout


def test_reader_caps(mk):
    blob = make(os.urandom(100 * BS), mk)
    with pytest.raises(LimitError, match="max_blocks"):
        Container(open_random_access(blob), mk, limits=Limits(max_blocks=50))
    with pytest.raises(LimitError, match="max_index_bytes"):
        Container(open_random_access(blob), mk, limits=Limits(max_index_bytes=100))
