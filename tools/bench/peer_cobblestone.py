#!/usr/bin/env python3
"""Peer: cryptography's chunked streaming AEAD (``cryptography.cobblestone``, cryptography >= 50),
one thread, file to file in 1 MiB reads; prints "elapsed_s peak_rss_mib".

    python tools/bench/peer_cobblestone.py enc KEYFILE SRC DST
    python tools/bench/peer_cobblestone.py dec KEYFILE SRC DST

KEYFILE holds the 32 raw key bytes. A stream only: no random access, no parallelism, no index.
"""

import resource
import sys
import time

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor

CHUNK = 1 << 20
CONTEXT = b"qeltrix benchmark peer"


def main() -> int:
    if len(sys.argv) != 5 or sys.argv[1] not in ("enc", "dec"):
        sys.exit(__doc__.strip())
    op, keyfile, src, dst = sys.argv[1:5]
    key = open(keyfile, "rb").read()
    cls = Cobblestone256Encryptor if op == "enc" else Cobblestone256Decryptor
    t0 = time.perf_counter()
    c = cls(key, CONTEXT)
    buf = bytearray(CHUNK + (CHUNK >> 4) + 4096)  # room for the tags of a chunk and what is held back
    with open(src, "rb", buffering=0) as fi, open(dst, "wb", buffering=0) as fo:
        data = bytearray(CHUNK)
        view = memoryview(data)
        while True:
            n = fi.readinto(data)
            if not n:
                break
            k = c.update_into(view[:n], buf)
            fo.write(memoryview(buf)[:k])
        fo.write(c.finalize())
    el = time.perf_counter() - t0
    print(el, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return 0


if __name__ == "__main__":
    sys.exit(main())
