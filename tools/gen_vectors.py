#!/usr/bin/env python3
"""Generate the known-answer vectors in tests/vectors/ (age-testkit / C2SP CCTV style).

Each vector file is a few ``key: value`` header lines, a blank line, then the raw container
bytes. One failure per vector. Everything is deterministic (a SHA-256 counter DRBG supplies every
random byte, and the X25519 ephemeral keys), so ``--check`` can pin the format byte for byte.

Header keys:

- ``expect``: success, wrong key, header failure, keyring failure, footer failure, layout failure
  (trailer, index pages, blocks and pages not tiling the space), block failure, truncated,
  not a container, unsupported version, limit.
- The secret that opens it: ``key`` (hex raw master key), ``passphrase`` or ``identity`` (an age
  ``AGE-SECRET-KEY-1...`` identity, 6.1).
- ``payload`` (SHA-256 hex of the expected plaintext) and ``size``, for success; ``comment``.
- Intermediate values (6.1 vectors; a reader computes them from the secret and compares), hex:
  ``secret`` (the file secret S the keyring wraps), ``fk`` (file key FK), the sub-keys ``k_wrap``,
  ``k_meta``, ``k_header``, ``k_footer``, ``k_info``, ``k_keyring``, ``k_recipient``,
  ``key_commitment``; ``block`` (a block index, decimal) with that block's ``cdk`` and, in a
  permuted container, its ``perm_key`` (72 bytes) and ``perm_table`` (the 64-entry table T, one
  byte each). Values of a failure vector are those of the container it was made from.

6.0 vectors (the first 18) are made with ``_pack_from_parts``; 6.1 vectors with the public
``Sealer`` driven block by block (``seal_at`` + ``record``), which lets a vector hold short blocks
of a live stream, several index pages, and the deliberate faults of the failure vectors (a final
flag where it does not belong, a wrong block hash H sealed consistently).

    python tools/gen_vectors.py          # (re)write tests/vectors/
    python tools/gen_vectors.py --check  # exit 1 if any committed vector differs
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

import qeltrix.recipients
from qeltrix import _core, crypto
from qeltrix.blocks import stored_size
from qeltrix.crypto import KDF_ARGON2ID, KDF_SCRYPT, KdfParams
from qeltrix.keyring import encode_copy, make_slots, prepare_recipients
from qeltrix.recipients import X25519Identity
from qeltrix.fileinfo import encode_file_info
from qeltrix.writer import _deterministic_sealer, _pack_from_parts

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors"
BS = 4096


class Drbg:
    def __init__(self, seed: str):
        self.seed = hashlib.sha256(seed.encode()).digest()
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self.seed + struct.pack(">Q", self.counter)).digest()
            self.counter += 1
        return out[:n]


def key(name: str) -> bytes:
    return hashlib.sha256(b"qeltrix test key " + name.encode()).digest()


def data(n: int, name: str) -> bytes:
    return Drbg("plaintext " + name)(n)


def _flip(blob: bytes, pos: int) -> bytes:
    b = bytearray(blob)
    b[pos] ^= 0x01
    return bytes(b)


def _trailer(blob: bytes) -> tuple[int, int]:
    return struct.unpack(">QQ", blob[-24:-8])


def vectors():
    """Yield (file name, header dict, container bytes)."""
    k = key("a")

    def ok(name, pt, blob, comment, **extra):
        h = {"expect": "success", **extra, "payload": hashlib.sha256(pt).hexdigest(), "size": str(len(pt)),
             "comment": comment}
        if "passphrase" not in extra:
            h = {"expect": "success", "key": k.hex(), **{x: h[x] for x in h if x != "expect"}}
        return name, h, blob

    def bad(name, expect, blob, comment, k=k):
        return name, {"expect": expect, "key": k.hex(), "comment": comment}, blob

    pt = b""
    yield ok("empty", pt, _pack_from_parts(pt, k, rand=Drbg("empty"), block_size=BS), "no block at all")
    pt = b"hello, qeltrix\n"
    yield ok("one_block", pt, _pack_from_parts(pt, k, rand=Drbg("one"), block_size=BS, name="hello.txt"),
             "one short final block; stored name hello.txt")
    pt = data(3 * BS, "full")
    yield ok("full_blocks", pt, _pack_from_parts(pt, k, rand=Drbg("full"), block_size=BS), "three full blocks")
    pt = data(2 * BS + 1000, "chacha")
    yield ok("chacha", pt, _pack_from_parts(pt, k, rand=Drbg("chacha"), block_size=BS, cipher_id=2),
             "ChaCha20-Poly1305 payloads")
    pt = data(BS + 100, "perm")
    yield ok("permuted", pt, _pack_from_parts(pt, k, rand=Drbg("perm"), block_size=BS, permute=True),
             "permuted block bytes")
    pt = data(BS + 5, "streamed")
    yield ok("streamed_header", pt, _pack_from_parts(pt, k, rand=Drbg("streamed"), block_size=BS, patch=False),
             "header never patched: totals zero, footer found through the trailer")
    pt = data(500, "argon")
    argon = KdfParams(KDF_ARGON2ID, Drbg("argon salt")(16), 1, 64, 1)
    yield ok("passphrase_argon2id", pt,
             _pack_from_parts(pt, rand=Drbg("argon"), passphrase="qeltrix", kdf_params=argon, block_size=BS),
             "Argon2id t=1 m=64KiB p=1 (a test cost)", passphrase="qeltrix")
    pt = data(500, "scrypt")
    scrypt = KdfParams(KDF_SCRYPT, Drbg("scrypt salt")(16), 10, 8, 1)
    yield ok("passphrase_scrypt", pt,
             _pack_from_parts(pt, rand=Drbg("scrypt"), passphrase="qeltrix", kdf_params=scrypt, block_size=BS),
             "scrypt N=2^10 r=8 p=1 (a test cost)", passphrase="qeltrix")

    base_pt = data(3 * BS, "base")
    base = _pack_from_parts(base_pt, k, rand=Drbg("base"), block_size=BS)
    yield bad("wrong_key", "wrong key", base, "opened with another key", k=key("b"))
    yield bad("header_mac", "header failure", _flip(base, 50),
              "kdf_salt byte flipped (raw key: only the header MAC catches it)")
    yield bad("block_payload", "block failure", _flip(base, 416 + (BS + 220) + 300), "payload byte of block 1 flipped")
    yield bad("block_meta", "block failure", _flip(base, 416 + 60), "sealed metadata byte of block 0 flipped")
    b0, b1 = base[416:416 + BS + 220], base[416 + BS + 220:416 + 2 * (BS + 220)]
    yield bad("blocks_swapped", "block failure", base[:416] + b1 + b0 + base[416 + 2 * (BS + 220):], "blocks 0 and 1 swapped")
    ofs, ln = _trailer(base)
    yield bad("footer_mac", "footer failure", _flip(base, ofs + 64 + 30), "index entry 0 hash byte flipped")
    yield bad("truncated", "truncated", base[:ofs], "cut before the footer")
    yield bad("not_a_container", "not a container", b"PK\x03\x04" + base[4:], "wrong magic")
    v = bytearray(base)
    v[4:6] = b"\x00\x07"
    yield bad("version_7", "unsupported version", bytes(v), "version 7")
    greedy = KdfParams(KDF_ARGON2ID, Drbg("greedy salt")(16), 1, 64, 1)
    g = bytearray(_pack_from_parts(b"x", rand=Drbg("greedy"), passphrase="qeltrix", kdf_params=greedy, block_size=BS))
    g[68:72] = struct.pack(">I", 64 * 1024 * 1024)  # 64 GiB of memory asked
    yield "kdf_cost_limit", {"expect": "limit", "passphrase": "qeltrix", "comment": "Argon2id asks 64 GiB"}, bytes(g)
    yield from vectors60_faults()
    yield from vectors61()


# --- format 6.1 -----------------------------------------------------------------------------

V61 = crypto.VERSION_6_1
H61 = _core.HEADER61_SIZE  # 256


class Recorder:
    """A Drbg that remembers what it gave, in order (to find a block's salt for its CDK)."""

    def __init__(self, seed: str):
        self.drbg = Drbg(seed)
        self.draws: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        b = self.drbg(n)
        self.draws.append(b)
        return b


@contextlib.contextmanager
def deterministic_ephemerals(seed: str):
    """age's X25519 wrap draws a fresh ephemeral key (``X25519PrivateKey.generate``) inside
    ``qeltrix.recipients.wrap_file_key``; here only, it comes from a Drbg instead."""
    real = qeltrix.recipients.X25519PrivateKey
    drbg = Drbg("ephemeral " + seed)

    class Ephemeral:
        from_private_bytes = staticmethod(real.from_private_bytes)

        @staticmethod
        def generate():
            return real.from_private_bytes(drbg(32))

    qeltrix.recipients.X25519PrivateKey = Ephemeral
    try:
        yield
    finally:
        qeltrix.recipients.X25519PrivateKey = real


def identity(name: str) -> X25519Identity:
    return X25519Identity(hashlib.sha256(b"qeltrix test identity " + name.encode()).digest())


class Sealed:
    """A 6.1 container made by ``seal61``, with what its intermediate values come from."""

    def __init__(self, blob, sealer, rand, chunks, wrong_h=None):
        self.blob, self.sealer, self.rand, self.chunks = blob, sealer, rand, chunks
        self.wrong_h = wrong_h or {}

    @property
    def plaintext(self) -> bytes:
        return b"".join(c for c, _ in self.chunks)


def seal61(chunks, seed: str, *, key=None, passphrase=None, recipients=None, kdf_params=None,
           patch: bool = True, name=None, mtime: int = 0, flags=None, wrong_h=None, version: int = V61,
           **options) -> Sealed:
    """A 6.1 container (6.0 with ``version=6``) of ``chunks`` ((data, final) per block), one block at a time through the
    public Sealer. Faults for failure vectors: ``flags`` {block: final flag written in the block}
    (the index and pages are laid out as for the true flags); ``wrong_h`` {block: H}: that block
    is sealed, its CDK and permutation key derived, with this H instead of the hash of its
    plaintext, so that everything is authentic and only H is wrong."""
    rand = Recorder(seed)
    with deterministic_ephemerals(seed):
        sealer = _deterministic_sealer(rand, key, passphrase=passphrase, recipients=recipients, workers=1,
                                       kdf_params=kdf_params, version=version, block_size=BS, **options)
    parts = [sealer.header_bytes]
    offset = 0
    keys = sealer.keys
    true_hash = keys.block_hash_many
    for i, (data, final) in enumerate(chunks):
        out = bytearray(stored_size(len(data)))
        if wrong_h and i in wrong_h:
            keys.block_hash_many = lambda bufs, h=wrong_h[i]: [h for _ in bufs]
        digest = sealer.seal_at(i, offset, bytes(data), (flags or {}).get(i, final), out)
        keys.block_hash_many = true_hash
        parts += [bytes(out), sealer.record(len(data), len(out), digest, final)]
        offset += len(data)
    parts.append(sealer.finish(name, mtime))
    if patch:
        patched = sealer.patched_header()
        parts[0] = patched + parts[0][len(patched):]
    return Sealed(b"".join(parts), sealer, rand, chunks, wrong_h)


def blocks_of(data: bytes, size: int = BS):
    """``data`` cut into full blocks, the last one final (no block for no data)."""
    n = len(data)
    return [(data[o:o + size], o + size >= n) for o in range(0, n, size)]


def _expand(prk: bytes, label: bytes, n: int = 32) -> bytes:
    return HKDFExpand(hashes.SHA256(), n, label).derive(prk)


def intermediates(sealed: Sealed, block: int | None = 0) -> dict:
    """The intermediate values of a 6.1 container, each checked here against what the
    implementation does with it (its public FileKeys methods), so that they are its values."""
    sealer = sealed.sealer
    keys, h = sealer.keys, sealer.header
    cid, secret = keys.container_id, keys.secret
    assert sealed.rand.draws[0] == cid and sealed.rand.draws[1] == secret
    info = crypto.LABEL_FILE_KEY + struct.pack(">HBI", V61, h.cipher_id, h.block_size)
    fk = HKDF(hashes.SHA256(), 32, salt=cid, info=info).derive(secret)
    sub = {name: _expand(fk, label) for name, label in (
        ("k_wrap", crypto.LABEL_WRAP), ("k_meta", crypto.LABEL_META), ("k_header", crypto.LABEL_HEADER_MAC),
        ("k_footer", crypto.LABEL_FOOTER_MAC), ("k_info", crypto.LABEL_FILE_INFO),
        ("k_keyring", crypto.LABEL_KEYRING_MAC), ("k_recipient", crypto.LABEL_RECIPIENT_TAG),
        ("key_commitment", crypto.LABEL_COMMIT))}
    # each value as the implementation uses it
    probe, iv = b"probe", bytes(range(12))
    assert sub["key_commitment"] == keys.commitment
    assert hmac.digest(sub["k_header"], probe, "sha256") == keys.header_mac(probe)
    assert hmac.digest(sub["k_keyring"], probe + probe, "sha256") == keys.keyring_mac(probe, probe)
    assert hmac.digest(sub["k_footer"], probe * 3, "sha256") == keys.footer_mac(probe, probe, probe)
    assert hmac.digest(sub["k_recipient"], probe, "sha256")[:16] == keys.recipient_tag(probe)
    assert keys.seal_info(iv, probe) == iv + AESGCM(sub["k_info"]).encrypt(iv, probe, cid)
    assert keys.wrap_cdk(iv, bytes(32), 7) == AESGCM(sub["k_wrap"]).encrypt(iv, bytes(32), cid + struct.pack(">Q", 7))
    meta_out = bytearray(len(probe) + 16)
    keys.seal_meta(iv, probe, probe, meta_out)
    assert bytes(meta_out) == AESGCM(sub["k_meta"]).encrypt(iv, probe, cid + probe)
    vals = {"secret": secret, "fk": fk, **sub}
    out = {k: v.hex() for k, v in vals.items()}
    if block is not None and block < len(sealed.chunks):
        data = sealed.chunks[block][0]
        salt = sealed.rand.draws[2 + 4 * block]  # per block: salt, payload iv, wrap iv, meta iv
        pt_hash = sealed.wrong_h.get(block) or keys.block_hash_many([data])[0]  # the H sealed
        cdk = keys.block_key(salt, block, pt_hash)
        assert cdk == HKDF(hashes.SHA256(), 32, salt=salt,
                           info=crypto.LABEL_BLOCK_KEY + struct.pack(">Q", block) + pt_hash).derive(fk)
        out["block"] = str(block)
        out["cdk"] = cdk.hex()
        if sealer.permuted:
            pk = keys.permutation_key(cdk, salt, block, pt_hash)
            table = bytearray(range(64))
            _core.permute(table, pk)  # one 64-byte chunk: out[k] = in[T[k]] = T[k]
            out["perm_key"] = pk.hex()
            out["perm_table"] = bytes(table).hex()
    return out


def with_footer(sealed: Sealed, edit, blob: bytes | None = None) -> bytes:
    """``blob`` (default: the sealed container) with its footer changed by ``edit`` (a function of
    a bytearray) and MACed again with the container's key, as a key holder could."""
    b = bytearray(sealed.blob if blob is None else blob)
    ofs, ln = _trailer(bytes(b))
    f = bytearray(b[ofs:ofs + ln])
    edit(f)
    keys, h = sealed.sealer.keys, sealed.sealer.header
    f[32:64] = keys.footer_mac(h.header_mac, bytes(f[:32]), bytes(f[64:]))
    b[ofs:ofs + ln] = f
    return bytes(b)


def with_page(sealed: Sealed, k: int, edit) -> bytes:
    """The container with index page ``k`` changed by ``edit``, its hash in the top table and the
    footer MAC made to match (so only the rule the edit breaks catches it)."""
    b = bytearray(sealed.blob)
    ofs, _ = _trailer(sealed.blob)
    top = ofs + 64 + 48 * k
    at, = struct.unpack(">Q", b[top:top + 8])
    n, = struct.unpack(">I", b[at + 4:at + 8])
    page = bytearray(b[at:at + 16 + 56 * n])
    edit(page)
    b[at:at + len(page)] = page
    digest = sealed.sealer.index_hash([bytes(page)])[0]
    return with_footer(sealed, lambda f: f.__setitem__(slice(64 + 48 * k + 16, 64 + 48 * k + 48), digest), bytes(b))


def vectors60_faults():
    """6.0 containers with the faults that need a writer's hand (authentic but for one rule)."""
    k = key("a")
    pts = data(3 * BS, "60 faults")

    def bad(name, expect, blob, comment):
        return "v60_" + name, {"expect": expect, "key": k.hex(), "comment": comment}, blob

    s = seal61(blocks_of(pts), "60 faults", key=k, version=6, flags={2: False})
    yield bad("final_cleared", "block failure", s.blob, "the last block sealed without the final flag "
              "(footer and MACs authentic)")
    s = seal61(blocks_of(pts), "60 faults", key=k, version=6, flags={1: True})
    yield bad("final_early", "block failure", s.blob, "block 1 of 3 sealed with the final flag")
    s = seal61(blocks_of(pts), "60 faults", key=k, version=6, wrong_h={1: hashlib.sha256(b"not block 1").digest()})
    yield bad("wrong_h", "block failure", s.blob, "block 1 sealed with a wrong H, its CDK derived from it: "
              "only its plaintext hash differs")
    base = seal61(blocks_of(pts), "60 faults", key=k, version=6)
    hb = bytearray(base.blob)
    n_blocks, plain, fofs, flen = struct.unpack(">QQQQ", hb[140:172])
    hb[140:172] = struct.pack(">QQQQ", n_blocks, plain - 1, fofs - 1, flen)  # consistent in itself
    yield bad("header_totals", "header failure", bytes(hb),
              "the patched header's size and footer offset are one less than the footer's")
    yield bad("bytes_after_trailer", "layout failure", base.blob + base.blob[-24:], "the trailer repeated after "
              "the trailer")

    def other_size(f):
        info = base.sealer.keys.seal_info(Drbg("60 info iv")(12), encode_file_info(3 * BS + 1, 0, None))
        f[len(f) - len(info):] = info
    yield bad("info_size", "footer failure", with_footer(base, other_size),
              "the sealed file info says one byte more than the footer (footer MAC made to match)")

    def shift_entry(f):
        e = 64 + 56 * 1
        f[e:e + 8] = struct.pack(">Q", struct.unpack(">Q", f[e:e + 8])[0] + 1)
    yield bad("entry_offset", "layout failure", with_footer(base, shift_entry),
              "entry 1's plaintext offset is not the sum of the entries before it (footer MAC made to match)")


def vectors61():
    """The 6.1 vectors: each slot type, several slots, both hashes, pages, keyring copies; one
    expected failure each for the faults the spec makes readers reject."""
    k = key("a")
    alice, bob = identity("alice"), identity("bob")
    argon = KdfParams(KDF_ARGON2ID, Drbg("argon61 salt")(16), 1, 64, 1)
    scrypt = KdfParams(KDF_SCRYPT, Drbg("scrypt61 salt")(16), 10, 8, 1)

    def secret_of(kind):
        if kind == "key":
            return {"key": k.hex()}
        if kind == "passphrase":
            return {"passphrase": "qeltrix"}
        return {"identity": kind.encode()}

    def ok(name, sealed, comment, opener="key", block=0):
        pt = sealed.plaintext
        h = {"expect": "success", **secret_of(opener), "payload": hashlib.sha256(pt).hexdigest(),
             "size": str(len(pt)), "comment": comment, **intermediates(sealed, block)}
        return "v61_" + name, h, sealed.blob

    def bad(name, expect, blob, comment, sealed, opener="key", block=0):
        h = {"expect": expect, **secret_of(opener), "comment": comment, **intermediates(sealed, block)}
        return "v61_" + name, h, blob

    # success: contents, ciphers, hashes
    yield ok("empty", seal61([], "61 empty", key=k), "no block and no index page", block=None)
    s = seal61([(b"hello, qeltrix\n", True)], "61 one", key=k, name="hello.txt")
    yield ok("one_block", s, "one short final block; stored name hello.txt")
    base = seal61(blocks_of(data(3 * BS, "61 base")), "61 base", key=k)
    yield ok("raw_key", base, "three full blocks; raw-key slot; index BLAKE3, block hash SHA-256 (defaults)",
             block=1)
    s = seal61(blocks_of(data(2 * BS + 1000, "61 chacha")), "61 chacha", key=k, cipher_id=2,
               block_hash="blake3", index_hash="sha256")
    yield ok("chacha_blake3", s, "ChaCha20-Poly1305; block hash BLAKE3, index hash SHA-256")
    s = seal61(blocks_of(data(BS + 1000, "61 sha")), "61 sha", key=k, block_hash="sha256", index_hash="sha256")
    yield ok("sha256_sha256", s, "block and index hash SHA-256")
    s = seal61(blocks_of(data(BS + 1000, "61 b3")), "61 b3", key=k, block_hash="blake3", index_hash="blake3")
    yield ok("blake3_blake3", s, "block and index hash BLAKE3")
    s = seal61(blocks_of(data(BS + 100, "61 perm")), "61 perm", key=k, permute=True)
    yield ok("permuted", s, "permuted block bytes (6.1 permutation key from FK)", block=0)
    s = seal61(blocks_of(data(BS + 5, "61 streamed")), "61 streamed", key=k, patch=False)
    yield ok("streamed_header", s, "header never patched: totals zero")
    live = [(data(1 + (7 * j) % 40, f"61 live {j}"), j == 149) for j in range(150)]
    pages = seal61(live, "61 pages", key=k, page_shift=6, permute=True)
    yield ok("pages", pages, "150 short blocks of a live stream in index pages of 64 entries (3 pages), permuted",
             block=70)

    # success: slot types and several slots
    s = seal61(blocks_of(data(600, "61 argon")), "61 argon", passphrase="qeltrix", kdf_params=argon)
    yield ok("argon2id", s, "Argon2id slot, t=1 m=64KiB p=1 (a test cost)", opener="passphrase")
    s = seal61(blocks_of(data(600, "61 scrypt")), "61 scrypt", passphrase="qeltrix", kdf_params=scrypt)
    yield ok("scrypt", s, "scrypt slot, N=2^10 r=8 p=1 (a test cost)", opener="passphrase")
    x25 = seal61(blocks_of(data(600, "61 x25519")), "61 x25519", recipients=[str(alice.recipient)])
    yield ok("x25519", x25, "age X25519 slot", opener=alice)
    multi = seal61(blocks_of(data(BS + 10, "61 multi")), "61 multi", key=k, passphrase="qeltrix",
                   kdf_params=argon, recipients=[str(alice.recipient), str(bob.recipient)], keyring_slots=5)
    for opener, label in (("key", "key"), ("passphrase", "passphrase"), (alice, "alice"), (bob, "bob")):
        yield ok(f"multi_{label}", multi, f"raw, Argon2id and two X25519 slots of 5; opened by {label}", opener=opener)

    yield ok("empty_final_block", seal61([(b"", True)], "61 empty final", key=k),
             "one empty final block (readers accept it)")
    yield ok("empty_final_after_data", seal61([(b"live ", False), (b"stream", False), (b"", True)],
                                              "61 empty final 2", key=k),
             "a live stream flushed twice, then closed: an empty final block")
    name, h, blob = ok("passphrase_nfd", seal61(blocks_of(data(300, "61 nfd")), "61 nfd", passphrase="caf\u00e9",
                                               kdf_params=argon),
                       "sealed with the NFC passphrase 'caf' + U+00E9; opened with its NFD spelling "
                       "(e + U+0301): 6.1 normalizes to NFC", opener="passphrase")
    h["passphrase"] = "cafe\u0301"
    yield name, h, blob

    # keyring copies (spec: "Opening a 6.1 container")
    slots = base.sealer.header.keyring_slots
    size = 56 + 128 * slots
    A, B = H61, H61 + size
    b = bytearray(base.blob)
    b[A:A + 4] = b"XKEY"
    yield ok("copy_a_malformed", Sealed(bytes(b), base.sealer, base.rand, base.chunks),
             "copy A's magic is broken (a torn write): copy B opens it", block=1)
    b = bytearray(base.blob)
    b[A + 8:A + 16] = struct.pack(">Q", 2)
    yield ok("copy_a_newer_mac_fails", Sealed(bytes(b), base.sealer, base.rand, base.chunks),
             "copy A claims generation 2 but its keyring_mac fails: copy B (generation 1) opens it", block=1)
    k2 = key("rekeyed")
    new = encode_copy(base.sealer.keys, base.sealer.header.header_mac, slots, 2,
                      make_slots(prepare_recipients(k2), base.sealer.keys))
    unknown = encode_copy(base.sealer.keys, base.sealer.header.header_mac, slots, 1,
                          [(9, b"a slot type from the future"), *make_slots(prepare_recipients(k), base.sealer.keys)])
    yield ok("unknown_slot_type", Sealed(base.blob[:A] + unknown + unknown + base.blob[B + size:], base.sealer,
                                         base.rand, base.chunks),
             "slot 0 has type 9 (unknown: skipped), slot 1 the raw key's", block=1)
    midway = Sealed(base.blob[:B] + new + base.blob[B + size:], base.sealer, base.rand, base.chunks)
    name, h, blob = ok("rekey_midway_new", midway, "a rekey stopped after its commit point: copy B "
                       "(generation 2) holds a new key's slot, copy A (generation 1) the old one; the new "
                       "key opens it (through B)", block=1)
    h["key"] = k2.hex()
    yield name, h, blob
    yield ok("rekey_midway_old", midway, "the same container: the old key still opens copy A (generation 1)",
             block=1)

    # failures
    name, h, blob = bad("wrong_key", "wrong key", base.blob, "opened with a key that has no slot", base)
    h["key"] = key("b").hex()
    yield name, h, blob
    b = bytearray(base.blob)
    b[10:12] = b"\x00\x01"  # the permuted flag: covered by header_mac
    yield bad("header_flag", "header failure", bytes(b), "the permuted flag set after sealing", base)
    ofs, ln = _trailer(base.blob)
    yield bad("truncated", "truncated", base.blob[:ofs], "cut before the footer", base)
    pts = data(3 * BS, "61 base")
    s = seal61(blocks_of(pts), "61 base", key=k, flags={2: False})
    yield bad("final_cleared", "block failure", s.blob,
              "the last block sealed without the final flag (index, pages and MACs authentic)", s)
    s = seal61(blocks_of(pts), "61 base", key=k, flags={1: True})
    yield bad("final_early", "block failure", s.blob,
              "block 1 of 3 sealed with the final flag (index, pages and MACs authentic)", s)
    s = seal61(blocks_of(pts), "61 base", key=k, wrong_h={1: hashlib.sha256(b"not block 1").digest()})
    yield bad("wrong_h", "block failure", s.blob, "block 1 sealed with a wrong H (CDK and all tags "
              "authentic for that H): only its plaintext hash differs", s, block=1)
    first = base.sealer.data_offset
    bl = BS + 220
    b = base.blob
    dup = b[:first + 2 * bl] + b[first + bl:first + 2 * bl] + b[first + 3 * bl:]
    yield bad("block_duplicated", "block failure", dup, "block 1 stored again in block 2's place", base)
    other = seal61(blocks_of(data(3 * BS, "61 other")), "61 other", key=k)
    ob = other.blob
    moved = b[:first + bl] + ob[first + bl:first + 2 * bl] + b[first + 2 * bl:]
    yield bad("block_transplanted", "block failure", moved,
              "block 1 taken from another container sealed for the same raw key", base)
    yield bad("bytes_after_trailer", "layout failure", b + b[-24:],
              "the trailer repeated after the trailer (the last 24 bytes are a trailer, but its footer "
              "ends 24 bytes early)", base)
    hb = bytearray(b)
    n_blocks, plain, fofs, flen = struct.unpack(">QQQQ", hb[88:120])
    hb[88:120] = struct.pack(">QQQQ", n_blocks, plain - 1, fofs - 1, flen)  # a consistent header, another footer
    yield bad("header_totals", "header failure", bytes(hb),
              "patched header totals (size and footer offset one less) disagree with the footer's", base)
    fb = bytearray(b)
    fb[ofs + 8:ofs + 16] = struct.pack(">Q", 1 << 31)
    fb[ofs + 28:ofs + 32] = struct.pack(">I", (1 << 31) >> 10)
    yield bad("footer_oversized", "footer failure", bytes(fb),
              "footer claims 2^31 blocks in 2^21 pages: its length is not its formula", base)
    # a stranger (no S) puts a slot of their own into both copies of the keyring
    stranger = key("stranger")
    sb = bytearray(b)
    for at in (A, B):
        slot = at + 24 + 128 * 1  # slot 1 is empty
        body = crypto.wrap_secret(crypto.raw_slot_kek(stranger, base.sealer.container_id), Drbg("stranger S")(32))
        sb[slot:slot + 4 + len(body)] = bytes([_core.SLOT_RAW, 0]) + struct.pack(">H", len(body)) + body
    yield bad("stranger_slot", "keyring failure", bytes(sb),
              "a raw-key slot added to both copies by someone without S: keyring_mac fails", base)
    name, h, blob = bad("stranger_slot_own_key", "wrong key", bytes(sb),
                        "the same container opened with the stranger's key: S' fails the key commitment", base)
    h["key"] = stranger.hex()
    yield name, h, blob
    # a stranger who knows only alice's public key wraps a secret S' of their own to her and puts
    # that slot before hers (so hers moves to slot 1)
    with deterministic_ephemerals("61 stranger x25519"):
        share, wrapped = qeltrix.recipients.wrap_file_key(alice.recipient, Drbg("61 stranger S'")(32))
    evil = bytes([_core.SLOT_X25519, 0]) + struct.pack(">H", 96) + share + wrapped + Drbg("61 stranger tag")(16)
    xs = x25.sealer.header.keyring_slots
    xa, xb = H61, H61 + 56 + 128 * xs
    xblob = x25.blob

    def stranger_copy(at: int) -> bytes:
        c = bytearray(xblob[at:at + 56 + 128 * xs])
        c[8:16] = struct.pack(">Q", 2)
        c[24 + 128:24 + 256] = c[24:24 + 128]
        c[24:24 + 128] = evil + bytes(128 - len(evil))
        return bytes(c)
    one = xblob[:xa] + stranger_copy(xa) + xblob[xb:]
    yield ok("stranger_x25519_in_a", Sealed(one, x25.sealer, x25.rand, x25.chunks),
             "copy A (generation 2) edited by a stranger: slot 0 wraps their S' to alice (fails the key "
             "commitment: the next slot is tried), slot 1 is hers (keyring_mac fails): copy B opens it",
             opener=alice)
    both = xblob[:xa] + stranger_copy(xa) + stranger_copy(xb) + xblob[xb + 56 + 128 * xs:]
    yield bad("stranger_x25519_both", "keyring failure", both,
              "both copies edited as in v61_stranger_x25519_in_a: no copy's keyring_mac holds", x25, opener=alice)
    kb = bytearray(b)
    kb[A:A + 4] = kb[B:B + 4] = b"XKEY"
    yield bad("copies_malformed", "keyring failure", bytes(kb), "both keyring copies have a broken magic", base)
    # index pages
    pb = pages.blob
    top = struct.unpack(">QQ", pb[-24:-8])[0] + 64
    page0, page1 = (struct.unpack(">Q", pb[top + 48 * j:top + 48 * j + 8])[0] for j in (0, 1))
    plen = 16 + 56 * 64
    yield bad("page_damaged", "layout failure", _flip(pages.blob, page0 + 16 + 56 * 3 + 30),
              "a hash byte of entry 3 in index page 0 flipped", pages, block=70)
    sw = bytearray(pb)
    sw[page0:page0 + plen], sw[page1:page1 + plen] = pb[page1:page1 + plen], pb[page0:page0 + plen]
    yield bad("pages_swapped", "layout failure", bytes(sw), "index pages 0 and 1 swapped", pages, block=70)
    yield bad("page_first_block", "layout failure",
              with_page(pages, 1, lambda p: p.__setitem__(slice(8, 16), struct.pack(">Q", 0))),
              "index page 1 says it starts at block 0 (its hash and the footer MAC made to match)", pages, block=70)

    def shift_entry(p):
        e = 16 + 56 * 5
        p[e:e + 8] = struct.pack(">Q", struct.unpack(">Q", p[e:e + 8])[0] + 1)
    yield bad("entry_offset", "layout failure", with_page(pages, 0, shift_entry),
              "entry 5's plaintext offset is not the sum of the entries before it (page hash and footer "
              "MAC made to match)", pages, block=70)

    def other_size(f):
        info = base.sealer.keys.seal_info(Drbg("61 info iv")(12), encode_file_info(3 * BS + 1, 0, None))
        f[len(f) - len(info):] = info
    yield bad("info_size", "footer failure", with_footer(base, other_size),
              "the sealed file info says one byte more than the footer (footer MAC made to match)", base)
    b = bytearray(base.blob)
    b[150] = 1
    yield bad("header_reserved", "header failure", bytes(b), "a reserved header byte is not zero", base)
    b = bytearray(base.blob)
    b[4:6] = b"\x06\x02"
    yield bad("version_0602", "unsupported version", bytes(b), "version 0x0602", base)
    greedy = KdfParams(KDF_ARGON2ID, Drbg("61 greedy salt")(16), 1, 64, 1)
    s = seal61([(b"x", True)], "61 greedy", passphrase="qeltrix", kdf_params=greedy)
    g = bytearray(s.blob)
    for at in (A, H61 + 56 + 128 * s.sealer.header.keyring_slots):
        g[at + 24 + 4 + 20:at + 24 + 4 + 24] = struct.pack(">I", 64 * 1024 * 1024)  # cost_m: 64 GiB
    yield bad("kdf_cost_limit", "limit", bytes(g), "the passphrase slot asks Argon2id for 64 GiB", s,
              opener="passphrase")


def render(header: dict, blob: bytes) -> bytes:
    return "".join(f"{k}: {v}\n" for k, v in header.items()).encode() + b"\n" + blob


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    bad = []
    names = set()
    for name, header, blob in vectors():
        path = OUT / f"{name}.qltxv"
        names.add(path.name)
        content = render(header, blob)
        if args.check:
            if not path.exists() or path.read_bytes() != content:
                bad.append(path.name)
        else:
            path.write_bytes(content)
    stale = sorted(p.name for p in OUT.glob("*.qltxv") if p.name not in names)
    if args.check and (bad or stale):
        print(f"vectors differ from the generator: {bad + stale}", file=sys.stderr)
        return 1
    for s in stale if not args.check else []:
        (OUT / s).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
