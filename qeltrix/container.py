"""The public operations on containers: unpack, seek, verify, info (pack lives in writer.py)."""

from __future__ import annotations

import hmac
import itertools
import os
import time
from typing import NamedTuple

from . import _core
from .crypto import CIPHER_NAMES, KDF_NAMES, TEST_KDF_ENV, KdfParams, sha256_many, weak_kdf
from .errors import DamagedError, QeltrixError
from .io import AtomicOutput, SequentialReader, open_output, open_random_access
from .blocks import OVERHEAD
from .pipeline import BufferPool, cpu_threads, group_size, grouped, ordered_map, window_for
from .reader import Container, StreamOpener, read_header, read_index, stored_runs

__all__ = ["UnpackResult", "VerifyResult", "unpack", "seek_extract", "verify", "info", "safe_output_name"]


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


def safe_output_name(name: str | None) -> str:
    """The stored name as a plain file name in the current folder, or ValueError."""
    if not name:
        raise ValueError("the container holds no file name: give an output name")
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name or os.path.basename(name) != name:
        raise ValueError(f"the stored file name {name!r} is not a plain file name: give an output name")
    return name


def _open_container(src, master_key, passphrase, verify=True, workers=4):
    ra = open_random_access(src, workers=workers)
    if ra is None:
        return None
    try:
        return Container(ra, master_key, passphrase=passphrase, verify=verify)
    except BaseException:
        ra.close()
        raise


def unpack(src, dst, master_key=None, workers: int = 4, verify: bool = True, *, passphrase=None,
           overwrite: bool = True, progress=None) -> UnpackResult:
    """Decrypt container ``src`` to ``dst`` (path, ``"-"``, writable file object, or None to
    restore the stored file name in the current folder).

    Every block is authenticated before its plaintext is written; a path output is written to a
    temporary file and renamed only once every block, the footer and the trailer verified.
    ``verify=False`` skips only the plaintext SHA-256 check (AEAD tags are always checked).
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError("workers must be a positive integer")
    t0 = time.perf_counter()
    container = _open_container(src, master_key, passphrase, verify, workers)
    if container is not None:
        with container:
            container.remember_checked = False  # one pass: no block comes back
            name = container.name
            target = safe_output_name(name) if dst is None else dst
            out = open_output(target, overwrite=overwrite)
            with out:
                n = len(container.index)
                bs = container.header.block_size
                positional = getattr(container.ra, "positional", False)
                threads = cpu_threads(workers) if positional else workers  # remote: I/O-bound too
                lanes = group_size(bs)
                window = window_for(threads, bs * lanes)
                plain_pool = BufferPool(bs, keep=(window + 2) * lanes)
                if positional:
                    # Local: each worker reads its blocks into reused buffers, then decrypts them
                    # into others; nothing is allocated per block.
                    stored_pool = BufferPool(bs + OVERHEAD, keep=(threads + 1) * lanes)
                    groups = grouped(range(n), lanes)

                    def job(group):
                        return container.decrypt_blocks(group, stored_pool, plain_pool)
                else:  # remote: runs of adjacent blocks, fetched ahead in parallel
                    groups = grouped(_runs(container, n), lanes)

                    def job(group):
                        return container.decrypt_blocks(group, None, plain_pool)

                for pt, buf in itertools.chain.from_iterable(ordered_map(job, groups, threads, window)):
                    out.write(pt)
                    if progress is not None:
                        progress(len(pt))
                    plain_pool.put(buf)
                out.commit()
            return UnpackResult(n, container.size, time.perf_counter() - t0, True, verify, name,
                                getattr(out, "path", None))
    return _unpack_stream(src, dst, master_key, passphrase, workers, verify, overwrite, progress, t0)


def _runs(container: Container, n: int, run_bytes: int = 8 << 20, first: int = 0):
    """Stored blocks ``first..n-1`` in file order (see ``Container.iter_stored``)."""
    return stored_runs(container, first, n, run_bytes)


def _unpack_stream(src, dst, master_key, passphrase, workers, verify, overwrite, progress, t0):
    reader = SequentialReader(src)
    try:
        opener = StreamOpener(reader, master_key, passphrase=passphrase, verify=verify)
        if dst is None:
            out = AtomicOutput(".qeltrix-unpack", overwrite=True)  # renamed once the name is known
        else:
            out = open_output(dst, overwrite=overwrite)
        with out:
            total = 0
            bs = opener.header.block_size
            lanes = group_size(bs)
            groups = grouped(opener.blocks(), lanes)
            for pt in itertools.chain.from_iterable(
                    ordered_map(opener.open_group, groups, workers, window_for(workers, bs * lanes))):
                out.write(pt)
                total += len(pt)
                if progress is not None:
                    progress(len(pt))
            info = opener.finish()
            if dst is None:
                out.retarget(safe_output_name(info.name))
                out._overwrite = overwrite
            out.commit()
        return UnpackResult(len(opener.seen), total, time.perf_counter() - t0, True, verify, info.name,
                            getattr(out, "path", None))
    finally:
        reader.close()


def seek_extract(src, seek_offset: int, seek_len: int, master_key=None, *, passphrase=None,
                 verify: bool = True, workers: int = 4) -> bytes:
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
    container = _open_container(src, master_key, passphrase, verify, workers)
    if container is None:
        raise ValueError("seek needs a seekable source (a file, URL, bytes or a seekable file object)")
    with container:
        return container.read_range(seek_offset, seek_len, workers=workers)


def info(src) -> dict:
    """What anyone can read without the key: the header and the index's totals."""
    ra = open_random_access(src)
    if ra is None:
        raise ValueError("info needs a seekable source")
    with ra:
        header, _raw = read_header(ra)
        index, footer, footer_offset = read_index(ra, header)
        d = {
            "version": _core.VERSION,
            "cipher": CIPHER_NAMES[header.cipher_id],
            "cipher_id": header.cipher_id,
            "kdf": KDF_NAMES[header.kdf_id],
            "kdf_params": {"t": header.kdf_t, "m": header.kdf_m, "p": header.kdf_p} if header.kdf_id else None,
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
        }
        if header.kdf_id and weak_kdf(KdfParams(header.kdf_id, header.kdf_salt, header.kdf_t, header.kdf_m,
                                                header.kdf_p)):
            d["kdf_warning"] = "the passphrase KDF cost is far below the default: offline guessing is cheap " \
                               f"(made with {TEST_KDF_ENV}?)"
        return d


def verify(src, master_key=None, *, passphrase=None, workers: int = 4) -> VerifyResult:
    """Check a container. Without a key: structure, and every block's SHA-256 against the index
    (storage damage). With a key (or passphrase): also every MAC, tag and plaintext hash."""
    keyed = master_key is not None or passphrase is not None
    ra = open_random_access(src, workers=workers)
    if ra is None:
        raise ValueError("verify needs a seekable source")
    with ra:
        header, raw = read_header(ra)
        index, footer, footer_offset = read_index(ra, header)
        container = Container(ra, master_key, passphrase=passphrase) if keyed else None
        if container is not None:
            container.remember_checked = False  # one pass: no block comes back
        errors = []

        def structure(i, stored, digest) -> str | None:
            """What is wrong with block i's stored bytes without a key (None: nothing)."""
            if not hmac.compare_digest(digest, index[i].hash):
                return f"block {i}: stored bytes do not match the index hash"
            try:
                p = _core.decode_prefix(bytes(stored[:_core.PREFIX_SIZE]), header.block_size)
            except QeltrixError as err:
                return f"block {i}: {err}"
            if p.index != i or p.final != (i == len(index) - 1):
                return f"block {i}: prefix does not match the index"
            return None

        bs = header.block_size
        lanes = group_size(bs)
        pool = BufferPool(bs, keep=2 * workers * lanes) if keyed else None

        def job(group) -> list:
            """The errors of a group of (i, stored bytes): their stored hashes computed side by
            side; with a key, the sound ones opened together (plaintext hashes side by side), and
            one by one only when that fails, to name each failing block."""
            digests = sha256_many([stored for _, stored in group])
            errs = {i: structure(i, stored, d) for (i, stored), d in zip(group, digests)}
            if keyed:
                sound = [(i, stored) for i, stored in group if errs[i] is None]
                outs = [pool.get() for _ in sound]
                try:
                    items = [(i, stored, memoryview(out)[:index[i].plain_size]) for (i, stored), out in zip(sound, outs)]
                    try:
                        container._open_group(items)
                    except DamagedError:
                        for item in items:
                            try:
                                container._open_group([item])
                            except DamagedError as err:
                                errs[item[0]] = str(err)
                finally:
                    for out in outs:
                        pool.put(out)
            return [e for e in errs.values() if e]

        holder = container or _Walker(ra, index)
        for errs in ordered_map(job, grouped(_runs(holder, len(index)), lanes), workers):
            errors.extend(errs)
        return VerifyResult(not errors, keyed, len(index), index.plaintext_size, errors)


class _Walker:
    """Just enough of Container for _runs() without a key."""

    def __init__(self, ra, index):
        self.ra, self.index = ra, index

    read_stored_run = Container.read_stored_run

