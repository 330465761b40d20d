#!/usr/bin/env python3
"""Single-threaded SHA-256 throughput: hashlib (OpenSSL, one stream) against the native
``_core.sha256_many`` with 1..4 messages hashed side by side, on distinct 1 MiB blocks.

    python tools/bench/bench_sha256.py [--size BYTES] [--seconds S] [--json OUT]

Also measured after a ChaCha20-Poly1305 call on the same thread: OpenSSL's AVX-512 ChaCha20
leaves the vector registers' upper halves dirty, which made every legacy-SSE (and SHA)
instruction slower until ``_core`` learnt to clear them first (VZEROUPPER). Figures are MB/s
(2^20 bytes per second), best of 5; the ratio column is against hashlib in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time


def measure(fn, nbytes: int, seconds: float) -> float:
    fn()  # warm up
    best = 0.0
    for _ in range(5):
        reps, start = 0, time.perf_counter()
        deadline = start + seconds / 5
        while True:
            fn()
            reps += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, reps * nbytes / (now - start) / (1 << 20))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1 << 20, help="message size in bytes (1 MiB)")
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    ap.add_argument("--json")
    args = ap.parse_args()

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    from qeltrix import _core

    bufs = [bytearray(os.urandom(args.size)) for _ in range(4)]
    chacha, nonce, out = ChaCha20Poly1305(os.urandom(32)), os.urandom(12), bytearray(args.size + 16)
    res: dict = {"size": args.size, "kernels": _core._sha256_kernels()}
    res["hashlib"] = measure(lambda: hashlib.sha256(bufs[0]).digest(), args.size, args.seconds)
    for n in (1, 2, 3, 4):
        res[f"lanes{n}"] = measure(lambda n=n: _core.sha256_many(bufs[:n]), n * args.size, args.seconds)
    res["portable"] = measure(lambda: _core._sha256_many_with(bufs[:1], "portable"), args.size, args.seconds)
    # after ChaCha20 on the same thread: what the pack and unpack workers do, block after block
    chacha_alone = measure(lambda: chacha.encrypt_into(nonce, bufs[0], None, out), args.size, args.seconds)
    both = measure(lambda: (chacha.encrypt_into(nonce, bufs[0], None, out), _core.sha256_many(bufs)),
                   args.size, args.seconds)  # MB/s of ChaCha'd bytes; 4x that hashed
    res["lanes4_after_chacha"] = 4 / (1 / both - 1 / chacha_alone)
    if "shani" not in res["kernels"]:
        print("note: no SHA extensions on this CPU: sha256_many is the portable kernel; qeltrix uses hashlib")
    for name in ("hashlib", "lanes1", "lanes2", "lanes3", "lanes4", "lanes4_after_chacha", "portable"):
        print(f"{name:20s} {res[name]:7.0f} MB/s  {res[name] / res['hashlib']:.2f} x hashlib")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    digests = _core.sha256_many(bufs)
    if digests != [hashlib.sha256(b).digest() for b in bufs]:
        print("error: sha256_many disagrees with hashlib", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
