#!/usr/bin/env python3
"""Tink (Python) streaming AEAD, AES256_GCM_HKDF_1MB, as a benchmark peer (a library: timed in
process). Prints "elapsed_s peak_rss_mib".

    python tools/bench/peer_tink.py enc|dec KEYSET.json IN OUT
"""

from __future__ import annotations

import resource
import shutil
import sys
import time


def main() -> int:
    if len(sys.argv) != 5 or sys.argv[1] not in ("enc", "dec"):
        sys.exit(__doc__.strip())
    op, keyset, src, dst = sys.argv[1:5]
    import tink
    from tink import cleartext_keyset_handle, streaming_aead

    streaming_aead.register()
    with open(keyset) as f:
        handle = cleartext_keyset_handle.read(tink.JsonKeysetReader(f.read()))
    prim = handle.primitive(streaming_aead.StreamingAead)
    t0 = time.perf_counter()
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        if op == "enc":
            with prim.new_encrypting_stream(fo, b"") as enc:
                shutil.copyfileobj(fi, enc, 1 << 20)
        else:
            with prim.new_decrypting_stream(fi, b"") as dec:
                shutil.copyfileobj(dec, fo, 1 << 20)
    el = time.perf_counter() - t0
    print(el, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return 0


if __name__ == "__main__":
    sys.exit(main())
