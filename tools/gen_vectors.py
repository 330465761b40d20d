#!/usr/bin/env python3
"""Generate the known-answer vectors in tests/vectors/ (age-testkit style).

Each vector file is a few ``key: value`` header lines, a blank line, then the raw container
bytes. Header keys: ``expect`` (success, wrong key, header failure, block failure, footer
failure, truncated, not a container, unsupported version, limit), ``key`` (hex master key) or
``passphrase``, ``payload`` (SHA-256 hex of the expected plaintext, for success), ``size``,
``comment``. One failure per vector. Everything is deterministic (a SHA-256 counter DRBG feeds
``_pack_from_parts``), so ``--check`` can pin the format byte for byte.

    python tools/gen_vectors.py          # (re)write tests/vectors/
    python tools/gen_vectors.py --check  # exit 1 if any committed vector differs
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import sys
from pathlib import Path

from qeltrix.crypto import KDF_ARGON2ID, KDF_SCRYPT, KdfParams
from qeltrix.writer import _pack_from_parts

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
