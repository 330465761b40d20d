#!/usr/bin/env python3
"""Benchmark pack, unpack and seek against the machine's crypto ceiling, measured in the same run.

    python tools/bench/bench_core.py                 # 1 GiB, default settings (1 MiB blocks, 4 workers)
    python tools/bench/bench_core.py --size-mib 256 --repeat 3 --json out.json

Ceiling (in-process, same thread count as the cores): hashlib.sha256 plus AESGCM.encrypt_into
(or ChaCha20Poly1305) on reused 1 MiB buffers. Pack and unpack run in a child process each (so
peak RSS is the operation's own), output to /dev/null (the stable figure on these VMs) and to a
file. Seek: 200 random 4 KiB reads in one process (container opened once) and with
seek_extract (opened per call), counting decrypted blocks. Figures are medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MiB = 1 << 20


def ceiling(cipher: str, threads: int, seconds: float = 2.0, hashes: int = 1, block_hash: str = "sha256") -> float:
    """MB/s (2^20) of sha256 + AEAD encrypt_into over reused 1 MiB buffers, on `threads` threads.

    hashes=1 is issue 10's ceiling: the plaintext hash + AEAD. hashes=2 gives the pack design's
    own ceiling: 6.1 also hashes the stored bytes for the keyless index with BLAKE3 (6.0 did it
    with SHA-256). block_hash="blake3" hashes the plaintext with BLAKE3 (``--block-hash blake3``).
    (The blake3 package and hashlib release the GIL, as the AEADs do.)"""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    import blake3

    plain_hash = hashlib.sha256 if block_hash == "sha256" else blake3.blake3

    cls = AESGCM if cipher == "aes" else ChaCha20Poly1305
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def run(t):
        aead = cls(os.urandom(32))
        data = bytearray(os.urandom(MiB))
        out = bytearray(MiB + 16)
        nonce = os.urandom(12)
        n = 0
        while time.perf_counter() < stop:
            plain_hash(data).digest()
            aead.encrypt_into(nonce, data, b"", out)
            if hashes == 2:
                blake3.blake3(out).digest()
            n += 1
        counts[t] = n

    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def primitive_costs(seconds: float = 1.0) -> dict:
    """MB/s (2^20) of each primitive on one thread over a reused 1 MiB buffer: what a block
    costs, to compare with what pack and unpack reach (the why of a missed ratio)."""
    import blake3
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    data = bytearray(os.urandom(MiB))
    out = bytearray(MiB + 16)
    nonce = os.urandom(12)
    aes, chacha = AESGCM(os.urandom(32)), ChaCha20Poly1305(os.urandom(32))
    ops = {"sha256": lambda: hashlib.sha256(data).digest(),
           "blake3": lambda: blake3.blake3(data).digest(),
           "aes-256-gcm": lambda: aes.encrypt_into(nonce, data, b"", out),
           "chacha20-poly1305": lambda: chacha.encrypt_into(nonce, data, b"", out)}
    lanes = 1
    try:
        from qeltrix import _core

        if _core.SHA256_ACCELERATED:  # qeltrix's own four-lane kernel (what pack uses for SHA-256)
            group = [bytes(data)] * 4
            ops["sha256 (qeltrix 4 lanes)"] = lambda: _core.sha256_many(group)
            lanes = 4
    except ImportError:
        pass
    res = {}
    for name, fn in ops.items():
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            fn()
            n += lanes if "lanes" in name else 1
        res[name] = n / (time.perf_counter() - t0)
    return res


CHILD = r"""
import os, resource, sys, time
import concurrent.futures, tempfile  # what qeltrix loads on first use: not part of the timing
import qeltrix as q
op, src, dst, key, cipher, workers, bs, bh = sys.argv[1:9]
mk = bytes.fromhex(key)
pack, unpack = q.pack, q.unpack
t0 = time.perf_counter()
if op == "pack":
    pack(src, dst, mk, block_size=int(bs), cipher_id=1 if cipher == "aes" else 2, workers=int(workers), block_hash=bh)
else:
    unpack(src, dst, mk, workers=int(workers))
el = time.perf_counter() - t0
print(el, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def child(op, src, dst, key, cipher, workers, bs, block_hash="sha256"):
    p = subprocess.run([sys.executable, "-c", CHILD, op, src, dst, key.hex(), cipher, str(workers), str(bs),
                        block_hash],
                       capture_output=True, text=True, check=True)
    el, rss = p.stdout.split()
    return float(el), float(rss)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--block-kib", type=int, default=1024)
    ap.add_argument("--cipher", choices=["aes", "chacha"], default="aes")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--json")
    args = ap.parse_args()
    import qeltrix as q

    size = args.size_mib * MiB
    bs = args.block_kib * 1024
    src = os.path.join(args.dir, f"qeltrix-bench-{args.size_mib}.bin")
    if not os.path.exists(src) or os.path.getsize(src) != size:
        with open(src, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MiB))
    cont = src + ".qltx"
    out = src + ".out"
    key = q.random_master_key()
    threads = os.cpu_count() or 2
    res: dict = {"size_mib": args.size_mib, "workers": args.workers, "block_kib": args.block_kib,
                 "cipher": args.cipher, "threads": threads}
    ceil, ceil2 = [], []
    rows = {k: [] for k in ("pack_null", "pack_file", "unpack_null", "unpack_file")}
    rss = {"pack": 0.0, "unpack": 0.0}
    child("pack", src, cont, key, args.cipher, args.workers, bs)
    for _ in range(args.repeat):
        ceil.append(ceiling(args.cipher, threads))
        ceil2.append(ceiling(args.cipher, threads, hashes=2))
        for op, s, d, k in (("pack", src, os.devnull, "pack_null"), ("pack", src, cont, "pack_file"),
                            ("unpack", cont, os.devnull, "unpack_null"), ("unpack", cont, out, "unpack_file")):
            el, r = child(op, s, d, key, args.cipher, args.workers, bs)
            rows[k].append(args.size_mib / el)
            rss[op] = max(rss[op], r)
    res["ceiling_mbs"] = statistics.median(ceil)
    res["pack_design_ceiling_mbs"] = statistics.median(ceil2)
    for k, v in rows.items():
        res[k + "_mbs"] = statistics.median(v)
        res[k + "_ratio"] = res[k + "_mbs"] / res["ceiling_mbs"]
    res["pack_null_vs_design_ceiling"] = res["pack_null_mbs"] / res["pack_design_ceiling_mbs"]
    res["peak_rss_mib"] = rss
    res["rss_budget_mib"] = 100 + 3 * args.workers * bs / MiB

    # Seek: 4 KiB at random offsets.
    import qeltrix.reader as reader_mod
    from qeltrix.sources import open_random_access

    rng = random.Random(6)
    offsets = [rng.randrange(0, size - 4096) for _ in range(200)]
    opened = []
    real = reader_mod.open_blocks

    def counting(keys, group, *a, **kw):
        opened.extend(job[0] for job in group)
        return real(keys, group, *a, **kw)

    reader_mod.open_blocks = counting
    c = reader_mod.Container(open_random_access(cont), key)
    lat = []
    for off in offsets:
        opened.clear()
        t0 = time.perf_counter()
        c.read_range(off, 4096)
        lat.append((time.perf_counter() - t0) * 1000)
        assert len(opened) <= 2
    c.close()
    lat2 = []
    for off in offsets[:50]:
        t0 = time.perf_counter()
        q.seek_extract(cont, off, 4096, key)
        lat2.append((time.perf_counter() - t0) * 1000)
    reader_mod.open_blocks = real
    lat.sort()
    res["seek_open_once_ms"] = {"p50": statistics.median(lat), "p99": lat[int(len(lat) * 0.99) - 1]}
    res["seek_extract_ms_p50"] = statistics.median(lat2)
    for p in (cont, out):
        if os.path.exists(p):
            os.unlink(p)
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
