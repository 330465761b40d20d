"""Sealing and opening one block (spec: "Per block i").

A stored block is ``prefix (28) | meta_iv (12) | meta_sealed (164) | payload_sealed (n + 16)``.
Both functions work on caller-provided buffers so that the pack and unpack pipelines can reuse
memory; they hold no state and are safe to call from worker threads.
"""

from __future__ import annotations

import hashlib
import os

from . import _core
from .crypto import IV_SIZE, SALT_SIZE, FileKeys
from .errors import DamagedError

PREFIX = _core.PREFIX_SIZE
META_IV_END = PREFIX + _core.META_IV_SIZE  # 40
PAYLOAD_START = META_IV_END + _core.META_SEALED_SIZE  # 204
OVERHEAD = _core.BLOCK_OVERHEAD  # 220


def stored_size(plain_size: int) -> int:
    return plain_size + OVERHEAD


def seal_block(keys: FileKeys, index: int, plain_offset: int, data, final: bool,
               permuted: bool, out: bytearray, rand=os.urandom) -> bytes:
    """Seal plaintext ``data`` as block ``index`` into ``out`` (exactly stored_size bytes).

    Returns the footer entry hash (SHA-256 of the stored bytes). With ``permuted``, ``data``
    must be writable: it is permuted in place.
    """
    n = len(data)
    view = memoryview(out)
    pt_hash = hashlib.sha256(data).digest()
    block_salt = rand(SALT_SIZE)
    cdk = keys.block_key(block_salt, index, pt_hash)
    if permuted:
        _core.permute(data, keys.permutation_key(cdk))
    payload_iv = rand(IV_SIZE)
    keys.seal_payload(cdk, payload_iv, data, keys.payload_aad(index, final), view[PAYLOAD_START:])

    wrap_iv = rand(IV_SIZE)
    meta = _core.Meta()
    meta.plain_offset = plain_offset
    meta.plain_size = n
    meta.payload_iv = payload_iv
    meta.block_salt = block_salt
    meta.wrap_iv = wrap_iv
    meta.wrapped_cdk = keys.wrap_cdk(wrap_iv, cdk, index)
    meta.plaintext_sha256 = pt_hash
    prefix = _core.encode_prefix(_core.Prefix(index, n + _core.TAG_SIZE, final))
    meta_iv = rand(IV_SIZE)
    view[:PREFIX] = prefix
    view[PREFIX:META_IV_END] = meta_iv
    keys.seal_meta(meta_iv, _core.encode_meta(meta), prefix, view[META_IV_END:PAYLOAD_START])
    return hashlib.sha256(out).digest()


def open_block(keys: FileKeys, index: int, stored, plain_offset: int, plain_size: int,
               final: bool, permuted: bool, verify: bool, out) -> None:
    """Authenticate and decrypt stored block ``index`` into ``out`` (``plain_size`` bytes).

    ``plain_offset``, ``plain_size`` and ``final`` are what the authenticated footer says of the
    block; any disagreement with the block itself is damage. Raises DamagedError; never leaves
    unauthenticated bytes in ``out`` for the caller to use (the caller discards ``out`` on error).
    """
    stored = memoryview(stored)
    if len(stored) != plain_size + OVERHEAD:
        raise DamagedError(f"block {index}: stored size does not match the index", index)
    prefix_bytes = stored[:PREFIX]
    try:
        prefix = _core.decode_prefix(prefix_bytes, keys.block_size)
    except DamagedError as e:
        raise DamagedError(f"block {index}: {e}", index) from None
    if prefix.index != index or prefix.payload_size != plain_size + _core.TAG_SIZE or prefix.final != final:
        raise DamagedError(f"block {index}: prefix does not match the index", index)
    meta = _core.decode_meta(keys.open_meta(stored[PREFIX:META_IV_END], stored[META_IV_END:PAYLOAD_START],
                                            prefix_bytes, index))
    if meta.plain_offset != plain_offset or meta.plain_size != plain_size:
        raise DamagedError(f"block {index}: metadata does not match the index", index)
    cdk = keys.unwrap_cdk(meta.wrap_iv, meta.wrapped_cdk, index)
    keys.open_payload(cdk, meta.payload_iv, stored[PAYLOAD_START:], keys.payload_aad(index, final), out, index)
    if permuted:
        _core.unpermute(out, keys.permutation_key(cdk))
    if verify and hashlib.sha256(out).digest() != meta.plaintext_sha256:
        raise DamagedError(f"block {index}: plaintext hash mismatch", index)
