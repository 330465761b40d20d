"""Property-based attacks: every change an attacker with the storage can make to a container is
reported as a QeltrixError by every reader (or, for verify with a key, ok=False), never wrong
bytes, another exception type or a hang. Hypothesis picks the container (size, cipher, block
size, permutation, streamed or patched header) and the change.

The one change that is not an error: rewriting a patched header's totals to zero (the streamed
form of the same container, which a pipe writer produces). Readers then find the footer through
the trailer and return the right bytes, which the tests check too. And in format 6.1, a change
confined to one of the two keyring copies: readers open the container through the other copy
(that is what it is for) and return the right bytes, while ``verify`` with the key reports the
damaged copy. Containers of both revisions are drawn (6.1 with a one-slot keyring and pages of
64 entries, so that hypothesis explores small files)."""

from __future__ import annotations

import contextlib
import io
import signal
import struct

from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import qeltrix as qltx
from qeltrix.inspect import data_offset, describe, index_entries, parse_container
from qeltrix.writer import _pack_from_parts
from streams import Unseekable

MK = bytes(range(32))
V60, V61 = 6, 0x0601
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@contextlib.contextmanager
def time_limit(seconds: float, what: str):
    """Fails (instead of hanging) when the block runs longer than ``seconds``."""
    def expired(signum, frame):
        raise AssertionError(f"{what}: no answer after {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def make(data: bytes, block_size: int, cipher: int, permute: bool, patched: bool, version: int = V61) -> bytes:
    options = {} if version == V60 else {"keyring_slots": 1, "page_shift": 6}
    import os

    return _pack_from_parts(data, MK, rand=os.urandom, block_size=block_size, cipher_id=cipher, permute=permute,
                            patch=patched, version=version, **options)


def header_len(blob: bytes) -> int:
    """Bytes before block 0: the header (and the 6.1 keyring)."""
    return 416 if blob[4:6] == b"\x00\x06" else 256 + 2 * (56 + 128 * struct.unpack(">I", blob[48:52])[0])


def mutable(blob: bytes) -> slice:
    """The header's patched totals: num_blocks, plaintext_size, footer_offset, footer_size."""
    return slice(140, 172) if blob[4:6] == b"\x00\x06" else slice(88, 120)


def keyring_copies(blob: bytes) -> list[range]:
    if blob[4:6] == b"\x00\x06":
        return []
    size = (header_len(blob) - 256) // 2
    return [range(256, 256 + size), range(256 + size, 256 + 2 * size)]


def only_one_keyring_copy_changed(original: bytes, t: bytes) -> bool:
    if len(original) != len(t):
        return False
    diff = [i for i in range(len(t)) if t[i] != original[i]]
    return bool(diff) and any(all(i in r for i in diff) for r in keyring_copies(original))


params = st.fixed_dictionaries({
    "size": st.one_of(st.just(0), st.integers(1, 3 * 8192 + 5)),
    "block_size": st.sampled_from([4096, 8192]),
    "cipher": st.sampled_from([qltx.CIPHER_AES256_GCM, qltx.CIPHER_CHACHA20_POLY1305]),
    "permute": st.booleans(),
    "patched": st.booleans(),
    "version": st.sampled_from([V61, V60]),
})


@st.composite
def containers(draw):
    p = draw(params)
    data = draw(st.binary(min_size=p["size"], max_size=p["size"])) if p["size"] < 64 else \
        bytes(draw(st.randoms(use_true_random=False)).randbytes(p["size"]))
    return make(data, p["block_size"], p["cipher"], p["permute"], p["patched"], p["version"]), data, p


def layout(blob: bytes):
    """(blocks as bytes, footer bytes, footer offset, index pages as bytes) of a genuine container."""
    p = parse_container(blob)
    fo, fs = p.trailer.ofs_footer, p.trailer.len_footer
    blocks = [blob[e.ofs_block:e.ofs_block + e.len_block] for e in index_entries(p)]
    pages = [] if p.version == V60 else [blob[t.ofs_page:t.ofs_page + 16 + 56 * t.page.num_entries]
                                         for t in p.footer.pages]
    return blocks, blob[fo:fo + fs], fo, pages


def rebuild(blob: bytes, blocks: list[bytes], footer: bytes | None = None) -> bytes:
    """Header (and keyring), other blocks, the index pages, a footer, and a trailer re-pointed at
    it (what a careful attacker writes: the framing stays consistent, only the authenticated
    content changes)."""
    _, own_footer, _, pages = layout(blob)
    footer = own_footer if footer is None else footer
    body = b"".join(blocks) + b"".join(pages)
    head = header_len(blob)
    return blob[:head] + body + footer + struct.pack(">QQ", head + len(body), len(footer)) + b"QLTX-END"


# ---- the readers -------------------------------------------------------------------------------

def _unpack(src):
    out = io.BytesIO()
    qltx.unpack(src, out, MK)
    return out.getvalue()


def _read_open(blob, off, ln):
    with qltx.open(blob, MK) as f:
        f.seek(off)
        return f.read(ln)


def readers(blob: bytes, data: bytes, off: int, ln: int, piece: int):
    """(name, call, the bytes a success must return)."""
    return [
        ("unpack", lambda: _unpack(blob), data),
        ("stream unpack", lambda: _unpack(Unseekable(blob, piece)), data),
        ("seek_extract", lambda: qltx.seek_extract(blob, off, ln, MK), data[off:off + ln]),
        ("open", lambda: _read_open(blob, off, ln), data[off:off + ln]),
    ]


def outcome(name, fn):
    """The bytes returned, or the QeltrixError raised; any other exception fails the test."""
    with time_limit(30, name):
        try:
            return fn()
        except qltx.QeltrixError as e:
            return e


def verify_fails(blob: bytes) -> bool:
    with time_limit(30, "verify"):
        try:
            return not qltx.verify(blob, MK).ok
        except qltx.QeltrixError:
            return True


def inspect_outcome(blob: bytes):
    with time_limit(30, "inspect"):
        try:
            with parse_container(blob) as parsed:
                return describe(parsed)
        except qltx.QeltrixError as e:
            assert str(e), "an inspect error says what is wrong"
            return e


def assert_rejected(blob: bytes, data: bytes, off: int = 0, ln: int = 1 << 30, piece: int = 4096,
                    structural: bool = False, survivable: bool = False):
    """Every reader raises a QeltrixError; so does inspect when ``structural`` (the framing
    itself is broken), and it raises nothing else otherwise. ``survivable`` (one keyring copy
    changed): a reader may instead return the right bytes, through the other copy."""
    for name, fn, _want in readers(blob, data, off, ln, piece):
        got = outcome(name, fn)
        if (survivable or name in ("seek_extract", "open")) and not isinstance(got, Exception):
            # A read that avoids the changed block may succeed, with the right bytes only.
            assert got == _want, f"{name} returned wrong bytes"
            continue
        assert isinstance(got, qltx.QeltrixError), f"{name} accepted a changed container"
    assert verify_fails(blob), "verify with the key accepted a changed container"
    r = inspect_outcome(blob)
    if structural:
        assert isinstance(r, qltx.QeltrixError), "inspect accepted a broken structure"


# ---- mutations -----------------------------------------------------------------------------------

@given(containers(), st.data())
@SETTINGS
def test_bit_flips_anywhere(c, draw):
    blob, data, _p = c
    flips = draw.draw(st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 7)),
                               min_size=1, max_size=3, unique_by=lambda t: t))
    t = bytearray(blob)
    for pos, bit in flips:
        t[pos] ^= 1 << bit
    t = bytes(t)
    assume(t != blob)
    m = mutable(blob)
    if t[m] != blob[m] and not any(t[m]) and t[:m.start] + t[m.stop:] == blob[:m.start] + blob[m.stop:]:
        return  # flipped into the streamed form: checked by test_streamed_form_of_a_patched_header
    off = draw.draw(st.integers(0, max(0, len(data) - 1)))
    assert_rejected(t, data, off, draw.draw(st.integers(1, 3 * 8192)), draw.draw(st.integers(1, 9000)),
                    survivable=only_one_keyring_copy_changed(blob, t))


@given(containers(), st.data())
@SETTINGS
def test_insertions_deletions_and_truncation(c, draw):
    blob, data, _p = c
    kind = draw.draw(st.sampled_from(["insert", "delete", "truncate", "append"]))
    at = draw.draw(st.integers(0, len(blob) - 1))
    if kind == "insert":
        t = blob[:at] + draw.draw(st.binary(min_size=1, max_size=300)) + blob[at:]
    elif kind == "delete":
        t = blob[:at] + blob[at + draw.draw(st.integers(1, 300)):]
    elif kind == "truncate":
        t = blob[:at]
    else:
        t = blob + draw.draw(st.binary(min_size=1, max_size=64))
    assert_rejected(t, data, piece=draw.draw(st.integers(1, 9000)), structural=True)


@given(containers(), st.data())
@SETTINGS
def test_blocks_swapped_dropped_duplicated(c, draw):
    blob, data, _p = c
    blocks, _, _, _ = layout(blob)
    n = len(blocks)
    assume(n > 0)  # an empty stream has no block
    ops = ["drop", "duplicate"] + (["swap", "reverse"] if n > 1 else [])
    op = draw.draw(st.sampled_from(ops))
    i = draw.draw(st.integers(0, n - 1))
    j = draw.draw(st.integers(0, n - 1))
    b = list(blocks)
    if op == "drop":
        del b[i]
    elif op == "duplicate":
        b.insert(j, blocks[i])
    elif op == "swap":
        assume(i != j)
        b[i], b[j] = b[j], b[i]
    else:
        b.reverse()
    assume(b != blocks)
    assert_rejected(rebuild(blob, b), data, piece=draw.draw(st.integers(1, 9000)))


@given(containers(), st.data())
@SETTINGS
def test_transplants_from_another_container_with_the_same_key(c, draw):
    blob, data, p = c
    other = make(bytes(reversed(data)) + b"x", p["block_size"], p["cipher"], p["permute"], p["patched"])
    mine, _, _, _ = layout(blob)
    theirs, their_footer, _, _ = layout(other)
    what = draw.draw(st.sampled_from(["block", "footer", "body", "header"]))
    if what == "block":
        assume(mine)
        i = draw.draw(st.integers(0, len(mine) - 1))
        b = list(mine)
        b[i] = theirs[min(i, len(theirs) - 1)]
        t = rebuild(blob, b)
    elif what == "footer":
        t = rebuild(blob, mine, their_footer)
    elif what == "body":  # all their blocks and footer under my header
        t = blob[:header_len(blob)] + other[header_len(other):]
    else:  # my blocks and footer under their header
        t = other[:header_len(other)] + blob[header_len(blob):]
    assume(t != blob)
    assert_rejected(t, data, piece=draw.draw(st.integers(1, 9000)))


@given(containers(), st.data())
@SETTINGS
def test_header_fields_edited(c, draw):
    blob, data, p = c
    fields = [(4, 2), (6, 1), (7, 1), (8, 4), (12, 4), (16, 32), (48, 16), (64, 12), (76, 32), (108, 32),
              (140, 8), (148, 8), (156, 8), (164, 8), (172, 244)] if p["version"] == V60 else [
              (4, 2), (6, 1), (7, 1), (8, 1), (9, 1), (10, 2), (12, 4), (16, 32), (48, 4), (52, 4), (56, 32),
              (88, 8), (96, 8), (104, 8), (112, 8), (120, 104), (224, 32)]
    at, size = draw.draw(st.sampled_from(fields))
    value = draw.draw(st.binary(min_size=size, max_size=size))
    t = blob[:at] + value + blob[at + size:]
    assume(t != blob)
    m = mutable(blob)
    if not any(t[m]) and t[:m.start] == blob[:m.start] and t[m.stop:] == blob[m.stop:]:
        return  # the streamed form: see below
    assert_rejected(t, data, piece=draw.draw(st.integers(1, 9000)))


@given(containers(), st.data())
@SETTINGS
def test_footer_and_trailer_rewritten(c, draw):
    blob, data, p = c
    blocks, footer, fo, pages = layout(blob)
    what = draw.draw(st.sampled_from(["footer-bytes", "footer-entry", "trailer", "trailer-size"]))
    if what == "footer-bytes":
        at = draw.draw(st.integers(0, len(footer) - 1))
        f = bytearray(footer)
        f[at] = (f[at] + draw.draw(st.integers(1, 255))) % 256
        t = rebuild(blob, blocks, bytes(f))
    elif what == "footer-entry":  # an entry's (6.1: a page's) offsets or hash rewritten, MAC as it was
        assume(blocks)
        f = bytearray(footer)
        if p["version"] == V60:
            e = draw.draw(st.integers(0, len(blocks) - 1))
            at = 64 + 56 * e + draw.draw(st.sampled_from([0, 8, 12, 16, 24, 55]))
        else:
            k = draw.draw(st.integers(0, len(pages) - 1))
            at = 64 + 48 * k + draw.draw(st.sampled_from([0, 7, 8, 15, 16, 47]))
        f[at] ^= draw.draw(st.integers(1, 255))
        t = rebuild(blob, blocks, bytes(f))
    elif what == "trailer":
        t = blob[:-24] + struct.pack(">QQ", draw.draw(st.integers(0, 2**64 - 1)),
                                     draw.draw(st.integers(0, 2**64 - 1))) + b"QLTX-END"
    else:  # the footer offset kept, its size changed
        fs = struct.unpack(">Q", blob[-16:-8])[0]
        t = blob[:-16] + struct.pack(">Q", fs + draw.draw(st.integers(-fs, 4096).filter(bool))) + b"QLTX-END"
    assume(t != blob)
    assert_rejected(t, data, piece=draw.draw(st.integers(1, 9000)))


@given(containers())
@SETTINGS
def test_streamed_form_of_a_patched_header(c):
    """Zeroing the header's totals gives the container a pipe writer would have made: every
    reader returns the same bytes (the totals are a cache of the authenticated footer)."""
    blob, data, p = c
    m = mutable(blob)
    t = blob[:m.start] + bytes(32) + blob[m.stop:]
    assert _unpack(t) == data
    assert _unpack(Unseekable(t, 1000)) == data
    assert qltx.seek_extract(t, 0, len(data), MK) == data
    assert qltx.verify(t, MK).ok


@given(st.binary(max_size=2000))
@SETTINGS
def test_arbitrary_bytes(blob):
    """Bytes no key made: rejected everywhere, with a clear error from inspect."""
    assert_rejected(blob, b"", structural=False)
    r = inspect_outcome(blob)
    assert isinstance(r, qltx.QeltrixError)


# ---- stateful: a sequence of changes -------------------------------------------------------------

class Tamperer(RuleBasedStateMachine):
    """Applies changes one after another; after each, every reader rejects the container unless
    it is (again) byte-for-byte the original."""

    @initialize(c=containers())
    def start(self, c):
        self.original, self.data, self.p = c
        self.blob = self.original

    @rule(pos=st.integers(0, 1 << 20), bit=st.integers(0, 7))
    def flip(self, pos, bit):
        t = bytearray(self.blob)
        if t:
            t[pos % len(t)] ^= 1 << bit
        self.blob = bytes(t)

    @rule(pos=st.integers(0, 1 << 20), junk=st.binary(min_size=1, max_size=40))
    def insert(self, pos, junk):
        pos %= len(self.blob) + 1
        self.blob = self.blob[:pos] + junk + self.blob[pos:]

    @rule(pos=st.integers(0, 1 << 20), n=st.integers(1, 600))
    def delete(self, pos, n):
        if self.blob:
            pos %= len(self.blob)
            self.blob = self.blob[:pos] + self.blob[pos + n:]

    @rule()
    def restore(self):
        self.blob = self.original

    @invariant()
    def rejected_unless_original(self):
        if self.blob == self.original:
            assert _unpack(self.blob) == self.data
            return
        m = mutable(self.original)
        if self.blob[:m.start] + bytes(32) + self.blob[m.stop:] == \
                self.original[:m.start] + bytes(32) + self.original[m.stop:] and \
                not any(self.blob[m]):
            return
        assert_rejected(self.blob, self.data, survivable=only_one_keyring_copy_changed(self.original, self.blob))


TestTamperer = Tamperer.TestCase
TestTamperer.settings = settings(max_examples=30, stateful_step_count=6, deadline=None, derandomize=True,
                                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
