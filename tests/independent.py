"""A second V6 decoder (formats 6.0 and 6.1), written from the spec text alone.

It imports nothing from ``qeltrix`` but the parser that Kaitai generates from
``spec/qeltrix_v6.ksy`` (``qeltrix._spec.qeltrix_v6``); every label, AAD, MAC, key derivation,
slot unwrapping (raw, Argon2id, scrypt, age's X25519 with its Bech32 identities), the keyring copy
selection, the paged index, the permutation and every "a reader MUST reject" rule is transcribed
here from the spec's top-level doc, with primitives from ``cryptography``, ``hashlib``, ``hmac``
and ``blake3``. HKDF is written out from RFC 5869 on ``hmac``. A label or AAD that the main code
gets wrong is then caught by the vectors: both decoders must agree on each.

``decode(blob, master_key=None, passphrase=None, identities=None)`` returns the plaintext or
raises :class:`Reject`, whose ``kind`` is one of KINDS. ``decode_detailed`` also returns the
intermediate values (the file secret, FK, each sub-key, CDK and permutation key of each block).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
import unicodedata

from blake3 import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from kaitaistruct import KaitaiStream, KaitaiStructError, BytesIO

from qeltrix._spec.qeltrix_v6 import QeltrixV6 as K

#: What went wrong, coarsely: the classes of failure both decoders must agree on.
KINDS = ("not a container", "unsupported version", "truncated", "limit", "wrong key", "header",
         "keyring", "footer", "layout", "block")

V60, V61 = 6, 0x0601
HEADER_SIZE = {V60: 416, V61: 256}
FOOTER_HEAD = 64
TRAILER = 24
PREFIX = 28
OVERHEAD = 28 + 12 + 164 + 16  # prefix, meta_iv, meta_sealed, payload tag
ENTRY = 56
TOP_ENTRY = 48
PAGE_HEAD = 16
MAX_FOOTER = 16 << 20  # this reader's cap on the footer (spec: "at most the reader's cap")
META = struct.Struct(">QI12s32s12s48s32s")
ZERO_NONCE = bytes(12)


class Reject(Exception):
    """The container is rejected. ``kind`` in KINDS; ``block`` the block index when known."""

    def __init__(self, kind: str, why: str, block: int | None = None):
        assert kind in KINDS, kind
        super().__init__(f"{kind}: {why}")
        self.kind, self.why, self.block = kind, why, block


# --- primitives, from their RFCs -------------------------------------------------------------

def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, "sha256").digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), "sha256").digest()
        out += t
        i += 1
    return out[:length]


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


def u8(x): return struct.pack(">B", x)
def u16(x): return struct.pack(">H", x)
def u32(x): return struct.pack(">I", x)
def u64(x): return struct.pack(">Q", x)


def block_hash(hash_id: int, data: bytes) -> bytes:
    if hash_id == 1:
        return hashlib.sha256(data).digest()
    if hash_id == 2:
        return blake3(data).digest()  # 32 bytes of output
    raise ValueError(hash_id)


def aead(cipher_id: int, key: bytes):
    return (AESGCM if cipher_id == 1 else ChaCha20Poly1305)(key)


# --- Bech32 (BIP 173), as age uses it (no length limit) ----------------------------------------

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_polymod(values) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk


def bech32_decode(s: str) -> tuple[str, bytes]:
    """(hrp as written, data bytes); ValueError for anything BIP 173 refuses (but its length cap)."""
    if any(not 33 <= ord(c) <= 126 for c in s):
        raise ValueError("a character outside 33..126")
    if s.lower() != s and s.upper() != s:
        raise ValueError("mixed case")
    s_low = s.lower()
    pos = s_low.rfind("1")
    if pos < 1 or pos + 7 > len(s_low):
        raise ValueError("no separator")
    hrp = s_low[:pos]
    if any(c not in CHARSET for c in s_low[pos + 1:]):
        raise ValueError("a character outside the Bech32 alphabet")
    data = [CHARSET.index(c) for c in s_low[pos + 1:]]
    if bech32_polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data) != 1:
        raise ValueError("bad checksum")
    acc = bits = 0
    out = bytearray()
    for v in data[:-6]:
        acc = acc << 5 | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append(acc >> bits & 0xFF)
    if bits >= 5 or acc & ((1 << bits) - 1):
        raise ValueError("bad padding")
    return s[:pos], bytes(out)


def age_identity(s: str) -> bytes:
    """The 32-byte X25519 secret of an ``AGE-SECRET-KEY-1...`` identity."""
    hrp, data = bech32_decode(s)
    if hrp != "AGE-SECRET-KEY-" or len(data) != 32:
        raise ValueError("not an age X25519 identity")
    return data


# --- the spec's permutation --------------------------------------------------------------------

def permutation_table(key: bytes) -> list[int]:
    t = list(range(64))
    for k in range(63, 0, -1):
        j = key[63 - k] % (k + 1)
        t[k], t[j] = t[j], t[k]
    return t


def permutation(n: int, key: bytes) -> list[int]:
    """src with out[j] = in[src[j]], literally as the spec words it."""
    t = permutation_table(key)
    c = n // 64
    src = list(range(n))  # the last n mod 64 bytes stay in place
    if c > 0:
        s = int.from_bytes(key[64:72], "big")
        a = s % c
        if a == 0:
            a = 1
        while math.gcd(a, c) != 1:
            a = a + 1
        b = (s >> 32) % c
        for m in range(c):
            q = (a * m + b) % c
            for k in range(64):
                src[64 * m + k] = 64 * q + t[k]
    return src


def unpermute(data: bytes, key: bytes) -> bytes:
    out = bytearray(len(data))
    for j, s in enumerate(permutation(len(data), key)):
        out[s] = data[j]
    return bytes(out)


# --- keys --------------------------------------------------------------------------------------

LABELS = {
    "k_wrap": b"qeltrix-v6 key wrap",
    "k_meta": b"qeltrix-v6 metadata",
    "k_header": b"qeltrix-v6 header mac",
    "k_footer": b"qeltrix-v6 footer mac",
    "k_info": b"qeltrix-v6 file info",
    "key_commitment": b"qeltrix-v6 key commitment",
}
LABELS_61 = {"k_keyring": b"qeltrix-v6 keyring mac", "k_recipient": b"qeltrix-v6 recipient tag"}


def file_keys(secret: bytes, version: int, container_id: bytes, cipher: int, block_size: int) -> dict:
    fk = hkdf(secret, container_id, b"qeltrix-v6 file key" + u16(version) + u8(cipher) + u32(block_size))
    keys = {"secret": secret, "fk": fk}
    for name, label in {**LABELS, **(LABELS_61 if version == V61 else {})}.items():
        keys[name] = hkdf_expand(fk, label, 32)
    return keys


def passphrase_bytes(p, version: int) -> bytes:
    if isinstance(p, str):
        p = (unicodedata.normalize("NFC", p) if version == V61 else p).encode("utf-8")
    if not p:
        raise Reject("wrong key", "empty passphrase")
    return bytes(p)


def kdf_output(kind: str, passphrase: bytes, salt: bytes, t: int, m: int, p: int) -> bytes:
    """Argon2id or scrypt, 32 bytes; costs checked against the minimums and caps first."""
    if kind == "argon2id":
        if not (t >= 1 and p >= 1 and m >= 8 * p):
            raise Reject("limit", "Argon2id costs below the minimums")
        if m > 1 << 20 or t > 16 or p > 16:
            raise Reject("limit", "Argon2id costs above the cap")
        return Argon2id(salt=salt, length=32, iterations=t, lanes=p, memory_cost=m).derive(passphrase)
    if not (t >= 1 and m >= 1 and p >= 1):
        raise Reject("limit", "scrypt costs below the minimums")
    if t > 40 or 128 * m * (1 << t) > 1 << 30 or p > 16:
        raise Reject("limit", "scrypt costs above the cap")
    return Scrypt(salt=salt, length=32, n=1 << t, r=m, p=p).derive(passphrase)


def unwrap(kek: bytes, wrapped: bytes):
    try:
        return ChaCha20Poly1305(kek).decrypt(ZERO_NONCE, wrapped, None)
    except InvalidTag:
        return None


def x25519_unwrap(identity: bytes, share: bytes, wrapped: bytes):
    """age's X25519 stanza, read side."""
    secret = X25519PrivateKey.from_private_bytes(identity)
    recipient = secret.public_key().public_bytes_raw()
    try:
        shared = secret.exchange(X25519PublicKey.from_public_bytes(share))
    except ValueError:  # all-zero shared secret
        return None, recipient
    if shared == bytes(32):
        return None, recipient
    kek = hkdf(shared, share + recipient, b"age-encryption.org/v1/X25519")
    return unwrap(kek, wrapped), recipient


# --- parsing helpers ---------------------------------------------------------------------------

def parse(cls, raw: bytes, *args):
    """A Kaitai type parsed from exactly ``raw``; None when malformed."""
    try:
        io = KaitaiStream(BytesIO(raw))
        obj = cls(*args, io)
        return obj if io.is_eof() else None
    except (KaitaiStructError, EOFError, ValueError, struct.error):
        return None


def enum_value(x) -> int:
    """A Kaitai enum field's number (an unknown value stays a plain int)."""
    return getattr(x, "value", x)


SLOT_BODY = {1: 48, 2: 76, 3: 76, 4: 96}


def parse_copy(raw: bytes, n: int):
    c = parse(K.KeyringCopy, raw, n)
    if c is None:
        return None
    # The types' docs: a raw body is 48 bytes, a passphrase body 76, an x25519 body 96, and
    # "empty ones are all zero" (the .ksy itself validates only len_body <= 124 and the padding).
    for s in c.slots:
        t = enum_value(s.slot_type)
        if t == 0 and s.len_body != 0:
            return None
        if t in SLOT_BODY and s.len_body != SLOT_BODY[t]:
            return None
    return c


# --- the decoder -------------------------------------------------------------------------------

def decode(blob: bytes, master_key=None, passphrase=None, identities=None) -> bytes:
    return decode_detailed(blob, master_key, passphrase, identities)[0]


def decode_detailed(blob: bytes, master_key=None, passphrase=None, identities=None, details=None):
    """(plaintext, details). ``details`` (a dict, filled as decoding goes, so that it holds what
    was computed before a Reject too): ``version``, ``keys`` (the file secret, FK, sub-keys, the
    copy and generation that opened), ``blocks`` (per block: index, cdk, block_salt, H and, when
    permuted, perm_key and perm_table), ``file_info``."""
    details = {} if details is None else details
    blob = bytes(blob)
    size = len(blob)
    # magic and version
    if blob[:4] != b"QLTX"[:min(4, size)]:
        raise Reject("not a container", "no QLTX magic")
    if size < 6:
        raise Reject("truncated", "shorter than the version field")
    version = struct.unpack(">H", blob[4:6])[0]
    if version not in (V60, V61):
        raise Reject("unsupported version", f"version {version:#x}")
    details["version"] = version
    hsize = HEADER_SIZE[version]
    if size < hsize:
        raise Reject("truncated", "shorter than the header")
    hraw = blob[:hsize]
    h = parse(K.HeaderV60 if version == V60 else K.HeaderV61, hraw[6:])
    if h is None:
        raise Reject("header", "a header field is out of range or a reserved bit is set")
    cid, cipher, bs = h.container_id, h.cipher.value, h.block_size
    if version == V61:
        E = 1 << h.page_shift
        copy_len = 56 + 128 * h.keyring_slots
        first = 256 + 2 * copy_len
        if first + FOOTER_HEAD + TRAILER > size:
            raise Reject("truncated", "the keyring reaches past the end")
    else:
        first = 416
        if first + FOOTER_HEAD + TRAILER > size:
            raise Reject("truncated", "no room for footer and trailer")
    # trailer
    tr = parse(K.Trailer, blob[-TRAILER:])
    if tr is None:
        raise Reject("truncated", "no trailer")
    ofs_f, len_f = tr.ofs_footer, tr.len_footer
    if ofs_f + len_f != size - TRAILER:
        raise Reject("layout", "the footer does not end where the trailer starts")
    if ofs_f < first:
        raise Reject("layout", "the footer starts inside the header or keyring")
    if len_f > MAX_FOOTER:
        raise Reject("limit", "footer above this reader's cap")
    if len_f < FOOTER_HEAD:
        raise Reject("footer", "footer shorter than its head")
    fraw = blob[ofs_f:ofs_f + len_f]
    # footer length formula, from the counts it states, before parsing the rest
    n_blocks, len_plain, len_info = struct.unpack(">QQI", fraw[8:28])
    if version == V60:
        expected = FOOTER_HEAD + ENTRY * n_blocks + len_info
    else:
        n_pages = struct.unpack(">I", fraw[28:32])[0]
        if n_pages != -(-n_blocks // E):
            raise Reject("footer", "footer page count is not ceil(num_blocks / E)")
        expected = FOOTER_HEAD + TOP_ENTRY * n_pages + len_info
    if expected != len_f:
        raise Reject("footer", "footer length is not its formula")
    f = parse(K.FooterV60 if version == V60 else K.FooterV61, fraw)
    if f is None:
        raise Reject("footer", "footer malformed")

    # keys
    if version == V60:
        keys = open_v60(h, hraw, master_key, passphrase)
    else:
        keys = open_v61(h, hraw, blob[256:first], copy_len, master_key, passphrase, identities)
    details["keys"] = keys
    details["blocks"] = []

    # footer MAC, header totals, file info
    mac = hmac.new(keys["k_footer"], h.header_mac + fraw[:32] + fraw[64:], "sha256").digest()
    if not hmac.compare_digest(mac, f.footer_mac):
        raise Reject("footer", "footer_mac does not verify")
    patched = (h.num_blocks, h.len_plaintext, h.ofs_footer, h.len_footer)
    if patched != (0, 0, 0, 0) and patched != (n_blocks, len_plain, ofs_f, len_f):
        raise Reject("header", "header totals disagree with the footer")
    info_sealed = fraw[len_f - len_info:]
    try:
        info = AESGCM(keys["k_info"]).decrypt(info_sealed[:12], info_sealed[12:], cid)
    except InvalidTag:
        raise Reject("footer", "file info does not open") from None
    fi = parse(K.FileInfo, info)
    if fi is None or fi.len_plaintext != len_plain:
        raise Reject("footer", "file info size differs from the footer's")
    details["file_info"] = (fi.len_plaintext, fi.mtime, fi.name)

    # the index: 6.0 entries in the footer; 6.1 pages that tile the space with the blocks
    index_hash = 1 if version == V60 else h.index_hash.value
    bhash = 1 if version == V60 else h.block_hash.value
    if version == V60:
        entries = list(f.entries)
        pos = first
        for i, e in enumerate(entries):
            if e.ofs_block != pos:
                raise Reject("layout", "blocks do not follow each other", i)
            pos += e.len_block
        if pos != ofs_f:
            raise Reject("layout", "blocks do not end at the footer")
    else:
        entries = []
        pos = first
        for k, top in enumerate(f.pages):
            nk = E if k + 1 < n_pages else n_blocks - k * E
            plen = PAGE_HEAD + ENTRY * nk
            if not first <= top.ofs_page <= ofs_f - plen:
                raise Reject("layout", f"page {k} outside the block region", k * E)
            praw = blob[top.ofs_page:top.ofs_page + plen]
            if not hmac.compare_digest(block_hash(index_hash, praw), top.hash):
                raise Reject("layout", f"page {k} differs from its hash", k * E)
            page = parse(K.IndexPage, praw)
            if page is None or page.num_entries != nk or page.first_block != k * E:
                raise Reject("layout", f"page {k} lists other blocks than its place says", k * E)
            for j, e in enumerate(page.entries):
                if e.ofs_block != pos:
                    raise Reject("layout", "blocks and pages do not tile", k * E + j)
                pos += e.len_block
            if top.ofs_page != pos:
                raise Reject("layout", f"page {k} is not right after its last block", k * E)
            if top.ofs_plaintext != page.entries[0].ofs_plaintext:
                raise Reject("layout", f"page {k}'s plaintext offset differs from its first entry's", k * E)
            pos += plen
            entries.extend(page.entries)
        if pos != ofs_f:
            raise Reject("layout", "pages and blocks do not end at the footer")
    plain = 0
    for i, e in enumerate(entries):
        last = i == n_blocks - 1
        if e.ofs_plaintext != plain:
            raise Reject("layout", "entry plaintext offset is not the sum before it", i)
        if e.len_plaintext > bs or (e.len_plaintext == 0 and not last):
            raise Reject("layout", "entry length out of range", i)
        if e.len_block != e.len_plaintext + OVERHEAD:
            raise Reject("layout", "entry stored length is not plaintext + 220", i)
        plain += e.len_plaintext
    if plain != len_plain or len(entries) != n_blocks:
        raise Reject("layout", "entries do not add up to the footer's totals")

    # blocks
    out = []
    permuted = bool(h.permuted)
    wrap, meta_aead = AESGCM(keys["k_wrap"]), AESGCM(keys["k_meta"])
    for i, e in enumerate(entries):
        final = i == n_blocks - 1
        raw = blob[e.ofs_block:e.ofs_block + e.len_block]
        # (the entry's index hash is for keyless storage checks; the spec makes no rule of it
        # for keyed readers, which authenticate every byte below)
        b = parse(K.Block, raw)
        if b is None:
            raise Reject("block", "block malformed", i)
        p = b.prefix
        if p.index != i or p.len_payload != e.len_plaintext + 16:
            raise Reject("block", "prefix differs from the index entry", i)
        if bool(p.is_final) != final:
            raise Reject("block", "final flag " + ("missing on the last block" if final else "on another block"), i)
        try:
            meta = meta_aead.decrypt(b.meta_iv, b.meta_sealed, cid + raw[:PREFIX])
            ofs, ln, piv, salt, wiv, wrapped, H = META.unpack(meta)
        except (InvalidTag, struct.error):
            raise Reject("block", "metadata does not open", i) from None
        if (ofs, ln) != (e.ofs_plaintext, e.len_plaintext):
            raise Reject("block", "metadata differs from the index entry", i)
        try:
            cdk = wrap.decrypt(wiv, wrapped, cid + u64(i))
        except InvalidTag:
            raise Reject("block", "wrapped CDK does not open", i) from None
        if not hmac.compare_digest(cdk, hkdf(keys["fk"], salt, b"qeltrix-v6 block key" + u64(i) + H)):
            raise Reject("block", "unwrapped CDK differs from the recomputed one", i)
        try:
            pt = aead(cipher, cdk).decrypt(piv, b.payload_sealed, cid + u64(i) + u8(final) + u8(cipher))
        except InvalidTag:
            raise Reject("block", "payload does not open", i) from None
        bd = {"index": i, "cdk": cdk, "block_salt": salt, "H": H}
        details["blocks"].append(bd)
        if permuted:
            if version == V60:
                pk = hkdf_expand(cdk, b"qeltrix-v6 permutation", 72)
            else:
                pk = hkdf(keys["fk"], salt, b"qeltrix-v6 permutation" + u64(i) + H, 72)
            pt = unpermute(pt, pk)
            bd["perm_key"] = pk
            bd["perm_table"] = permutation_table(pk)
        if not hmac.compare_digest(block_hash(bhash, pt), H):
            raise Reject("block", "plaintext differs from its block hash H", i)
        out.append(pt)
    return b"".join(out), details


def open_v60(h, hraw: bytes, master_key, passphrase) -> dict:
    kdf = h.kdf.value
    if kdf == 0:
        if master_key is None:
            raise Reject("wrong key", "needs a raw key")
        mk = bytes(master_key)
    else:
        if passphrase is None:
            raise Reject("wrong key", "needs a passphrase")
        mk = kdf_output("argon2id" if kdf == 1 else "scrypt", passphrase_bytes(passphrase, V60), h.kdf_salt,
                        h.kdf_t, h.kdf_m, h.kdf_p)
    keys = file_keys(mk, V60, h.container_id, h.cipher.value, h.block_size)
    if not hmac.compare_digest(keys["key_commitment"], h.key_commitment):
        raise Reject("wrong key", "key commitment differs")
    if not hmac.compare_digest(hmac.new(keys["k_header"], hraw[:108], "sha256").digest(), h.header_mac):
        raise Reject("header", "header_mac does not verify")
    return keys


def open_v61(h, hraw: bytes, keyring: bytes, copy_len: int, master_key, passphrase, identities) -> dict:
    """Spec: "Opening a 6.1 container"."""
    copies = []
    for which in (0, 1):
        raw = keyring[which * copy_len:(which + 1) * copy_len]
        c = parse_copy(raw, h.keyring_slots)
        if c is not None:
            copies.append((-c.generation, which, c, raw))
    if not copies:
        raise Reject("keyring", "both keyring copies are malformed")
    copies.sort(key=lambda x: (x[0], x[1]))
    cid = h.container_id
    mac_input = hraw[:88] + bytes(32) + hraw[120:224]
    ids = [age_identity(i) for i in identities or ()]
    kdf_cache = {}
    opened_by = {}
    limit = None
    opened_but_tampered = unopened = 0

    def candidates(slot):
        nonlocal limit
        t = enum_value(slot.slot_type)
        body = slot.body
        if t == 1 and master_key is not None:
            yield unwrap(hkdf(bytes(master_key), cid, b"qeltrix-v6 raw slot"), body.wrapped_key)
        elif t in (2, 3) and passphrase is not None:
            args = ("argon2id" if t == 2 else "scrypt", body.salt, body.cost_t, body.cost_m, body.cost_p)
            if args not in kdf_cache:
                try:
                    kdf_cache[args] = kdf_output(args[0], passphrase_bytes(passphrase, V61), *args[1:])
                except Reject as r:
                    limit = r
                    return
            yield unwrap(hkdf(kdf_cache[args], cid, b"qeltrix-v6 passphrase slot"), body.wrapped_key)
        elif t == 4:
            for ident in ids:
                s, recipient = x25519_unwrap(ident, body.ephemeral_share, body.wrapped_key)
                opened_by["recipient"] = recipient
                yield s

    for _, which, c, raw in copies:
        state = "unopened"
        for j, slot in enumerate(c.slots):
            for s in candidates(slot):
                if s is None:
                    continue
                keys = file_keys(s, V61, cid, h.cipher.value, h.block_size)
                if not hmac.compare_digest(keys["key_commitment"], h.key_commitment):
                    continue  # not this container's secret
                if not hmac.compare_digest(hmac.new(keys["k_header"], mac_input, "sha256").digest(), h.header_mac):
                    raise Reject("header", "header_mac does not verify")
                kmac = hmac.new(keys["k_keyring"], h.header_mac + raw[:-32], "sha256").digest()
                if hmac.compare_digest(kmac, c.keyring_mac):
                    keys.update(copy=which, generation=c.generation, slot=j, slot_type=enum_value(slot.slot_type))
                    if keys["slot_type"] == 4:  # which recipient: only holders of S can tell
                        pk = opened_by["recipient"]
                        keys["recipient_tag_ok"] = hmac.compare_digest(
                            slot.body.recipient_tag, hmac.new(keys["k_recipient"], pk, "sha256").digest()[:16])
                    return keys
                state = "tampered"
                break
            if state == "tampered":
                break
        if state == "tampered":
            opened_but_tampered += 1
        else:
            unopened += 1
    if opened_but_tampered and not unopened:
        raise Reject("keyring", "keyring_mac does not verify in any copy our secret opens")
    if limit is not None:
        raise limit
    raise Reject("wrong key", "no slot opens")
