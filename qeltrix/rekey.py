"""Changing who can open a 6.1 container without touching its payload: ``rekey`` and ``keys``.

A rekey rewrites only the keyring (two copies right after the 256-byte header; spec: "Changing
the keyring in place"): the new keyring goes over the copy that did not open the container,
with the next generation, and is made durable: that write is the commit point. Then the same
bytes go over the other copy, so removed slots are gone from the file. A process killed at any
instant, or a short write, leaves a container that opens with the old slots or the new ones.

Removing a slot does not revoke anybody who already held the file secret (they may have kept
it, and with it every block key): ``rotate`` re-encrypts everything under a new secret.
"""

from __future__ import annotations

import contextlib
import os
from typing import NamedTuple

from . import _core
from .crypto import VERSION_6_1, KdfParams, passphrase_bytes, raw_slot_kek, unwrap_secret
from .keyring import (Opened, Recipient, decode_copies, encode_copy, make_slots, open_keyring, prepare_recipients,
                      slot_kind)
from .reader import Layout, make_secrets, read_layout

__all__ = ["SlotInfo", "KeysReport", "RekeyResult", "keys", "rekey", "plan_keyring"]


class SlotInfo(NamedTuple):
    """One used slot: its number, type and, for an X25519 slot whose recipient the caller
    named or holds the identity of, that recipient (``age1...``)."""

    slot: int
    kind: str
    recipient: str | None = None


class KeysReport(NamedTuple):
    format: str
    capacity: int
    slots: list
    opened: bool
    generation: int

    @property
    def free(self) -> int:
        return self.capacity - len(self.slots)


class RekeyResult(NamedTuple):
    added: int
    removed: int
    slots: int
    generation: int
    bytes_written: int


def _local_layout(path):
    from .sources import open_random_access

    ra = open_random_access(path)
    if ra is None:
        raise ValueError("keys and rekey need a file or URL")
    with ra:
        return read_layout(ra)


def _require_61(layout: Layout) -> None:
    if layout.version == _core.VERSION_6_0:
        raise ValueError("this is a format 6.0 container: it has one key and no keyring; "
                         "re-encrypt it with 'qeltrix rekey --rotate' to get one")


def keys(src, master_key=None, *, passphrase=None, identities=None, recipients=()) -> KeysReport:
    """The slots of ``src``'s current keyring. Without a key: their types and the free room.
    With one: also which slot each given identity (or named recipient) opens."""
    layout = _local_layout(src)
    if layout.version == _core.VERSION_6_0:
        kind = "passphrase" if layout.header.kdf_id else "raw"
        return KeysReport("6.0", 1, [SlotInfo(0, kind)], False, 0)
    secrets = make_secrets(master_key, passphrase, identities)
    copies = decode_copies(layout.header, layout.keyring)
    opened = open_keyring(layout.header, layout.header_bytes, layout.keyring, secrets) if secrets else None
    copy = opened.copy if opened else copies[0]
    named = {}
    if opened:
        from .recipients import X25519Recipient

        for r in [*(i.recipient for i in secrets.identities), *(X25519Recipient.parse(r) if isinstance(r, str) else r
                                                                for r in recipients)]:
            named[opened.keys.recipient_tag(r.public_bytes)] = str(r)
    slots = [SlotInfo(j, slot_kind(t), named.get(bytes(body[80:96])) if t == _core.SLOT_X25519 else None)
             for j, (t, body) in enumerate(copy.slots) if t != _core.SLOT_EMPTY]
    return KeysReport("6.1", layout.header.keyring_slots, slots, opened is not None, copy.generation)


def plan_keyring(opened: Opened, *, add: list[Recipient] = (), remove_recipients=(), remove_passphrase=None,
                 remove_master_key=None, remove_slots=(), kdf_cache=None) -> tuple[list, int]:
    """The new slot list: the current copy's slots less the removed ones, plus the added ones.
    Returns (slots, number removed). Refuses to remove the last slot."""
    keys_ = opened.keys
    cid = keys_.container_id
    current = [(j, t, bytes(b)) for j, (t, b) in enumerate(opened.copy.slots) if t != _core.SLOT_EMPTY]
    drop: set[int] = set()
    for j in remove_slots:
        if j not in {c[0] for c in current}:
            raise ValueError(f"slot {j} is empty or does not exist")
        drop.add(j)
    for r in remove_recipients:
        from .recipients import X25519Recipient

        r = X25519Recipient.parse(r) if isinstance(r, str) else r
        tag = keys_.recipient_tag(r.public_bytes)
        hit = [j for j, t, b in current if t == _core.SLOT_X25519 and b[80:96] == tag]
        if not hit:
            raise ValueError(f"no slot is for the recipient {r}")
        drop.update(hit)
    if remove_master_key is not None:
        kek = raw_slot_kek(remove_master_key, cid)
        hit = [j for j, t, b in current if t == _core.SLOT_RAW and unwrap_secret(kek, b) is not None]
        if not hit:
            raise ValueError("no slot opens with that key")
        drop.update(hit)
    if remove_passphrase is not None:
        from .crypto import derive_master_key, passphrase_slot_kek
        from .keyring import slot_kdf_params

        hit = []
        for j, t, b in current:
            params = slot_kdf_params(t, b)
            if params is None:
                continue
            out = derive_master_key(passphrase_bytes(remove_passphrase, VERSION_6_1), params)
            if unwrap_secret(passphrase_slot_kek(out, cid), b[28:]) is not None:
                hit.append(j)
        if not hit:
            raise ValueError("no slot opens with that passphrase")
        drop.update(hit)
    kept = [(t, b) for j, t, b in current if j not in drop]
    new = make_slots(list(add), keys_)
    if not kept and not new:
        raise ValueError("refusing to remove the last key slot: nobody could open the container")
    return kept + new, len(drop)


def _write_at(fd: int, offset: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError("short write")
        view, offset = view[n:], offset + n


def rekey(path, master_key=None, *, passphrase=None, identities=None, add_recipients=(), add_passphrase=None,
          add_master_key=None, remove_recipients=(), remove_passphrase=None, remove_master_key=None,
          remove_slots=(), kdf_params: KdfParams | None = None, _write=_write_at) -> RekeyResult:
    """Change who can open the 6.1 container at ``path`` (a local file), in place: opened with
    ``master_key``, ``passphrase`` or ``identities``; slots added for ``add_recipients`` (age
    ``age1...``), ``add_passphrase``, ``add_master_key``; removed for ``remove_recipients``,
    ``remove_passphrase``, ``remove_master_key`` or by number (``remove_slots``, as ``keys``
    lists them). Only the keyring is written (at most twice its size), crash-safely."""
    changes = (add_recipients, add_passphrase, add_master_key, remove_recipients, remove_passphrase,
               remove_master_key, remove_slots, kdf_params)
    from .sources import is_url

    if is_url(path):
        return _rekey_object(path, make_secrets(master_key, passphrase, identities), changes)
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        layout = _read_fd_layout(fd)
        _require_61(layout)
        opened = open_keyring(layout.header, layout.header_bytes, layout.keyring,
                              make_secrets(master_key, passphrase, identities))
        new_copy, added, removed, slots = _new_copy(layout, opened, *changes)
        size = layout.header.keyring_copy_size
        other = 1 - opened.copy.which
        # 1. the copy that did not open it: the commit point once durable
        _write(fd, _core.HEADER61_SIZE + other * size, new_copy)
        os.fsync(fd)
        # 2. the old copy, so that removed slots are gone from the file too
        _write(fd, _core.HEADER61_SIZE + opened.copy.which * size, new_copy)
        os.fsync(fd)
    finally:
        os.close(fd)
    return RekeyResult(added, removed, slots, opened.copy.generation + 1, 2 * len(new_copy))


def _new_copy(layout, opened, add_recipients, add_passphrase, add_master_key, remove_recipients,
              remove_passphrase, remove_master_key, remove_slots, kdf_params):
    add = prepare_recipients(add_master_key, add_passphrase, add_recipients, kdf_params=kdf_params) \
        if (add_master_key is not None or add_passphrase is not None or add_recipients) else []
    if not add and not (remove_recipients or remove_passphrase is not None or remove_master_key is not None
                        or remove_slots):
        raise ValueError("nothing to change: add or remove a recipient, passphrase or key")
    slots, removed = plan_keyring(opened, add=add, remove_recipients=remove_recipients,
                                  remove_passphrase=remove_passphrase, remove_master_key=remove_master_key,
                                  remove_slots=remove_slots)
    n = layout.header.keyring_slots
    if len(slots) > n:
        raise ValueError(f"the keyring is full ({n} slots): re-encrypt with a larger --keyring-slots "
                         "(qeltrix rekey --rotate)")
    copy = encode_copy(opened.keys, layout.header.header_mac, n, opened.copy.generation + 1, slots)
    return copy, len(add), removed, len(slots)


#: S3's smallest part (all but the last): the new header and keyring go up in a part this big.
MIN_PART = 5 << 20
#: S3's largest part, for the server-side copies of the rest.
MAX_PART = 5 << 30


def _rekey_object(url: str, secrets, changes) -> RekeyResult:
    """Rekey an object in an S3-compatible store without downloading its payload: a multipart
    upload whose first part is the new header and keyring plus the smallest leading range the
    store's minimum part size forces, and server-side copies (UploadPartCopy, conditional on the
    object's ETag) for the rest. Completing the upload replaces the object at once: a crash
    before that leaves it as it was (the upload is aborted on any error)."""
    from urllib.parse import urlsplit

    from .sources.fsspecsource import FsspecAccess

    if urlsplit(url).scheme.lower() in ("http", "https"):
        raise ValueError(f"{url}: an http(s) URL is read-only: rekey a local file or an s3:// object")
    ra = FsspecAccess(url)
    try:
        fs = ra.fs
        if not hasattr(fs, "call_s3"):
            raise ValueError(f"{url}: rekey in place needs an S3-compatible store (server-side part copies)")
        layout = read_layout(ra)
        _require_61(layout)
        opened = open_keyring(layout.header, layout.header_bytes, layout.keyring, secrets)
        new_copy, added, removed, slots = _new_copy(layout, opened, *changes)
        start = layout.data_offset
        head = min(ra.size, max(MIN_PART, start))
        first = layout.header_bytes + new_copy + new_copy + bytes(ra.read_exact(start, head - start))
        info = fs.info(ra.path)
        etag = info.get("ETag") or info.get("etag")
        bucket, key, _ = fs.split_path(ra.path)
    finally:
        ra.close()
    mpu = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    upload_id = mpu["UploadId"]
    try:
        parts = [{"PartNumber": 1, "ETag": fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload_id,
                                                      PartNumber=1, Body=first)["ETag"]}]
        offset = head
        while offset < ra.size:
            end = min(ra.size, offset + MAX_PART)
            extra = {"CopySourceIfMatch": etag} if etag else {}
            r = fs.call_s3("upload_part_copy", Bucket=bucket, Key=key, UploadId=upload_id,
                           PartNumber=len(parts) + 1, CopySource={"Bucket": bucket, "Key": key},
                           CopySourceRange=f"bytes={offset}-{end - 1}", **extra)
            parts.append({"PartNumber": len(parts) + 1, "ETag": r["CopyPartResult"]["ETag"]})
            offset = end
        fs.call_s3("complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id,
                   MultipartUpload={"Parts": parts})
    except BaseException:
        with contextlib.suppress(Exception):  # the error that stopped the upload is the one to report
            fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    fs.invalidate_cache(ra.path)
    return RekeyResult(added, removed, slots, opened.copy.generation + 1, len(first))


def _read_fd_layout(fd: int) -> Layout:
    """The layout as the open descriptor sees it (the file the rekey then writes)."""
    from .sources import open_random_access

    with os.fdopen(os.dup(fd), "rb") as f, open_random_access(f) as ra:
        return read_layout(ra)


def rotate(path, master_key=None, *, passphrase=None, identities=None, new_master_key=None, new_passphrase=None,
           new_recipients=(), keyring_slots: int | None = None, workers: int = 4):
    """Re-encrypt ``path`` under a new file secret for exactly the new recipients (real
    revocation): streamed in constant memory from the open container into a temporary file
    renamed over ``path`` once complete. Cipher, block size and the stored name and mtime stay."""
    from .fileobj import open_container
    from .keyring import DEFAULT_SLOTS
    from .writer import pack

    with open_container(path, master_key, passphrase=passphrase, identities=identities, workers=workers) as f:
        c = f.container
        h = c.header
        options = {}
        if c.version != _core.VERSION_6_0:
            options = dict(block_hash=h.block_hash, index_hash=h.index_hash)
        return pack(f, path, new_master_key, block_size=h.block_size, cipher_id=h.cipher_id, workers=workers,
                    permute=h.permuted, passphrase=new_passphrase, recipients=new_recipients, name=c.name,
                    mtime=c.info.mtime, keyring_slots=keyring_slots or DEFAULT_SLOTS, **options)
