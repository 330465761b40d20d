"""Known-answer vectors (tests/vectors/*.qltxv, C2SP CCTV / age-testkit style) through every
reading path of the package (unpack, streaming unpack, seek, qeltrix.open, verify) and through
the independent decoder (tests/independent.py: written from the spec text, nothing of qeltrix
but the generated parser). Every path must give the expected outcome: the same plaintext, or a failure of the
expected class. The 6.1 vectors' intermediate values (file secret, FK, sub-keys, a block's CDK
and permutation) are recomputed by the independent decoder and compared."""

from __future__ import annotations

import ast
import hashlib
import io
import struct
import sys
from pathlib import Path

import pytest

import qeltrix as qltx
import independent
from streams import Unseekable
from independent import Reject, decode_detailed

ROOT = Path(__file__).resolve().parent.parent
VECTORS = sorted((ROOT / "tests" / "vectors").glob("*.qltxv"))
SECRETS = {"key", "passphrase", "identity"}
INTERMEDIATE = {"secret", "fk", "k_wrap", "k_meta", "k_header", "k_footer", "k_info", "k_keyring", "k_recipient",
                "key_commitment", "block", "cdk", "perm_key", "perm_table"}
KNOWN_KEYS = {"expect", "payload", "size", "comment"} | SECRETS | INTERMEDIATE
#: expect -> (the package's exception class, the independent decoder's Reject.kind)
EXPECT = {
    "success": (None, None),
    "wrong key": (qltx.WrongKeyError, "wrong key"),
    "header failure": (qltx.DamagedError, "header"),
    "keyring failure": (qltx.DamagedError, "keyring"),
    "footer failure": (qltx.DamagedError, "footer"),
    "layout failure": (qltx.DamagedError, "layout"),
    "block failure": (qltx.DamagedError, "block"),
    "truncated": (qltx.TruncatedError, "truncated"),
    "not a container": (qltx.NotAContainerError, "not a container"),
    "unsupported version": (qltx.UnsupportedVersionError, "unsupported version"),
    "limit": (qltx.LimitError, "limit"),
}
#: failures whose message names what failed
NAMED = {"header failure": "header", "footer failure": "footer", "keyring failure": "keyring"}


def load(path: Path):
    raw = path.read_bytes()
    head, _, blob = raw.partition(b"\n\n")
    fields = dict(line.split(": ", 1) for line in head.decode().splitlines())
    unknown = set(fields) - KNOWN_KEYS
    assert not unknown, f"unknown header keys {unknown}"
    assert fields["expect"] in EXPECT, fields["expect"]
    assert len(SECRETS & set(fields)) == 1, "exactly one secret per vector"
    return fields, blob


def _key_args(fields):
    if "passphrase" in fields:
        return {"passphrase": fields["passphrase"]}
    if "identity" in fields:
        return {"identities": [fields["identity"]]}
    return {"master_key": bytes.fromhex(fields["key"])}


def _readers(blob, kw):
    def unpack():
        out = io.BytesIO()
        qltx.unpack(blob, out, **kw)
        return out.getvalue()

    def stream():
        out = io.BytesIO()
        qltx.unpack(Unseekable(blob), out, **kw)
        return out.getvalue()

    def seek():
        return qltx.seek_extract(blob, 0, 1 << 40, **kw)

    def seek_halves():  # two random reads that meet inside a block (6.1: the page lookup)
        with qltx.open(blob, **kw) as f:
            half = f.seek(0, io.SEEK_END) // 2 + 13
        return qltx.seek_extract(blob, 0, half, **kw) + qltx.seek_extract(blob, half, 1 << 40, **kw)

    def fileobj():  # qeltrix.open, read in odd pieces
        parts = []
        with qltx.open(blob, **kw) as f:
            while piece := f.read(3001):
                parts.append(piece)
        return b"".join(parts)

    def verify():
        return qltx.verify(blob, **kw)

    return {"unpack": unpack, "stream": stream, "seek": seek, "seek_halves": seek_halves, "open": fileobj,
            "verify": verify}


def test_there_are_vectors():
    assert len(VECTORS) >= 70
    assert len([p for p in VECTORS if p.stem.startswith("v61_")]) >= 30


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path):
    fields, blob = load(path)
    expect = fields["expect"]
    expected, kind = EXPECT[expect]
    kw = _key_args(fields)
    blocks = {}
    for name, read in _readers(blob, kw).items():
        if expected is None:
            got = read()
            if name == "verify":
                # a damaged or stranger-changed keyring copy is survived by every reader (the other
                # copy opens the file), and reported by verify: it is damage to repair
                copy_only = not got.ok and all(e.startswith("keyring copy") for e in got.errors)
                assert (got.ok or copy_only) and got.plaintext_size == int(fields["size"]), (name, got)
                continue
            assert hashlib.sha256(got).hexdigest() == fields["payload"], name
            assert len(got) == int(fields["size"]), name
            continue
        if name == "verify" and expected is qltx.DamagedError:
            # verify reports damage in blocks and pages as a result, the rest by raising
            try:
                got = verify_result = read()
            except expected as exc:
                got = exc
            else:
                assert not verify_result.ok, (name, verify_result)
                continue
            assert isinstance(got, expected)
            continue
        with pytest.raises(expected) as exc:
            read()
        if expected is qltx.DamagedError and name != "stream":
            # (walking a 6.0 stream, a last block without its final flag followed by the footer
            # reads as "the stream ends without its final block", a TruncatedError)
            assert not isinstance(exc.value, qltx.TruncatedError), (name, str(exc.value))
        if expect == "block failure" and name != "stream":
            # (walking a stream, a missing or extra final flag may show first as a misplaced index page)
            assert exc.value.block is not None, name
            blocks[name] = exc.value.block
        if expect in NAMED:
            assert NAMED[expect] in str(exc.value), (name, str(exc.value))
    # the independent decoder
    if expected is None:
        data, _ = decode_detailed(blob, **kw)
        assert hashlib.sha256(data).hexdigest() == fields["payload"]
    else:
        with pytest.raises(Reject) as rej:
            decode_detailed(blob, **kw)
        assert rej.value.kind == kind, str(rej.value)
        if expect == "block failure":
            assert {rej.value.block} == set(blocks.values()), (rej.value.block, blocks)


def _header_fields(blob):
    """(version, container_id, cipher, block_size, stored key commitment) straight from the bytes."""
    version, cipher = struct.unpack(">HB", blob[4:7])
    if version == 6:
        block_size, cid, commitment = struct.unpack(">I", blob[12:16])[0], blob[16:48], blob[76:108]
    else:
        block_size, cid, commitment = struct.unpack(">I", blob[12:16])[0], blob[16:48], blob[56:88]
    return version, cid, cipher, block_size, commitment


WITH_VALUES = [p for p in VECTORS if "secret: " in p.read_bytes().partition(b"\n\n")[0].decode()]


def test_vectors_carry_intermediate_values():
    assert all(p.stem.startswith("v61_") for p in WITH_VALUES)
    assert {p.stem for p in VECTORS if p.stem.startswith("v61_")} == {p.stem for p in WITH_VALUES}


@pytest.mark.parametrize("path", WITH_VALUES, ids=[p.stem for p in WITH_VALUES])
def test_intermediate_values(path):
    """The independent decoder computes each intermediate value from the secret (from the vector's
    S by the spec's key schedule, and from the container by opening it) and compares."""
    fields, blob = load(path)
    secret = bytes.fromhex(fields["secret"])
    _, cid, cipher, block_size, _ = _header_fields(blob)
    keys = independent.file_keys(secret, independent.V61, cid, cipher, block_size)  # (v61_version_0602 too)
    for name in ("fk", "k_wrap", "k_meta", "k_header", "k_footer", "k_info", "k_keyring", "k_recipient",
                 "key_commitment"):
        assert keys[name].hex() == fields[name], name
    details = {}
    try:
        decode_detailed(blob, details=details, **_key_args(fields))
    except Reject:
        assert fields["expect"] != "success"
    if fields["expect"] == "success":
        # the keyring wraps this S, and the stated block's keys are the ones its block uses
        assert details["keys"]["secret"] == secret
        assert "block" in fields or not details["blocks"]
    if "keys" in details:
        assert details["keys"]["secret"] == secret
        if details["keys"]["slot_type"] == 4:  # the x25519 slot names its recipient by the spec's tag
            assert details["keys"]["recipient_tag_ok"]
    if "block" in fields:
        done = {b["index"]: b for b in details.get("blocks", [])}
        b = done.get(int(fields["block"]))
        if fields["expect"] == "success":
            assert b is not None
        if b is not None:
            assert b["cdk"].hex() == fields["cdk"]
            assert ("perm_key" in b) == ("perm_key" in fields)
            if "perm_key" in b:
                assert b["perm_key"].hex() == fields["perm_key"]
                assert bytes(b["perm_table"]).hex() == fields["perm_table"]


def _gen_vectors():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_vectors
    finally:
        sys.path.pop(0)
    return gen_vectors


def test_independent_decoder_imports_nothing_of_qeltrix_but_the_parser():
    tree = ast.parse((ROOT / "tests" / "independent.py").read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {"__future__", "hashlib", "hmac", "math", "struct", "unicodedata", "blake3", "kaitaistruct",
               "qeltrix._spec.qeltrix_v6"}
    assert {m for m in modules if not m.startswith("cryptography.")} <= allowed, modules


def _payload_aad_without_cipher(self, index, final):
    return self.container_id + struct.pack(">Q", index) + bytes((1 if final else 0,))


#: Mistakes the package could make consistently (writer and readers alike), so that only a second
#: implementation notices them.
MUTATIONS = {
    "file key label": ("LABEL_FILE_KEY", b"qeltrix-v6 filekey"),
    "metadata label": ("LABEL_META", b"qeltrix-v6 meta"),
    "keyring mac label": ("LABEL_KEYRING_MAC", b"qeltrix-v6 keyring"),
    "raw slot label": ("LABEL_RAW_SLOT", b"qeltrix-v6 raw"),
    "block key label": ("LABEL_BLOCK_KEY", b"qeltrix-v6 block"),
    "permutation label": ("LABEL_PERMUTATION", b"qeltrix-v6 perm"),
    "payload aad": ("payload_aad", _payload_aad_without_cipher),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_consistent_mistake_is_caught_by_the_independent_decoder(mutation, monkeypatch):
    """The package with one label or AAD changed still reads what it writes; the independent
    decoder (and so test_vector) rejects it."""
    from qeltrix import crypto

    gen = _gen_vectors()
    name, value = MUTATIONS[mutation]
    monkeypatch.setattr(crypto.FileKeys if name == "payload_aad" else crypto, name, value)
    k = gen.key("a")
    pt = gen.data(2 * gen.BS + 100, "mutation")
    blob = gen.seal61(gen.blocks_of(pt), "mutation", key=k, permute=True).blob
    out = io.BytesIO()
    qltx.unpack(blob, out, k)
    assert out.getvalue() == pt
    with pytest.raises(Reject):
        decode_detailed(blob, master_key=k)


def test_independent_bech32_and_x25519_against_bip173_and_age_testkit():
    """The independent decoder's Bech32 and age X25519 unwrap, on BIP 173's and age's vectors."""
    from base64 import b64decode

    from test_recipients import BIP173_INVALID, BIP173_VALID, CCTV, CCTV_FILE_KEY, CCTV_IDENTITY

    for s in BIP173_VALID:
        independent.bech32_decode(s)
    for s in BIP173_INVALID:
        with pytest.raises(ValueError):
            independent.bech32_decode(s)
    ident = independent.age_identity(CCTV_IDENTITY)

    def unwrap(name):
        share, body = (b64decode(x + "=" * (-len(x) % 4)) for x in CCTV[name][0].split("\n")[:2])
        return independent.x25519_unwrap(ident, share, body)[0]

    assert unwrap("x25519") == CCTV_FILE_KEY
    assert unwrap("x25519_multiple_recipients") is None  # its first stanza is for someone else
    lines = CCTV["x25519_multiple_recipients"][0].split("\n")
    share, body = (b64decode(x + "=" * (-len(x) % 4)) for x in (lines[2].split()[-1], lines[3]))
    assert independent.x25519_unwrap(ident, share, body)[0] == CCTV_FILE_KEY
    assert unwrap("x25519_bad_tag") is None
    assert unwrap("x25519_low_order") is None and unwrap("x25519_identity") is None


def _package_outcome(blob, kw) -> str:
    out = io.BytesIO()
    try:
        qltx.unpack(blob, out, **kw)
    except qltx.QeltrixError as exc:
        return "wrong key" if isinstance(exc, qltx.WrongKeyError) else (
            "limit" if isinstance(exc, qltx.LimitError) else "rejected")
    return "ok " + hashlib.sha256(out.getvalue()).hexdigest()


def _independent_outcome(blob, kw) -> str:
    try:
        data = decode_detailed(blob, **kw)[0]
    except Reject as r:
        return r.kind if r.kind in ("wrong key", "limit") else "rejected"
    return "ok " + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name,stride", [("v61_pages", 307), ("v61_multi_alice", 17), ("v61_copy_a_malformed", 29),
                                         ("permuted", 31), ("v61_empty", 7)])
def test_both_decoders_agree_on_damaged_copies(name, stride):
    """Differential: single-bit damage across a vector (every ``stride``-th byte, two bits each)
    and cuts; the package and the independent decoder must accept and reject the same inputs (and
    agree on a wrong key or a limit)."""
    fields, blob = load(ROOT / "tests" / "vectors" / f"{name}.qltxv")
    kw = _key_args(fields)
    cases = [blob[:cut] for cut in range(0, len(blob), stride * 11)] + [blob + b"\0", blob + blob[-24:]]
    for pos in range(0, len(blob), stride):
        for bit in (0x01, 0x80):
            b = bytearray(blob)
            b[pos] ^= bit
            cases.append(bytes(b))
    for case in cases:
        assert _package_outcome(case, kw) == _independent_outcome(case, kw)


def test_vectors_are_what_the_generator_makes():
    """The generator is deterministic: regenerating must give the committed bytes (format pinned)."""
    assert _gen_vectors().main(["--check"]) == 0
