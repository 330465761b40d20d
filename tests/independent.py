"""An independent V6 decoder: the parser generated from the spec plus the crypto module, with no
use of the C++ core. Tests compare it with the main path; any disagreement fails."""

from __future__ import annotations

import hashlib
import hmac
import math
import struct

from qeltrix.crypto import KDF_NONE, FileKeys, KdfParams, derive_master_key
from qeltrix.errors import DamagedError
from qeltrix.inspect import parse_container

META = struct.Struct(">QI12s32s12s48s32s")
INFO = struct.Struct(">QQH")


def permutation(n: int, key: bytes):
    """The spec's permutation, literally: returns src such that out[j] = in[src[j]]."""
    t = list(range(64))
    for k in range(63, 0, -1):
        j = key[63 - k] % (k + 1)
        t[k], t[j] = t[j], t[k]
    c = n // 64
    src = list(range(n))
    if c:
        s = int.from_bytes(key[64:72], "big")
        a = s % c or 1
        while math.gcd(a, c) != 1:
            a = a + 1 if a + 1 < c else 1
        b = (s >> 32) % c
        for m in range(c):
            q = (a * m + b) % c
            for k in range(64):
                src[64 * m + k] = 64 * q + t[k]
    return src


def unpermute(data: bytes, key: bytes) -> bytes:
    src = permutation(len(data), key)
    out = bytearray(len(data))
    for j, s in enumerate(src):
        out[s] = data[j]
    return bytes(out)


def decode(blob: bytes, master_key=None, passphrase=None) -> bytes:
    p = parse_container(blob)
    h, f = p.header, p.footer
    if h.kdf.value == KDF_NONE:
        mk = master_key
    else:
        mk = derive_master_key(passphrase, KdfParams(h.kdf.value, h.kdf_salt, h.kdf_t, h.kdf_m, h.kdf_p))
    keys = FileKeys(mk, h.container_id, h.cipher.value, h.block_size)
    keys.check_commitment(h.key_commitment)
    if not hmac.compare_digest(keys.header_mac(blob[:108]), h.header_mac):
        raise DamagedError("header failed authentication")
    fo = p.trailer.ofs_footer
    footer = blob[fo:fo + p.trailer.len_footer]
    if not hmac.compare_digest(keys.footer_mac(h.header_mac, footer[:32], footer[64:]), f.footer_mac):
        raise DamagedError("footer failed authentication")
    n = len(f.entries)
    out = []
    for i, e in enumerate(f.entries):
        b = e.block
        pre = blob[e.ofs_block:e.ofs_block + 28]
        if b.prefix.index != i or b.prefix.is_final != (i == n - 1):
            raise DamagedError("prefix does not match", i)
        meta = keys.open_meta(b.meta_iv, b.meta_sealed, pre, i)
        ofs, ln, piv, salt, wiv, wrapped, digest = META.unpack(meta)
        if (ofs, ln) != (e.ofs_plaintext, e.len_plaintext):
            raise DamagedError("metadata does not match", i)
        cdk = keys.unwrap_cdk(wiv, wrapped, i)
        pt = bytearray(ln)
        keys.open_payload(cdk, piv, b.payload_sealed, keys.payload_aad(i, i == n - 1), pt, i)
        pt = bytes(pt)
        if h.permuted:
            pt = unpermute(pt, keys.permutation_key(cdk, salt, i, digest))
        if hashlib.sha256(pt).digest() != digest:
            raise DamagedError("plaintext hash mismatch", i)
        out.append(pt)
    info = keys.open_info(footer[len(footer) - f.len_info:])
    size, _mtime, ln = INFO.unpack_from(info)
    data = b"".join(out)
    if size != len(data) or f.len_plaintext != len(data):
        raise DamagedError("sizes disagree")
    return data
