"""The operations on whole containers: unpack, seek, verify, info (pack lives in writer.py;
the ``Container`` they open, in reader.py)."""

from __future__ import annotations

import itertools
import time
from typing import NamedTuple

from . import _core
from .crypto import CIPHER_NAMES, HASH_NAMES, KDF_NAMES, TEST_KDF_ENV, KdfParams, compare_digest, hash_many, weak_kdf
from .errors import DamagedError, QeltrixError
from .sources import AtomicOutput, SequentialReader, open_output, open_random_access
from .blocks import OVERHEAD
from .fileinfo import safe_output_name
from .pipeline import BufferPool, group_size, grouped, ordered_map, ordered_map_pull, plan
from .reader import Container, StreamOpener, read_index, read_layout, run_spans, stored_runs

__all__ = ["UnpackResult", "VerifyResult", "unpack", "seek_extract", "verify", "info"]


# Results are NamedTuples, not dataclasses: importing dataclasses (and inspect with it) was a
# third of the CLI's import time, and a CLI process lives for a fraction of a second.
class UnpackResult(NamedTuple):
    total_blocks: int
    bytes_out: int
    elapsed_s: float
    integrity_ok: bool
    verified: bool
    name: str | None = None
    output: str | None = None

    @property
    def total_size(self) -> int:
        return self.bytes_out


class VerifyResult(NamedTuple):
    ok: bool
    keyed: bool
    total_blocks: int
    plaintext_size: int
    errors: list


def unpack(src, dst, master_key=None, workers: int = 4, verify: bool = True, *, passphrase=None,
           identities=None, overwrite: bool = True, progress=None, stream: bool = False) -> UnpackResult:
    """Decrypt container ``src`` to ``dst`` (path, ``"-"``, writable file object, or None to
    restore the stored file name in the current folder).

    Every block is authenticated before its plaintext is written; a path output is written to a
    temporary file and renamed only once every block, the footer and the trailer verified.
    ``verify=False`` skips only the plaintext hash check (AEAD tags are always checked).
    A source that cannot seek (a pipe, ``"-"``) is read front to back in one pass; so is any
    source with ``stream=True``.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError("workers must be a positive integer")
    t0 = time.perf_counter()
    container = None if stream else Container.open(src, master_key, passphrase=passphrase, identities=identities,
                                                   verify=verify, workers=workers)
    if container is None:
        return _unpack_one_pass(src, dst, master_key, passphrase, identities, workers, verify, overwrite,
                                progress, t0)
    with container:
        container.remember_checked = False  # one pass: no block comes back
        out = open_output(safe_output_name(container.name) if dst is None else dst, overwrite=overwrite)
        with out:
            for pt in _plaintexts(container, workers):
                out.write(pt)
                if progress is not None:
                    progress(len(pt))
            out.commit()
        return UnpackResult(container.num_blocks, container.size, time.perf_counter() - t0, True, verify,
                            container.name, getattr(out, "path", None))


def _plaintexts(container: Container, workers: int):
    """Every block's plaintext in order, decrypted by a pipeline (each view valid until the
    next one is asked for)."""
    if not getattr(container.ra, "positional", False):
        yield from _remote_plaintexts(container, workers)
        return
    n = container.num_blocks
    bs = container.header.block_size
    threads, lanes, window = plan(workers, bs)
    plain_pool = BufferPool(bs, keep=(window + 2) * lanes)
    # Local: each worker reads its blocks into reused buffers, then decrypts them into others;
    # nothing is allocated per block.
    stored_pool = BufferPool(bs + OVERHEAD, keep=(threads + 1) * lanes)

    def job(group):
        return container.decrypt_blocks(group, stored_pool, plain_pool)

    for pt, buf in itertools.chain.from_iterable(ordered_map(job, grouped(range(n), lanes), threads, window)):
        yield pt
        plain_pool.put(buf)


#: Stored bytes of one run of adjacent blocks that a remote unpack fetches in one request and
#: decrypts in one job, rounded to whole groups of ``lanes`` blocks (4 MiB: as fast as 8 here,
#: with half the buffers; 2 MiB costs more CPU).
RUN_BYTES = 4 << 20


def _remote_plaintexts(container: Container, workers: int, run_bytes: int | None = None):
    """Remote: each job fetches a run of adjacent stored blocks (one ranged request) straight
    into a reused buffer, then decrypts its blocks (``lanes`` at a time, hashed side by side, so
    a run is whole groups of lanes); ``workers`` jobs at once (each waits on the network for part
    of its time), runs in order."""
    n = container.num_blocks
    bs = container.header.block_size
    index, ra = container.index, container.ra
    lanes = group_size(bs)
    run_bytes = RUN_BYTES if run_bytes is None else run_bytes
    blocks_per_run = max(lanes, run_bytes // (bs + OVERHEAD) // lanes * lanes)
    run_bytes = blocks_per_run * (bs + OVERHEAD)  # every run fits a pool buffer
    threads = workers
    window = threads + 1  # a run waiting to be written while each thread works on its own
    run_pool = BufferPool(run_bytes, keep=threads + 1)
    plain_pool = BufferPool(bs, keep=(window + 1) * blocks_per_run)

    def job(span):
        i, j = span
        start = index[i].block_offset
        end_e = index[j - 1]
        size = end_e.block_offset + end_e.block_size - start
        sbuf = run_pool.get() if size <= run_bytes else bytearray(size)  # (larger: never, for a sound index)
        out = []
        try:
            run = ra.read_into(start, memoryview(sbuf)[:size])
            for group in grouped(range(i, j), lanes):
                items = []
                for k in group:
                    e = index[k]
                    items.append((k, run[e.block_offset - start:e.block_offset - start + e.block_size]))
                out += container.decrypt_blocks(items, None, plain_pool)
            del run, items
        finally:
            if len(sbuf) == run_bytes:
                run_pool.put(sbuf)
        return out

    for pt, buf in itertools.chain.from_iterable(ordered_map(job, run_spans(index, 0, n, run_bytes), threads,
                                                                window)):
        yield pt
        plain_pool.put(buf)


def _runs(container: Container, n: int, run_bytes: int = 8 << 20, first: int = 0):
    """Stored blocks ``first..n-1`` in file order (see ``Container.iter_stored``)."""
    return stored_runs(container, first, n, run_bytes)


def _unpack_one_pass(src, dst, master_key, passphrase, identities, workers, verify, overwrite, progress, t0):
    reader = SequentialReader(src)
    try:
        opener = StreamOpener(reader, master_key, passphrase=passphrase, identities=identities, verify=verify)
        if dst is None:
            # renamed once the name is known
            out = AtomicOutput(".qeltrix-unpack", overwrite=True, shown="the unpacked file (in the current folder)")
        else:
            out = open_output(dst, overwrite=overwrite)
        with out:
            total = 0
            # Each worker reads the next group of blocks from the stream itself (in turn), then
            # decrypts it (CPU-bound) while the next worker reads, and this thread writes: reading
            # the pipe overlaps the rest, and a damaged block is reported even while a read waits.
            bs = opener.header.block_size
            threads, lanes, window = plan(workers, bs)
            window = max(threads + 1, window)  # what ordered_map_pull keeps in flight at least
            plain_pool = BufferPool(bs, keep=(window + 1) * lanes)
            groups = grouped(opener.blocks(in_flight=window * lanes), lanes)
            results = ordered_map_pull(lambda group: opener.open_group(group, plain_pool), groups, threads, window)
            try:
                for pt in itertools.chain.from_iterable(results):
                    out.write(pt)
                    total += len(pt)
                    if progress is not None:
                        progress(len(pt))
                    plain_pool.put(pt.obj)
            finally:
                results.close()  # on an error here: the reader stops now, not when garbage-collected
            info = opener.finish()
            if dst is None:
                out.retarget(safe_output_name(info.name), overwrite=overwrite)
            out.commit()
        return UnpackResult(len(opener.seen), total, time.perf_counter() - t0, True, verify, info.name,
                            getattr(out, "path", None))
    finally:
        reader.close()


def seek_extract(src, seek_offset: int, seek_len: int, master_key=None, *, passphrase=None,
                 identities=None, verify: bool = True, workers: int = 4) -> bytes:
    """Plaintext bytes [seek_offset, seek_offset + seek_len) of container ``src``.

    Only the blocks holding those bytes are read and decrypted, after the header and footer are
    authenticated. A range running past the end is clamped to it; an offset at or past the end
    gives ``b""``. Negative values raise ValueError. ``workers`` threads decrypt (and, from a
    URL, fetch) in parallel.
    """
    if not isinstance(seek_offset, int) or not isinstance(seek_len, int):
        raise TypeError("seek_offset and seek_len must be integers")
    if seek_offset < 0 or seek_len < 0:
        raise ValueError("seek_offset and seek_len must be non-negative")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError("workers must be a positive integer")
    container = Container.open(src, master_key, passphrase=passphrase, identities=identities, verify=verify,
                               workers=workers)
    if container is None:
        raise ValueError("seek needs a seekable source (a file, URL, bytes or a seekable file object)")
    with container:
        return container.read_range(seek_offset, seek_len, workers=workers)


def keyring_summary(layout) -> dict | None:
    """What anyone can see of a 6.1 keyring: slot count, the current copy's used slot types
    (never which recipient) and its free slots; None for 6.0."""
    if layout.keyring is None:
        return None
    from .keyring import decode_copies, slot_kind

    copies = decode_copies(layout.header, layout.keyring)
    cur = copies[0]
    used = [slot_kind(t) for t, _ in cur.slots if t != _core.SLOT_EMPTY]
    return {"slots": layout.header.keyring_slots, "used": used, "free": layout.header.keyring_slots - len(used),
            "generation": cur.generation, "copies_sound": len(copies)}


def _passphrase_kdf(layout) -> tuple[str, dict | None]:
    from .keyring import decode_copies, first_passphrase_params

    p = first_passphrase_params(decode_copies(layout.header, layout.keyring)[0])
    if p is None:
        return "none", None
    return KDF_NAMES[p.kdf_id], {"t": p.t, "m": p.m, "p": p.p}


def info(src, *, limits=None) -> dict:
    """What anyone can read without the key: the header, the keyring's slot types and the
    index's totals (nothing here is authenticated)."""
    ra = open_random_access(src)
    if ra is None:
        raise ValueError("info needs a seekable source")
    with ra:
        layout = read_layout(ra)
        header = layout.header
        index, footer, footer_offset = read_index(ra, header, limits, layout)
        v60 = layout.version == _core.VERSION_6_0
        d = {
            "version": _core.VERSION,
            "format": "6.0" if v60 else "6.1",
            "cipher": CIPHER_NAMES[header.cipher_id],
            "cipher_id": header.cipher_id,
        }
        if v60:
            d["kdf"] = KDF_NAMES[header.kdf_id]
            d["kdf_params"] = {"t": header.kdf_t, "m": header.kdf_m, "p": header.kdf_p} if header.kdf_id else None
        else:  # the passphrase KDF, as 6.0 reported it: that of the first passphrase slot
            d["keyring"] = keyring_summary(layout)
            d["kdf"], d["kdf_params"] = _passphrase_kdf(layout)
            d["block_hash"] = HASH_NAMES[header.block_hash]
            d["index_hash"] = HASH_NAMES[header.index_hash]
        d.update({
            "block_size": header.block_size,
            "permuted": header.permuted,
            "header_patched": not header.streamed,
            "total_blocks": len(index),
            "original_size": index.plaintext_size,
            "container_size": ra.size,
            "footer_offset": footer_offset,
            "footer_size": len(footer),
            "container_id": header.container_id.hex(),
            "authenticated": False,
        })
        params = None
        if v60 and header.kdf_id:
            params = KdfParams(header.kdf_id, header.kdf_salt, header.kdf_t, header.kdf_m, header.kdf_p)
        elif not v60 and d["kdf_params"]:
            p = d["kdf_params"]
            params = KdfParams({"argon2id": 1, "scrypt": 2}[d["kdf"]], bytes(16), p["t"], p["m"], p["p"])
        if params is not None and weak_kdf(params):
            d["kdf_warning"] = "the passphrase KDF cost is far below the default: offline guessing is cheap " \
                               f"(made with {TEST_KDF_ENV}?)"
        return d


def verify(src, master_key=None, *, passphrase=None, identities=None, workers: int = 4) -> VerifyResult:
    """Check a container. Without a key: structure, every index page's and block's hash
    against the index (storage damage). With a key, passphrase or identity: also every MAC, tag
    and plaintext hash."""
    keyed = master_key is not None or passphrase is not None or bool(identities)
    ra = open_random_access(src, workers=workers)
    if ra is None:
        raise ValueError("verify needs a seekable source")
    with ra:
        layout = read_layout(ra)
        index, _, _ = read_index(ra, layout.header, None, layout)
        container = (Container(ra, master_key, passphrase=passphrase, identities=identities) if keyed
                     else None)
        if container is not None:
            container.remember_checked = False  # one pass: no block comes back
        errors = []
        if layout.version != _core.VERSION_6_0:
            errors = _keyring_errors(layout, container.keys if container is not None else None) + _page_errors(index)
            if errors:  # blocks are found through the pages: check those first
                return VerifyResult(False, keyed, len(index), index.plaintext_size, errors)
        checker = _BlockChecker(layout.header, index, container, workers)
        holder = container or _Walker(ra, index)
        for errs in ordered_map(checker.errors, grouped(_runs(holder, len(index)), checker.lanes), workers):
            errors.extend(errs)
        return VerifyResult(not errors, keyed, len(index), index.plaintext_size, errors)


def _page_errors(index) -> list[str]:
    """What is wrong with each 6.1 index page (against its hash in the footer's top table)."""
    errors = []
    for k in range(index.num_pages):
        try:
            index.page(k)
        except QeltrixError as err:
            errors.append(str(err))
    return errors


class _BlockChecker:
    """``errors(group)``: what is wrong with each of a group of (i, stored bytes): their stored
    hashes computed side by side; with a key (``container``), the sound ones opened together
    (plaintext hashes side by side), and one by one only when that fails, to name each failing
    block."""

    def __init__(self, header, index, container: Container | None, workers: int):
        self.header, self.index, self.container = header, index, container
        self.index_hash = hash_many(getattr(header, "index_hash", 1))
        self.lanes = group_size(header.block_size)
        self.pool = BufferPool(header.block_size, keep=2 * workers * self.lanes) if container else None

    def structure(self, i: int, stored, digest) -> str | None:
        """What is wrong with block i's stored bytes without a key (None: nothing)."""
        index = self.index
        if not compare_digest(digest, index[i].hash):
            return f"block {i}: stored bytes do not match the index hash"
        try:
            p = _core.decode_prefix(bytes(stored[:_core.PREFIX_SIZE]), self.header.block_size)
        except QeltrixError as err:
            return f"block {i}: {err}"
        if p.index != i or p.final != (i == len(index) - 1):
            return f"block {i}: prefix does not match the index"
        return None

    def errors(self, group) -> list[str]:
        digests = self.index_hash([stored for _, stored in group])
        errs = {i: self.structure(i, stored, d) for (i, stored), d in zip(group, digests)}
        if self.container is not None:
            self._open(group, errs)
        return [e for e in errs.values() if e]

    def _open(self, group, errs: dict) -> None:
        container, pool = self.container, self.pool
        sound = [(i, stored) for i, stored in group if errs[i] is None]
        outs = [pool.get() for _ in sound]
        try:
            items = [(i, stored, memoryview(out)[:self.index[i].plain_size]) for (i, stored), out in zip(sound, outs)]
            try:
                container.open_group(items)
            except DamagedError:
                for item in items:
                    try:
                        container.open_group([item])
                    except DamagedError as err:
                        errs[item[0]] = str(err)
        finally:
            for out in outs:
                pool.put(out)


def _keyring_errors(layout, keys) -> list[str]:
    """What is wrong with either 6.1 keyring copy: malformed (checked without a key) or, with
    the file's keys, not authentic. Readers survive one such copy (the other opens the file)."""
    size = layout.header.keyring_copy_size
    errors = []
    for which in (0, 1):
        raw = layout.keyring[which * size:(which + 1) * size]
        name = f"keyring copy {'AB'[which]}"
        try:
            _core.decode_keyring_copy(raw, layout.header.keyring_slots)
        except QeltrixError as e:
            errors.append(f"{name} is malformed: {e}")
            continue
        if keys is not None and not compare_digest(keys.keyring_mac(layout.header.header_mac, raw[:-32]),
                                                         raw[-32:]):
            errors.append(f"{name} failed authentication")
    return errors


class _Walker:
    """Just enough of Container for _runs() without a key."""

    def __init__(self, ra, index):
        self.ra, self.index = ra, index

    read_stored_run = Container.read_stored_run

