"""Writing containers: the Sealer (header, blocks, footer, trailer) and the public packers."""

from __future__ import annotations

import itertools
import os
import time
from typing import NamedTuple

from . import _core
from .blocks import seal_block, seal_blocks, stored_size
from .crypto import (CIPHER_AES256_GCM, CIPHER_NAMES, CONTAINER_ID_SIZE, HASH_BLAKE3, HASH_SHA256, IV_SIZE, KEY_SIZE,
                     VERSION_6_0, VERSION_6_1, FileKeys, KdfParams, check_master_key, derive_master_key,
                     hash_many, new_kdf_params, sha256_many)
from .fileinfo import check_plain_name, encode_file_info
from .keyring import DEFAULT_SLOTS, Recipient, encode_copy, make_slots, prepare_recipients
from .sources import SequentialReader, open_output
from .pipeline import BufferPool, grouped, ordered_map, plan

__all__ = ["DEFAULT_BLOCK_SIZE", "DEFAULT_PAGE_SHIFT", "Sealer", "PackResult", "pack", "StreamPacker",
           "check_settings", "HASHES"]

DEFAULT_BLOCK_SIZE = 1024 * 1024
#: 6.1 index pages of 2^10 = 1,024 entries (57 KiB): a random read fetches one.
DEFAULT_PAGE_SHIFT = 10
#: Hash names as the CLI and API take them.
HASHES = {"sha256": HASH_SHA256, "blake3": HASH_BLAKE3}


class PackResult(NamedTuple):
    """What a pack wrote. ``entries`` are the footer's index entries, as written:
    (plain_offset, block_offset, plain_size, stored_size, sha256 of the stored block)."""

    total_blocks: int
    bytes_in: int
    bytes_out: int
    elapsed_s: float
    cipher_id: int
    block_size: int
    permuted: bool
    footer_offset: int
    footer_size: int
    container_id: bytes
    header_patched: bool = False
    integrity_ok: bool = True
    entries: list = []  # always given by the writer

    @property
    def total_size(self) -> int:  # seed name for the plaintext size
        return self.bytes_in

    def __repr__(self) -> str:  # without the entries (one per block)
        return (f"PackResult(total_blocks={self.total_blocks}, bytes_in={self.bytes_in}, "
                f"bytes_out={self.bytes_out}, elapsed_s={self.elapsed_s:.3f}, cipher_id={self.cipher_id}, "
                f"block_size={self.block_size}, permuted={self.permuted}, header_patched={self.header_patched})")


def _writer_key(master_key, passphrase, kdf_params: KdfParams | None) -> tuple[bytes, KdfParams]:
    """6.0 only: the master key (derived from a passphrase with ``kdf_params``) and its KDF
    parameters, as the 6.0 header records them."""
    if passphrase is not None:
        if master_key is not None:
            raise ValueError("give a master key or a passphrase, not both")
        params = kdf_params or new_kdf_params()
        return derive_master_key(passphrase, params), params
    if master_key is None:
        raise ValueError("a master key or a passphrase is required")
    # kdf_params with a key: the key was derived from a passphrase with these parameters
    # (StreamPacker and the gateway derive once, then seal many containers).
    return check_master_key(master_key), kdf_params or KdfParams()


def check_settings(block_size: int, cipher_id: int, workers: int) -> None:
    if not isinstance(block_size, int) or not _core.MIN_BLOCK_SIZE <= block_size <= _core.MAX_BLOCK_SIZE:
        raise ValueError(f"block size must be between {_core.MIN_BLOCK_SIZE} and {_core.MAX_BLOCK_SIZE} bytes")
    if cipher_id not in CIPHER_NAMES:
        raise ValueError(f"unknown cipher id {cipher_id!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError("workers must be a positive integer")


def _hash_id(value, what: str) -> int:
    if value in HASHES.values():
        return value
    try:
        return HASHES[value]
    except (KeyError, TypeError):
        raise ValueError(f"{what} must be one of {', '.join(HASHES)}, not {value!r}") from None




class Sealer:
    """Seals one container. Use: ``header_bytes``, then ``seal(chunks)``, then ``finish()``.

    ``chunks`` yields ``(data, final, buffer_to_recycle_or_None)``; every chunk holds at most
    ``block_size`` bytes and at least one byte unless it is the final one.

    Writes format 6.1 (keyring, paged index): who can open the container is ``master_key`` (a
    raw-key slot), ``passphrase`` (a passphrase slot) and ``recipients`` (age X25519 recipients,
    ``age1...``), in any mix; or ``prepared``, the output of ``keyring.prepare_recipients``, for
    writers that seal many containers and run a passphrase's KDF once. ``version=6`` writes the
    6.0 format (one key or passphrase; kept for the test vectors).

    Every random value (file secret, container id, salts, IVs) comes from the OS CSPRNG: a
    caller cannot pin them (a repeated container id repeats FK, hence IVs under its keys).
    Deterministic sealing for test vectors is ``_deterministic_sealer``'s alone.
    """

    def __init__(self, master_key=None, *, passphrase=None, recipients=None, block_size: int = DEFAULT_BLOCK_SIZE,
                 cipher_id: int = CIPHER_AES256_GCM, permute: bool = False, workers: int = 4,
                 kdf_params: KdfParams | None = None, version: int = VERSION_6_1,
                 index_hash="blake3", block_hash="sha256", keyring_slots: int = DEFAULT_SLOTS,
                 page_shift: int = DEFAULT_PAGE_SHIFT, prepared: list[Recipient] | None = None):
        self._setup(master_key, passphrase, recipients, block_size, cipher_id, permute, workers, os.urandom,
                    kdf_params, version, index_hash, block_hash, keyring_slots, page_shift, prepared)

    def _setup(self, master_key, passphrase, recipients, block_size, cipher_id, permute, workers, rand,
               kdf_params, version, index_hash, block_hash, keyring_slots, page_shift, prepared) -> None:
        check_settings(block_size, cipher_id, workers)
        self.block_size = block_size
        self.cipher_id = cipher_id
        self.permuted = bool(permute)
        self.workers = workers
        self.version = version
        self._rand = rand
        self.record_entries = False  # keep every index entry for result() (tests; O(blocks) memory)
        self.entries: list[tuple[int, int, int, int, bytes]] = []
        self.num_blocks = 0
        self.plain_offset = 0
        self.final_seen = False
        self._final_queued = False
        self.footer_offset = self.footer_size = 0
        if version == VERSION_6_0:
            self._init_v60(master_key, passphrase, recipients, kdf_params)
        elif version == VERSION_6_1:
            self._init_v61(master_key, passphrase, recipients, kdf_params, index_hash, block_hash,
                           keyring_slots, page_shift, prepared)
        else:
            raise ValueError(f"unknown format version {version!r}")
        self._out_pool = BufferPool(stored_size(block_size))

    def _init_v60(self, master_key, passphrase, recipients, kdf_params) -> None:
        if recipients:
            raise ValueError("format 6.0 has no recipients: write 6.1")
        mk, kdf = _writer_key(master_key, passphrase, kdf_params)
        container_id = self._rand(CONTAINER_ID_SIZE)
        self.keys = FileKeys(mk, container_id, self.cipher_id, self.block_size)
        self.index_hash = sha256_many
        h = _core.Header()
        h.cipher_id = self.cipher_id
        h.kdf_id = kdf.kdf_id
        h.flags = _core.FLAG_PERMUTED if self.permuted else 0
        h.block_size = self.block_size
        h.container_id = container_id
        h.kdf_salt = kdf.salt
        h.kdf_t, h.kdf_m, h.kdf_p = kdf.t, kdf.m, kdf.p
        h.key_commitment = self.keys.commitment
        h.header_mac = bytes(32)
        h.header_mac = self.keys.header_mac(_core.encode_header(h)[:_core.HEADER_MAC_OFFSET])
        self.header = h
        self.header_bytes = _core.encode_header(h)
        self.data_offset = self.offset = _core.HEADER_SIZE
        self.page_entries = 0

    def _init_v61(self, master_key, passphrase, recipients, kdf_params, index_hash, block_hash,
                  keyring_slots, page_shift, prepared) -> None:
        if prepared is None:
            prepared = prepare_recipients(master_key, passphrase, recipients, kdf_params=kdf_params)
        elif master_key is not None or passphrase is not None or recipients:
            raise ValueError("give prepared recipients or keys, not both")
        if not isinstance(keyring_slots, int) or not _core.MIN_KEYRING_SLOTS <= keyring_slots <= _core.MAX_KEYRING_SLOTS:
            raise ValueError(f"keyring slots must be between {_core.MIN_KEYRING_SLOTS} and {_core.MAX_KEYRING_SLOTS}")
        if len(prepared) > keyring_slots:
            raise ValueError(f"{len(prepared)} recipients do not fit a keyring of {keyring_slots} slots "
                             "(--keyring-slots)")
        if not isinstance(page_shift, int) or not _core.MIN_PAGE_SHIFT <= page_shift <= _core.MAX_PAGE_SHIFT:
            raise ValueError(f"page shift must be between {_core.MIN_PAGE_SHIFT} and {_core.MAX_PAGE_SHIFT}")
        index_id = _hash_id(index_hash, "index hash")
        block_id = _hash_id(block_hash, "block hash")
        container_id = self._rand(CONTAINER_ID_SIZE)
        secret = self._rand(KEY_SIZE)
        self.keys = FileKeys(secret, container_id, self.cipher_id, self.block_size, VERSION_6_1, block_id)
        self.index_hash = hash_many(index_id)
        h = _core.Header61()
        h.cipher_id = self.cipher_id
        h.index_hash = index_id
        h.block_hash = block_id
        h.page_shift = page_shift
        h.flags = _core.FLAG_PERMUTED if self.permuted else 0
        h.block_size = self.block_size
        h.container_id = container_id
        h.keyring_slots = keyring_slots
        h.key_commitment = self.keys.commitment
        h.header_mac = bytes(32)
        h.header_mac = self.keys.header_mac(_core.header61_mac_input(_core.encode_header61(h)))
        self.header = h
        slots = make_slots(prepared, self.keys)
        copy = encode_copy(self.keys, h.header_mac, keyring_slots, 1, slots)
        self.header_bytes = _core.encode_header61(h) + copy + copy
        self.data_offset = self.offset = h.data_offset
        self.page_entries = h.page_entries
        self._page: list = []      # the entries of the page being filled
        self._pages: list = []     # (ofs_page, ofs_plaintext, hash) of each page written

    @property
    def container_id(self) -> bytes:
        return self.keys.container_id

    def _job(self, group):
        outs = [self._out_pool.get() for _ in group]
        views = [memoryview(out)[:stored_size(len(item[2]))] for item, out in zip(group, outs)]
        digests = seal_blocks(self.keys, [(index, plain_offset, data, final, view)
                                          for (index, plain_offset, data, final, _), view in zip(group, views)],
                              self.permuted, self._rand, self.index_hash)
        return [(len(data), final, view, digest, out, inbuf)
                for (_, _, data, final, inbuf), view, digest, out in zip(group, views, digests, outs)]

    def _items(self, chunks, recycle):
        index = self.num_blocks
        plain_offset = self.plain_offset
        for data, final, buf in chunks:
            n = len(data)
            self._check_block(index, n, final)
            if self.permuted and (buf is None or isinstance(data, memoryview) and data.readonly):
                copy = recycle.get()
                copy[:n] = data
                data, buf = memoryview(copy)[:n], copy
            yield index, plain_offset, data, final, buf
            index += 1
            plain_offset += n

    def seal(self, chunks, in_pool: "BufferPool | None" = None):
        """Yield the bytes to write after the header, in order: each sealed block's stored bytes
        (a view, valid until the next iteration) and, in 6.1, each index page as it fills.
        ``progress`` callers count plaintext as ``len(view) - OVERHEAD`` for blocks only:
        ``isinstance(item, memoryview)`` tells a block from a page (bytes)."""
        recycle = in_pool or BufferPool(self.block_size)
        threads, lanes, window = plan(self.workers, self.block_size)
        for n, final, view, digest, out, inbuf in itertools.chain.from_iterable(ordered_map(
                self._job, grouped(self._items(chunks, recycle), lanes), threads, window)):
            yield view
            page = self._record(n, len(view), digest, final)
            view.release()
            self._out_pool.put(out)
            if inbuf is not None:
                recycle.put(inbuf)
            if page:
                yield page

    def _check_block(self, index: int, n: int, final: bool) -> None:
        """A block may be queued (workers seal ahead of what is recorded): check it against the
        blocks queued before it."""
        if self._final_queued:
            raise ValueError("a block after the final block")
        if n > self.block_size or (n == 0 and not final):
            raise ValueError("a block must hold 1..block_size bytes (0 only when final)")
        if index >= _core.MAX_BLOCKS:
            raise ValueError(f"more than {_core.MAX_BLOCKS} blocks: use a larger block size")
        self._final_queued = final

    def seal_block(self, data, final: bool) -> bytes:
        """Push API: seal the next block now and return the bytes to write (its stored bytes,
        and in 6.1 the index page it completes). A live stream decides where blocks end; a
        block other than the final one holds at least one byte."""
        index, n = self.num_blocks, len(data)
        self._check_block(index, n, final)
        if self.permuted:
            data = bytearray(data)  # permuted in place: never the caller's buffer
        out = bytearray(stored_size(n))
        digest = seal_block(self.keys, index, self.plain_offset, data, final, self.permuted, out, self._rand,
                            self.index_hash)
        page = self._record(n, len(out), digest, final)
        return bytes(out) + page

    def seal_at(self, index: int, plain_offset: int, data, final: bool, out) -> bytes:
        """Seal block ``index`` into ``out`` without touching the Sealer's state (thread-safe;
        the caller records the blocks in order with ``record``). Returns the entry hash."""
        if len(out) != stored_size(len(data)):
            raise ValueError("out must hold exactly the stored size of the block")
        if index >= _core.MAX_BLOCKS or len(data) > self.block_size or (not data and not final):
            raise ValueError("a block must hold 1..block_size bytes (0 only when final)")
        if self.permuted:
            data = bytearray(data)
        return seal_block(self.keys, index, plain_offset, data, final, self.permuted, out, self._rand,
                          self.index_hash)

    def record(self, n: int, stored: int, digest: bytes, final: bool) -> bytes:
        """Account for the next block (``n`` plaintext bytes, ``stored`` bytes, its entry hash):
        returns the bytes of the index page it completes (6.1; else empty), to write after it."""
        return self._record(n, stored, digest, final)

    def _record(self, n: int, stored: int, digest: bytes, final: bool) -> bytes:
        entry = (self.plain_offset, self.offset, n, stored, digest)
        if self.record_entries or self.version == VERSION_6_0:
            self.entries.append(entry)
        self.num_blocks += 1
        self.offset += stored
        self.plain_offset += n
        self.final_seen = final
        if self.version == VERSION_6_0:
            return b""
        self._page.append(entry)
        if len(self._page) == self.page_entries or final:
            return self._flush_page()
        return b""

    def _flush_page(self) -> bytes:
        first = self.num_blocks - len(self._page)
        page = _core.encode_page(first, self._page)
        self._pages.append((self.offset, self._page[0][0], self.index_hash([page])[0]))
        self.offset += len(page)
        self._page = []
        return page

    def finish(self, name: str | None = None, mtime: int = 0) -> bytes:
        """The footer and trailer, to write after the last block (and, in 6.1, its page)."""
        if self.num_blocks and not self.final_seen:
            raise ValueError("the last block was not marked final")
        info = self.keys.seal_info(self._rand(IV_SIZE), encode_file_info(self.plain_offset, mtime, name))
        if self.version == VERSION_6_0:
            footer = bytearray(_core.encode_footer(self.entries, self.plain_offset, info, bytes(32)))
        else:
            if self._page:  # a final block recorded without a page (never by the code above)
                raise ValueError("the last index page was not written")
            footer = bytearray(_core.encode_footer61(self.num_blocks, self.plain_offset, self._pages, info, bytes(32)))
        head = _core.FOOTER_HEAD_SIZE
        mac = self.keys.footer_mac(self.header.header_mac, footer[:head - 32], footer[head:])
        footer[head - 32:head] = mac
        self.footer_offset = self.offset
        self.footer_size = len(footer)
        return bytes(footer) + _core.encode_trailer(self.footer_offset, self.footer_size, self.version)

    def patched_header(self) -> bytes:
        """The header with the totals filled in (same MAC: these fields are not covered). In 6.1
        only the 256-byte header: the keyring after it is written once and stays."""
        h = self.header
        h.num_blocks = self.num_blocks
        h.plaintext_size = self.plain_offset
        h.footer_offset = self.footer_offset
        h.footer_size = self.footer_size
        return _core.encode_header(h) if self.version == VERSION_6_0 else _core.encode_header61(h)

    def result(self, elapsed: float, patched: bool) -> PackResult:
        return PackResult(self.num_blocks, self.plain_offset,
                          self.footer_offset + self.footer_size + _core.TRAILER_SIZE, elapsed,
                          self.cipher_id, self.block_size, self.permuted, self.footer_offset,
                          self.footer_size, self.container_id, patched, True, self.entries)


def _buffer_chunks(data, block_size: int):
    view = memoryview(data).cast("B")
    n = len(view)
    for off in range(0, n, block_size):
        yield view[off:off + block_size], off + block_size >= n, None


def _reader_chunks(reader: SequentialReader, block_size: int, pool: BufferPool, total_size: int | None = None):
    cur = pool.get()
    n = reader.readinto(cur)
    read = n
    while n:
        nxt = pool.get()
        m = reader.readinto(nxt) if n == block_size else 0
        read += m
        if total_size is not None and read > total_size:
            raise ValueError(f"the source is longer than total_size={total_size}")
        yield memoryview(cur)[:n], m == 0, cur
        if m == 0:
            pool.put(nxt)
            break
        cur, n = nxt, m
    if total_size is not None and read != total_size:
        raise ValueError(f"the source ended after {read} bytes, expected total_size={total_size}")


def _source_name_and_mtime(src) -> tuple[str | None, int]:
    """The source file's base name (None unless it is a plain name) and mtime."""
    if isinstance(src, (str, os.PathLike)) and os.fspath(src) != "-":
        name = os.path.basename(os.fspath(src))
        try:
            name = check_plain_name(name) if name else None
        except ValueError:
            name = None
        try:
            st = os.stat(src)
        except OSError:
            return name, 0
        return name, int(st.st_mtime)
    return None, 0


def _write_all(sealer: Sealer, src, write, total_size=None, progress=None, name=None, mtime=0) -> None:
    reader = None
    if isinstance(src, (bytes, bytearray, memoryview)):
        chunks, pool = _buffer_chunks(src, sealer.block_size), None
    else:
        reader = SequentialReader(src)
        pool = BufferPool(sealer.block_size)
        chunks = _reader_chunks(reader, sealer.block_size, pool, total_size)
    try:
        write(sealer.header_bytes)
        for view in sealer.seal(chunks, pool):
            write(view)
            if progress is not None and isinstance(view, memoryview):  # a block, not an index page
                progress(len(view) - _core.BLOCK_OVERHEAD)
        write(sealer.finish(name, mtime))
    finally:
        if reader is not None:
            reader.close()


def _patch(f, start: int, header: bytes) -> bool:
    """Rewrite the header at ``start`` of a seekable file object; False when it cannot."""
    try:
        if not f.seekable():
            return False
        end = f.tell()
        f.seek(start)
        f.write(header)
        f.seek(end)
        return True
    except (AttributeError, OSError, ValueError):
        return False


def pack(src, dst, master_key=None, block_size: int = DEFAULT_BLOCK_SIZE,
         cipher_id: int = CIPHER_AES256_GCM, workers: int = 4, permute: bool = False, *,
         passphrase=None, recipients=None, overwrite: bool = True, name: str | None = None, progress=None,
         keyring_slots: int = DEFAULT_SLOTS, block_hash="sha256", index_hash="blake3",
         mtime: int | None = None) -> PackResult:
    """Pack ``src`` (path, bytes, binary file object or pipe) into a container at ``dst``
    (path, ``"-"`` or a writable binary file object).

    Who can open it: ``master_key`` (32 bytes), ``passphrase`` and ``recipients`` (age X25519
    recipients, ``age1...``), any mix, at least one; more can be added later with
    :func:`qeltrix.rekey` (up to ``keyring_slots``). ``block_hash`` ("sha256" or "blake3") is
    the per-block plaintext hash, ``index_hash`` the keyless hash of stored bytes.

    A path output is written to a temporary file and renamed when complete, so nothing partial
    ever stands under its name. A seekable output gets its header patched with the totals; a
    pipe keeps the streamed header and readers find the footer through the trailer.
    """
    t0 = time.perf_counter()
    if name is not None:
        check_plain_name(name)
    sealer = Sealer(master_key, passphrase=passphrase, recipients=recipients, block_size=block_size,
                    cipher_id=cipher_id, permute=permute, workers=workers, keyring_slots=keyring_slots,
                    block_hash=block_hash, index_hash=index_hash)
    src_name, src_mtime = _source_name_and_mtime(src)
    mtime = src_mtime if mtime is None else mtime
    out = open_output(dst, overwrite=overwrite)
    with out:
        f = out.file
        try:
            start = f.tell() if f.seekable() else None
        except (AttributeError, OSError, ValueError):
            start = None
        _write_all(sealer, src, out.write, progress=progress, name=name or src_name, mtime=mtime)
        patched = start is not None and _patch(f, start, sealer.patched_header())
        out.commit()
    return sealer.result(time.perf_counter() - t0, patched)


class StreamPacker:
    """Pack a live stream (the gateway's core). Seed API::

        packer = StreamPacker(mk, block_size=256*1024, cipher_id=CIPHER_CHACHA20_POLY1305)
        packer.pack_stream(io.BytesIO(raw), out.write, total_size=len(raw))
        packer.patch_header(out, total_size=len(raw))
    """

    def __init__(self, master_key=None, block_size: int = DEFAULT_BLOCK_SIZE,
                 cipher_id: int = CIPHER_AES256_GCM, workers: int = 4, permute: bool = False, *,
                 passphrase=None, recipients=None, **options):
        """``options``: Sealer's 6.1 settings (keyring_slots, block_hash, index_hash)."""
        check_settings(block_size, cipher_id, workers)
        self._args = dict(block_size=block_size, cipher_id=cipher_id, workers=workers, permute=permute, **options)
        # A passphrase's KDF runs once here; every container sealed later wraps its own secret.
        self._prepared = prepare_recipients(master_key, passphrase, recipients)
        self.sealer: Sealer | None = None
        self.last_result: PackResult | None = None

    def _new_sealer(self) -> Sealer:
        return Sealer(prepared=self._prepared, **self._args)

    def pack_stream(self, read, write, total_size: int | None = None, name: str | None = None) -> PackResult:
        """Read the source to its end (``read``: a binary file object or a callable like
        ``f.read``) and write a complete container through ``write`` (a callable or a file
        object). ``total_size``, when given, must equal the bytes the source yields."""
        t0 = time.perf_counter()
        self.sealer = self._new_sealer()
        if hasattr(write, "write"):
            write_fn = write.write  # file objects copy what they are given
        else:
            # A plain callable may keep what it is given: hand it bytes, not a view into a buffer
            # that the next block reuses.
            def write_fn(b, _w=write):
                return _w(bytes(b))
        src = read if hasattr(read, "read") or hasattr(read, "readinto") else _CallableSource(read)
        _write_all(self.sealer, src, write_fn, total_size=total_size, name=name)
        self.last_result = self.sealer.result(time.perf_counter() - t0, False)
        return self.last_result

    def patch_header(self, out, total_size: int | None = None, start: int = 0) -> bool:
        """Write the header with totals at ``start`` (default 0) of seekable ``out``; returns
        False (and leaves the stream as it is, still valid) when ``out`` is not seekable."""
        if self.sealer is None:
            raise ValueError("pack_stream() has not run")
        if total_size is not None and total_size != self.sealer.plain_offset:
            raise ValueError(f"total_size={total_size} but the stream held {self.sealer.plain_offset} bytes")
        ok = _patch(out, start, self.sealer.patched_header())
        if ok and self.last_result is not None:
            self.last_result = self.last_result._replace(header_patched=True)
        return ok


class _CallableSource:
    def __init__(self, fn):
        self.read = fn


def _deterministic_sealer(rand, master_key=None, *, passphrase=None, recipients=None,
                         block_size: int = DEFAULT_BLOCK_SIZE, cipher_id: int = CIPHER_AES256_GCM,
                         permute: bool = False, workers: int = 1, kdf_params=None, version: int = VERSION_6_1,
                         index_hash="blake3", block_hash="sha256", keyring_slots: int = DEFAULT_SLOTS,
                         page_shift: int = DEFAULT_PAGE_SHIFT, prepared=None) -> Sealer:
    """A Sealer whose every random byte comes from ``rand`` (test vectors only; private: a pinned
    ``rand`` repeats container ids, and so nonces under the same keys)."""
    sealer = Sealer.__new__(Sealer)
    sealer._setup(master_key, passphrase, recipients, block_size, cipher_id, permute, workers, rand, kdf_params,
                  version, index_hash, block_hash, keyring_slots, page_shift, prepared)
    return sealer


def _pack_from_parts(data: bytes, master_key=None, *, rand, passphrase=None, kdf_params=None,
                     block_size: int = DEFAULT_BLOCK_SIZE, cipher_id: int = CIPHER_AES256_GCM,
                     permute: bool = False, name: str | None = None, mtime: int = 0,
                     patch: bool = True, version: int = VERSION_6_0, **options) -> bytes:
    """Deterministic packing for test vectors (private, like Fernet's ``_encrypt_from_parts``).

    ``rand(n)`` supplies every random byte (container id, salts, IVs); one worker, so the order
    of calls is fixed. The public API never takes nonces.
    """
    sealer = _deterministic_sealer(rand, master_key, passphrase=passphrase, block_size=block_size,
                                   cipher_id=cipher_id, permute=permute, workers=1, kdf_params=kdf_params,
                                   version=version, **options)
    parts: list[bytes] = []
    _write_all(sealer, bytes(data), lambda b: parts.append(bytes(b)), name=name, mtime=mtime)
    if patch:
        patched = sealer.patched_header()
        parts[0] = patched + parts[0][len(patched):]
    return b"".join(parts)
