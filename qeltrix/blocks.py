"""Sealing and opening one block (spec: "Per block i").

A stored block is ``prefix (28) | meta_iv (12) | meta_sealed (164) | payload_sealed (n + 16)``.
The functions work on caller-provided buffers so that the pack and unpack pipelines can reuse
memory; they hold no state and are safe to call from worker threads. The ``*_blocks`` forms take
a group of blocks and compute its SHA-256 digests together (``crypto.sha256_many``: interleaved
lanes, the hot spot of both directions); the digests and the bytes are those of one at a time.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from . import _core
from .crypto import IV_SIZE, SALT_SIZE, FileKeys, compare_digest, sha256_many
from .errors import DamagedError, NotAContainerError

PREFIX = _core.PREFIX_SIZE
META_IV_END = PREFIX + _core.META_IV_SIZE  # 40
PAYLOAD_START = META_IV_END + _core.META_SEALED_SIZE  # 204
OVERHEAD = _core.BLOCK_OVERHEAD  # 220


class Opened(NamedTuple):
    """What a block's authenticated metadata gave: its plaintext hash, its key (CDK, checked
    against FK, salt, index and hash), the payload's IV and AAD, the permutation key (or None).
    Enough to open the same payload again (``reopen_payload``)."""

    pt_hash: bytes
    cdk: bytes
    payload_iv: bytes
    aad: bytes
    perm_key: bytes | None


def stored_size(plain_size: int) -> int:
    return plain_size + OVERHEAD


def seal_block(keys: FileKeys, index: int, plain_offset: int, data, final: bool,
               permuted: bool, out: bytearray, rand=os.urandom, index_hash=sha256_many) -> bytes:
    """Seal plaintext ``data`` as block ``index`` into ``out`` (exactly stored_size bytes).

    Returns the index entry hash (``index_hash`` of the stored bytes). With ``permuted``,
    ``data`` must be writable: it is permuted in place.
    """
    return seal_blocks(keys, [(index, plain_offset, data, final, out)], permuted, rand, index_hash)[0]


def seal_blocks(keys: FileKeys, group, permuted: bool, rand=os.urandom, index_hash=sha256_many) -> list:
    """``seal_block`` for each ``(index, plain_offset, data, final, out)`` of ``group``, in order
    (random values are drawn block by block, as one at a time would). Returns the entry hashes
    (``index_hash`` of each stored block: the header's index hash)."""
    pt_hashes = keys.block_hash_many([data for _, _, data, _, _ in group])
    for (index, plain_offset, data, final, out), pt_hash in zip(group, pt_hashes):
        _seal_hashed(keys, index, plain_offset, data, final, permuted, out, pt_hash, rand)
    return index_hash([out for _, _, _, _, out in group])


def _seal_hashed(keys: FileKeys, index: int, plain_offset: int, data, final: bool, permuted: bool,
                 out, pt_hash: bytes, rand) -> None:
    n = len(data)
    view = memoryview(out)
    block_salt = rand(SALT_SIZE)
    cdk = keys.block_key(block_salt, index, pt_hash)
    if permuted:
        _core.permute(data, keys.permutation_key(cdk, block_salt, index, pt_hash))
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


def open_block(keys: FileKeys, index: int, stored, plain_offset: int, plain_size: int,
               final: bool, permuted: bool, verify: bool, out) -> None:
    """Authenticate and decrypt stored block ``index`` into ``out`` (``plain_size`` bytes).

    ``plain_offset``, ``plain_size`` and ``final`` are what the authenticated footer says of the
    block; any disagreement with the block itself is damage. Raises DamagedError; never leaves
    unauthenticated bytes in ``out`` for the caller to use (the caller discards ``out`` on error).
    """
    expected = _open_unverified(keys, index, stored, plain_offset, plain_size, final, permuted, out).pt_hash
    if verify:
        check_plaintext_hashes(keys, [(index, out, expected)])


def open_blocks(keys: FileKeys, group, permuted: bool, verify: bool) -> list:
    """``open_block`` for each ``(index, stored, plain_offset, plain_size, final, out)`` of
    ``group``; with ``verify``, the plaintext hashes are checked together once all decrypted.
    If any block fails, every ``out`` of the group is zeroed before the error propagates.
    Returns each block's ``Opened`` (in order)."""
    try:
        opened = [_open_unverified(keys, index, stored, plain_offset, plain_size, final, permuted, out)
                  for index, stored, plain_offset, plain_size, final, out in group]
        if verify:
            check_plaintext_hashes(keys, [(job[0], job[5], o.pt_hash) for job, o in zip(group, opened)])
        return opened
    except BaseException:
        for *_, out in group:
            zero(out)
        raise


def reopen_payload(keys: FileKeys, index: int, opened: Opened, sealed_payload, permuted: bool, out) -> None:
    """Authenticate and decrypt block ``index``'s sealed payload (its stored bytes from offset
    ``PAYLOAD_START``) with what opening its metadata gave before (``opened``): for a caller
    holding the block's other stored bytes unchanged since then (compared byte for byte), which
    opening again would only repeat. The payload itself is authenticated as always (DamagedError,
    ``out`` zeroed)."""
    keys.open_payload(opened.cdk, opened.payload_iv, sealed_payload, opened.aad, out, index)
    if permuted:
        _core.unpermute(out, opened.perm_key)


def zero(buf) -> None:
    """Overwrite a writable buffer with zero bytes (a failed open must leave no plaintext)."""
    view = memoryview(buf).cast("B")
    view[:] = bytes(len(view))


def check_plaintext_hashes(keys: FileKeys, checks) -> None:
    """``checks``: (index, plaintext, the block hash its sealed metadata holds). DamagedError for
    the first block whose plaintext does not hash to it."""
    for (index, _, expected), got in zip(checks, keys.block_hash_many([pt for _, pt, _ in checks])):
        if not compare_digest(got, expected):
            raise DamagedError(f"block {index}: plaintext hash mismatch", index)


def _open_unverified(keys: FileKeys, index: int, stored, plain_offset: int, plain_size: int,
                     final: bool, permuted: bool, out) -> Opened:
    """Authenticate and decrypt; return what the sealed metadata gave (its plaintext hash to check)."""
    stored = memoryview(stored)
    if len(stored) != plain_size + OVERHEAD:
        raise DamagedError(f"block {index}: stored size does not match the index", index)
    prefix_bytes = stored[:PREFIX]
    try:
        prefix = _core.decode_prefix(prefix_bytes, keys.block_size)
    except (DamagedError, NotAContainerError) as e:  # a bad magic inside a container is damage
        raise DamagedError(f"block {index}: {e}", index) from None
    if prefix.index != index or prefix.payload_size != plain_size + _core.TAG_SIZE or prefix.final != final:
        raise DamagedError(f"block {index}: prefix does not match the index", index)
    meta = _core.decode_meta(keys.open_meta(stored[PREFIX:META_IV_END], stored[META_IV_END:PAYLOAD_START],
                                            prefix_bytes, index))
    if meta.plain_offset != plain_offset or meta.plain_size != plain_size:
        raise DamagedError(f"block {index}: metadata does not match the index", index)
    cdk = keys.unwrap_cdk(meta.wrap_iv, meta.wrapped_cdk, index)
    # CDK must be HKDF(FK, block_salt, i || H) for the H the metadata holds (which the caller
    # then checks against the plaintext): the writer's binding, enforced on read.
    pt_hash = meta.plaintext_sha256
    keys.check_block_key(cdk, meta.block_salt, index, pt_hash)
    aad = keys.payload_aad(index, final)
    keys.open_payload(cdk, meta.payload_iv, stored[PAYLOAD_START:], aad, out, index)
    perm_key = None
    if permuted:
        perm_key = keys.permutation_key(cdk, meta.block_salt, index, pt_hash)
        _core.unpermute(out, perm_key)
    return Opened(pt_hash, cdk, meta.payload_iv, aad, perm_key)
