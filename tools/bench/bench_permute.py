#!/usr/bin/env python3
"""Single-threaded throughput of qeltrix._core.permute / unpermute on 1 MiB blocks, in GB/s.

    python tools/bench/bench_permute.py [--size BYTES] [--seconds S]

Measures the public functions (what the writer and reader call: kernel chosen for this CPU,
scratch buffer, GIL release included) and each gather kernel through the private
``_permute_with``. The target is >= 2 GB/s for the public functions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def measure(fn, buf: bytearray, key: bytes, seconds: float) -> float:
    """Best-of-5 throughput in GB/s (10**9 bytes per second)."""
    for _ in range(3):  # warm up: page faults, caches
        fn(buf, key)
    best = 0.0
    for _ in range(5):
        reps = 0
        start = time.perf_counter()
        deadline = start + seconds / 5
        while True:
            fn(buf, key)
            reps += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, reps * len(buf) / (now - start) / 1e9)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1 << 20, help="block size in bytes (1 MiB)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()

    from qeltrix import _core

    key = os.urandom(72)
    buf = bytearray(os.urandom(args.size))
    original = bytes(buf)

    print(f"block {args.size} bytes, python {sys.version.split()[0]}")
    results = {
        "permute": measure(_core.permute, buf, key, args.seconds),
        "unpermute": measure(_core.unpermute, buf, key, args.seconds),
    }
    for kernel in _core._permute_kernels():
        results[f"permute[{kernel}]"] = measure(
            lambda b, k, kernel=kernel: _core._permute_with(b, k, kernel), buf, key, args.seconds)
        results[f"unpermute[{kernel}]"] = measure(
            lambda b, k, kernel=kernel: _core._permute_with(b, k, kernel, True), buf, key,
            args.seconds)
    for name, gbps in results.items():
        print(f"{name:22s} {gbps:6.2f} GB/s")

    # Sanity: the public pair is an inverse pair on this block.
    check = bytearray(original)
    _core.permute(check, key)
    _core.unpermute(check, key)
    if check != original:
        print("error: unpermute(permute(x)) != x", file=sys.stderr)
        return 1
    slowest_public = min(results["permute"], results["unpermute"])
    if slowest_public < 2.0:
        print(f"below target: {slowest_public:.2f} GB/s < 2 GB/s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
