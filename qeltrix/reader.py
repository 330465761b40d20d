"""Reading containers: opening (authenticating header and footer), blocks, ranges, streams."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import NamedTuple

from . import _core
from .blocks import OVERHEAD, PAYLOAD_START, open_blocks, reopen_payload
from .crypto import KDF_NONE, FileKeys, KdfParams, check_master_key, compare_digest, derive_master_key, hash_many
from .errors import DamagedError, LimitError, NotAContainerError, TruncatedError, WrongKeyError
from .fileinfo import FileInfo, decode_file_info
from .keyring import Secrets, open_keyring
from .sources import RandomAccess, SequentialReader, open_random_access
from .pipeline import BufferPool, ordered_map

__all__ = ["open_keys", "open_layout", "read_layout", "Layout", "Limits", "PagedIndex", "Container", "FileInfo",
           "StreamOpener", "MAX_INDEX_BYTES", "run_spans"]

#: Blocks a Container remembers as hash-checked, with what opening their metadata gave (the
#: stored bytes before the payload, the block key and IV: ~0.9 KiB each, ~15 MiB when full; 16 GiB
#: of 1 MiB blocks; see open_group and read_block).
VERIFIED_MAX = 1 << 14


def _tags(stored) -> bytes:
    """The AEAD tags of a stored block: its sealed metadata's and its payload's."""
    return bytes(stored[PAYLOAD_START - _core.TAG_SIZE:PAYLOAD_START]) + bytes(stored[-_core.TAG_SIZE:])


class _Owned:
    """Stored bytes in a buffer only this Container holds (read by it into its own pool buffer):
    nothing else can change them, so ``_snapshot`` need not copy them."""

    __slots__ = ("view",)

    def __init__(self, view):
        self.view = view


def _snapshot(stored, remembered: bool):
    """Stored bytes that cannot change while they are authenticated and their tags remembered
    (``remembered``): ``bytes`` (or a view of them) and our own buffers as they are, anything
    else copied."""
    if isinstance(stored, _Owned):
        return stored.view
    if not remembered or isinstance(stored, bytes) or \
            (isinstance(stored, memoryview) and isinstance(stored.obj, bytes)):
        return stored
    return bytes(stored)


#: Readers refuse to read a footer (6.0: the whole index; 6.1: the top table of index pages)
#: larger than this unless told otherwise (``max_index_bytes``): 16 MiB holds a 6.0 index of
#: 290,000 blocks (1 GiB of 4 KiB blocks) or a 6.1 top table of 350,000 pages.
MAX_INDEX_BYTES = 16 << 20
#: Decoded 6.1 index pages a reader keeps (each at most 3.5 MiB; 57 KiB at the default 1,024
#: entries per page).
PAGE_CACHE = 16


class Layout(NamedTuple):
    """A container's fixed start as read: version, decoded header, its bytes, the 6.1 keyring's
    bytes (both copies; None in 6.0) and where the first block starts."""

    version: int
    header: object
    header_bytes: bytes
    keyring: bytes | None
    data_offset: int


class Limits(NamedTuple):
    """What a reader accepts before spending memory or work on what a file claims."""

    max_index_bytes: int = MAX_INDEX_BYTES
    max_blocks: int = _core.MAX_BLOCKS


def read_layout(ra: RandomAccess) -> Layout:
    """Header (and 6.1 keyring), every field checked, sizes checked against the real size first."""
    head = bytes(ra.read_exact(0, min(ra.size, _core.HEADER_SIZE)))
    version = _core.header_version(head)
    if version == _core.VERSION_6_0:
        if len(head) < _core.HEADER_SIZE:
            raise TruncatedError(f"the container is truncated ({ra.size} bytes)")
        return Layout(version, _core.decode_header(head), head, None, _core.HEADER_SIZE)
    if len(head) < _core.HEADER61_SIZE:
        raise TruncatedError(f"the container is truncated ({ra.size} bytes)")
    header = _core.decode_header61(head)
    raw = head[:_core.HEADER61_SIZE]
    start = header.data_offset
    if start + _core.FOOTER_HEAD_SIZE + _core.TRAILER_SIZE > ra.size:
        raise TruncatedError(f"the container is truncated ({ra.size} bytes; its keyring alone ends at {start})")
    keyring = bytes(ra.read_exact(_core.HEADER61_SIZE, start - _core.HEADER61_SIZE))
    return Layout(version, header, raw, keyring, start)


def open_keys(header, header_bytes, master_key=None, passphrase=None, derive=derive_master_key) -> FileKeys:
    """6.0: derive FK for ``header``; check the key commitment, then the header MAC. ``derive``
    (for a passphrase) may be a cache in front of ``derive_master_key``."""
    if header.kdf_id == KDF_NONE:
        if master_key is None:
            raise WrongKeyError("this container needs its key (key file), not a passphrase")
        mk = check_master_key(master_key)
    else:
        if passphrase is None:
            raise WrongKeyError("this container needs its passphrase, not a key")
        mk = derive(passphrase, KdfParams(header.kdf_id, header.kdf_salt, header.kdf_t,
                                                      header.kdf_m, header.kdf_p))
    keys = FileKeys(mk, header.container_id, header.cipher_id, header.block_size)
    keys.check_commitment(header.key_commitment)
    mac = keys.header_mac(bytes(header_bytes[:_core.HEADER_MAC_OFFSET]))
    if not compare_digest(mac, header.header_mac):
        raise DamagedError("header failed authentication")
    return keys


def open_layout(layout: Layout, secrets: Secrets, derive=derive_master_key) -> FileKeys:
    """The container's keys from what the reader holds, either revision; WrongKeyError when
    nothing opens it. 6.0 takes a key or a passphrase; 6.1 also age identities."""
    if layout.version == _core.VERSION_6_0:
        if layout.header.kdf_id == KDF_NONE or secrets.passphrase is None:
            return open_keys(layout.header, layout.header_bytes, secrets.master_key, None, derive)
        return open_keys(layout.header, layout.header_bytes, None, secrets.passphrase, derive)
    return open_keyring(layout.header, layout.header_bytes, layout.keyring, secrets, derive).keys


def read_header(ra: RandomAccess):
    """6.0 only (the header and its bytes); see ``read_layout`` for both revisions."""
    layout = read_layout(ra)
    return layout.header, layout.header_bytes


def _read_trailer(ra: RandomAccess, layout: Layout, limits: Limits):
    minimum = layout.data_offset + _core.FOOTER_HEAD_SIZE + _core.TRAILER_SIZE
    if ra.size < minimum:
        raise TruncatedError(f"the container is truncated ({ra.size} bytes)")
    try:
        trailer = _core.decode_trailer(ra.read_exact(ra.size - _core.TRAILER_SIZE, _core.TRAILER_SIZE), ra.size,
                                       layout.version)
    except NotAContainerError:  # the header was a container's: its end is missing
        raise TruncatedError("no trailer at the end: the container is truncated or incomplete") from None
    if trailer.footer_offset < layout.data_offset:
        raise DamagedError("the trailer puts the footer inside the header")
    if trailer.footer_size > limits.max_index_bytes:
        raise LimitError(f"the index is {trailer.footer_size} bytes, more than this reader's cap of "
                         f"{limits.max_index_bytes} (max_index_bytes)")
    return trailer


def read_index(ra: RandomAccess, header, limits: Limits | None = None, layout: Layout | None = None):
    """Trailer and footer, structurally validated (not authenticated): (index, footer bytes, ofs).
    Sizes are checked against the real size and ``limits`` before anything is read."""
    limits = limits or Limits()
    if layout is None:
        layout = Layout(_core.VERSION_6_0, header, b"", None, _core.HEADER_SIZE)
    trailer = _read_trailer(ra, layout, limits)
    # One read: its size is within the cap (checked above), and is checked against the counts below.
    footer = bytes(ra.read_exact(trailer.footer_offset, trailer.footer_size))
    head = footer[:_core.FOOTER_HEAD_SIZE]
    try:
        if layout.version == _core.VERSION_6_0:
            num_blocks, _size, info_size, _mac = _core.decode_footer_head(head)
            expected = _core.FOOTER_HEAD_SIZE + _core.FOOTER_ENTRY_SIZE * num_blocks + info_size
        else:
            num_blocks, _size, info_size, num_pages, _mac = _core.decode_footer61_head(head)
            expected = _core.FOOTER_HEAD_SIZE + _core.TOP_ENTRY_SIZE * num_pages + info_size
    except NotAContainerError as e:  # the header was a container's: its footer is damaged
        raise DamagedError(str(e)) from None
    if num_blocks > limits.max_blocks:
        raise LimitError(f"the container claims {num_blocks} blocks, more than this reader's cap of "
                         f"{limits.max_blocks} (max_blocks)")
    if expected != trailer.footer_size:
        raise DamagedError(f"the footer is {trailer.footer_size} bytes, but its counts make it {expected}")
    if layout.version == _core.VERSION_6_0:
        index = _core.decode_footer(footer, header.block_size, trailer.footer_offset)
    else:
        top = _core.decode_footer61(footer, header.page_shift, header.block_size, layout.data_offset,
                                    trailer.footer_offset)
        index = PagedIndex(ra, top, header)
    return index, footer, trailer.footer_offset


class PagedIndex:
    """A 6.1 index: the footer's top table, and its pages read (and checked against their
    authenticated hashes) when a block they list is first wanted. The same interface as the
    6.0 ``_core.Index``: ``len``, ``[i]`` (an Entry), ``locate``, ``span``, totals."""

    uniform = False

    def __init__(self, ra: RandomAccess, top, header, cache: int = PAGE_CACHE):
        self.ra, self.top = ra, top
        self._hash = hash_many(header.index_hash)
        self._block_size = header.block_size
        self._shift = header.page_shift
        self._pages: OrderedDict[int, object] = OrderedDict()
        self._max = max(1, cache)
        self._lock = threading.Lock()
        self.plaintext_size = top.plaintext_size
        self.info_size = top.info_size
        self.mac = top.mac
        self.num_pages = top.num_pages
        self.pages_read = 0

    def __len__(self) -> int:
        return self.top.num_blocks

    def page(self, k: int):
        """Index page ``k``, decoded; read and hash-checked on first use (then cached)."""
        hit = self._pages.get(k)  # no lock for a hit: each OrderedDict call is atomic (GIL)
        if hit is not None:
            try:
                self._pages.move_to_end(k)
            except KeyError:  # dropped meanwhile by another thread: still a valid page
                pass
            return hit
        ref = self.top.page(k)
        raw = self.ra.read_exact(ref.ofs_page, ref.len_page)
        if not compare_digest(self._hash([raw])[0], ref.hash):
            raise DamagedError(f"index page {k} does not match its hash in the footer")
        page = _core.decode_page(raw, ref.first_block, ref.num_entries, self._block_size, ref.ofs_plaintext,
                                 ref.block_offset, ref.last)
        with self._lock:
            self.pages_read += 1
            self._pages[k] = page
            while len(self._pages) > self._max:
                self._pages.popitem(last=False)
        return page

    def __getitem__(self, i: int):
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("block index out of range")
        page = self.page(i >> self._shift)
        return page[i - page.first_block]

    def locate(self, offset: int) -> int:
        k = self.top.locate(offset)
        page = self.page(k)
        return page.first_block + page.locate(offset)

    def find(self, offset: int):
        """``(i, self[i])`` for ``i = self.locate(offset)``, one page lookup."""
        page = self.page(self.top.locate(offset))
        j = page.locate(offset)
        return page.first_block + j, page[j]

    def span(self, offset: int, length: int) -> tuple[int, int]:
        n = len(self)
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be non-negative")
        end = min(offset + length, self.plaintext_size)
        if offset >= end:
            return n, n
        return self.locate(offset), self.locate(end - 1) + 1


def check_footer(keys: FileKeys, header, index, footer: bytes, footer_offset: int) -> FileInfo:
    """Authenticate the footer, match the header's totals, open the file info."""
    head = _core.FOOTER_HEAD_SIZE
    mac = keys.footer_mac(header.header_mac, footer[:head - 32], footer[head:])
    if not compare_digest(mac, index.mac):
        raise DamagedError("footer failed authentication")
    if not header.streamed and (header.num_blocks, header.plaintext_size, header.footer_offset,
                                header.footer_size) != (len(index), index.plaintext_size, footer_offset,
                                                        len(footer)):
        raise DamagedError("header totals do not match the footer")
    info = decode_file_info(keys.open_info(footer[len(footer) - index.info_size:]))
    if info.plaintext_size != index.plaintext_size:
        raise DamagedError("file info size does not match the footer")
    return info


def make_secrets(master_key=None, passphrase=None, identities=None) -> Secrets:
    """What a reader holds, checked: a 32-byte key, a passphrase, age identities (objects or
    ``AGE-SECRET-KEY-1...`` strings)."""
    if master_key is not None:
        master_key = check_master_key(master_key)
    ids = ()
    if identities:
        from .recipients import X25519Identity

        ids = tuple(i if isinstance(i, X25519Identity) else X25519Identity.parse(i) for i in identities)
    return Secrets(master_key, passphrase, ids)


class Container:
    """A container opened for random access: header, key and footer checked before any read."""

    def __init__(self, ra: RandomAccess, master_key=None, *, passphrase=None, identities=None,
                 verify: bool = True, limits: Limits | None = None, derive=derive_master_key):
        """Open ``ra`` with a raw key, a passphrase or age identities (any of them). Sizes the
        file claims are checked against its real size and ``limits`` first, then the key (the
        only costly step), then the footer's MAC: no byte is released before all three."""
        self.ra = ra
        self.layout = read_layout(ra)
        self.header = self.layout.header
        self.version = self.layout.version
        self.index, footer, footer_offset = read_index(ra, self.header, limits, self.layout)
        self.keys = open_layout(self.layout, make_secrets(master_key, passphrase, identities), derive)
        self.info = check_footer(self.keys, self.header, self.index, footer, footer_offset)
        self.verify = verify
        # Reused buffers for seeks (a few kept: a long-lived Container must not pin a burst's peak).
        bs = self.header.block_size
        self.stored_pool = BufferPool(bs + OVERHEAD, keep=4)
        self.plain_pool = BufferPool(bs, keep=2)
        # Blocks whose plaintext hash was checked: their AEAD tags, the stored bytes before the
        # payload and what opening those gave (see open_group and read_block); off for one pass
        # over the blocks (unpack, verify), where no block comes back.
        self.remember_checked = True
        self._verified: OrderedDict[int, tuple] = OrderedDict()
        self._positional = bool(getattr(ra, "positional", False))
        self._verified_lock = threading.Lock()

    @classmethod
    def open(cls, src, master_key=None, *, passphrase=None, identities=None, verify: bool = True,
             workers: int = 4, limits: Limits | None = None) -> Container | None:
        """A Container over ``src`` (path, URL, bytes, seekable file object or RandomAccess;
        ``workers``: remote requests that may run at once), or None when ``src`` can only be
        read once (a pipe: see :class:`StreamOpener`). The source is closed if opening fails."""
        ra = open_random_access(src, workers=workers)
        if ra is None:
            return None
        try:
            return cls(ra, master_key, passphrase=passphrase, identities=identities, verify=verify, limits=limits)
        except BaseException:
            ra.close()
            raise

    @property
    def size(self) -> int:
        return self.index.plaintext_size

    @property
    def num_blocks(self) -> int:
        return len(self.index)

    @property
    def name(self) -> str | None:
        return self.info.name

    def open_stored(self, i: int, stored, out=None) -> bytearray:
        """Decrypt block ``i`` from its stored bytes into ``out`` (or a new bytearray)."""
        if out is None:
            out = bytearray(self.index[i].plain_size)
        self.open_group([(i, stored, out)])
        return out

    def open_group(self, items) -> None:
        """Authenticate and decrypt each ``(i, stored, out)``; plaintext hashes checked together.

        A block whose plaintext hash this Container has checked before is not hashed again when
        it comes back with the same two AEAD tags (sealed metadata and payload), both
        authenticated again. This holds only against parties without the file key: they cannot
        make other bytes authenticate under those tags. It is no defence against a key holder
        (the writer): AES-GCM and Poly1305 do not commit to the plaintext, so one who has the key
        can make different bytes with the same tags (but could write any container anyway).
        Stored bytes given in a live buffer (a bytearray, a mapped file) could change between
        reading the tags and authenticating, so they are copied first (``_snapshot``). A server
        answering random ranges decrypts the same block again and again; the hash, 5x the cost
        of the AEAD, is then paid once per block."""
        last = len(self.index) - 1
        jobs = []
        for i, stored, out in items:
            stored = _snapshot(stored, self.verify and self.remember_checked)
            e = self.index[i]
            jobs.append((i, stored, e.plain_offset, e.plain_size, i == last, out))
        permuted = self.header.permuted
        if not self.verify:
            open_blocks(self.keys, jobs, permuted, False)
            return
        tags = [_tags(job[1]) for job in jobs]
        with self._verified_lock:
            known = []
            for job, t in zip(jobs, tags):
                memo = self._verified.get(job[0])
                known.append(memo is not None and memo[0] == t)
        if any(known):
            open_blocks(self.keys, [j for j, k in zip(jobs, known) if k], permuted, False)
        fresh = [j for j, k in zip(jobs, known) if not k]
        if fresh:
            opened = open_blocks(self.keys, fresh, permuted, True)
            if not self.remember_checked:
                return
            with self._verified_lock:
                for job, t, o in zip(fresh, [t for t, k in zip(tags, known) if not k], opened):
                    i = job[0]
                    self._verified[i] = (t, bytes(job[1][:PAYLOAD_START]), t[_core.TAG_SIZE:], o)
                    self._verified.move_to_end(i)
                while len(self._verified) > VERIFIED_MAX:
                    self._verified.popitem(last=False)

    def decrypt_block(self, i: int, stored=None, stored_pool: BufferPool | None = None,
                      plain_pool: BufferPool | None = None):
        """Decrypt block ``i`` into a buffer from ``plain_pool``: returns (plaintext view, buffer);
        hand the buffer back with ``plain_pool.put`` once done with the view. ``stored`` are the
        block's stored bytes; without them they are read from ``ra`` into a buffer from
        ``stored_pool`` (given back before returning). Pools default to the Container's own."""
        return self.decrypt_blocks([i if stored is None else (i, stored)], stored_pool, plain_pool)[0]

    def decrypt_blocks(self, group, stored_pool: BufferPool | None = None,
                       plain_pool: BufferPool | None = None) -> list:
        """``decrypt_block`` for a group of block numbers (or ``(i, stored)`` pairs), their
        plaintext hashes checked together; returns [(plaintext view, buffer)]."""
        plain_pool = plain_pool or self.plain_pool
        stored_pool = stored_pool or self.stored_pool
        results, items, sbufs = [], [], []
        try:
            for item in group:
                i, stored = item if isinstance(item, tuple) else (item, None)
                e = self.index[i]
                buf = plain_pool.get()
                pt = memoryview(buf)[:e.plain_size]
                results.append((pt, buf))
                if stored is None:
                    sbuf = stored_pool.get()
                    sbufs.append(sbuf)
                    stored = self.ra.read_into(e.block_offset, memoryview(sbuf)[:e.block_size])
                    if stored.obj is sbuf:  # not a view of the source's own (maybe live) memory
                        stored = _Owned(stored)
                items.append((i, stored, pt))
            self.open_group(items)
        except BaseException:
            for _, buf in results:
                plain_pool.put(buf)
            raise
        finally:
            items.clear()
            for sbuf in sbufs:
                stored_pool.put(sbuf)
        return results

    def read_blocks(self, group, plain_pool: BufferPool | None = None) -> list:
        """Plaintexts of the blocks numbered in ``group``, hashes checked together: memoryviews
        of each block's size over buffers from ``plain_pool`` (by default new ones, which the
        caller owns). The stored bytes are read into the Container's reused buffers."""
        pool = plain_pool or BufferPool(self.header.block_size)
        group = list(group)
        if group and not getattr(self.ra, "positional", False) and group == list(range(group[0], group[-1] + 1)):
            # remote: adjacent blocks in one ranged request, not one request each
            return [pt for pt, _ in self.decrypt_blocks(list(self.iter_stored(group[0], group[-1] + 1)), None, pool)]
        return [pt for pt, _ in self.decrypt_blocks(group, self.stored_pool, pool)]

    def read_block(self, i: int, plain_pool: BufferPool | None = None, entry=None):
        """``read_blocks([i])[0]``: block ``i``'s plaintext.

        A block read before (its plaintext hash checked, see open_group) whose stored bytes up
        to the payload are byte for byte the ones opened then, and whose payload tag is the same,
        takes a short path: only its payload is authenticated and decrypted again, with the key
        and IV that opening that same metadata gave (``blocks.reopen_payload``); repeating the
        metadata's AEAD, the key unwrap and derivation would redo the same computation on the same
        bytes. The short path is the one random reads of a server take (a cache miss per read).
        ``entry``: ``self.index[i]`` when the caller has it."""
        memo = self._verified.get(i) if self.verify and self._positional else None
        if memo is None:
            return self.read_blocks([i], plain_pool)[0]
        e = entry if entry is not None else self.index[i]
        block_size, plain_size = e.block_size, e.plain_size
        stored_pool = self.stored_pool
        sbuf = stored_pool.get()
        try:
            stored = self.ra.read_into(e.block_offset, memoryview(sbuf)[:block_size])
            owner = stored.obj
            if owner is not sbuf and not isinstance(owner, bytes):
                # a live buffer of the source's: copied and opened in full
                return self.read_blocks([(i, stored)], plain_pool)[0]
            _, head, payload_tag, opened = memo
            if bytes(stored[block_size - _core.TAG_SIZE:]) != payload_tag or bytes(stored[:PAYLOAD_START]) != head:
                # not the bytes opened before: opened in full (and remembered anew)
                return self.read_blocks([(i, _Owned(stored) if owner is sbuf else stored)], plain_pool)[0]
            buf = plain_pool.get() if plain_pool is not None else bytearray(plain_size)
            pt = memoryview(buf)[:plain_size]
            try:
                reopen_payload(self.keys, i, opened, stored[PAYLOAD_START:], self.header.permuted, pt)
            except BaseException:
                if plain_pool is not None:
                    plain_pool.put(buf)
                raise
            return pt
        finally:
            stored_pool.put(sbuf)

    def read_stored_run(self, first: int, last: int):
        """Stored bytes of blocks [first, last) in one read; yields (i, memoryview)."""
        if first >= last:
            return
        start = self.index[first].block_offset
        end_e = self.index[last - 1]
        data = memoryview(self.ra.read_exact(start, end_e.block_offset + end_e.block_size - start))
        for i in range(first, last):
            e = self.index[i]
            yield i, data[e.block_offset - start:e.block_offset - start + e.block_size]

    def iter_stored(self, first: int, last: int, run_bytes: int = 8 << 20):
        """Stored blocks [first, last) in file order, read in runs of about ``run_bytes``
        (adjacent blocks in one read); from a remote source, ``ra.concurrency`` runs are
        fetched ahead in parallel. Yields (i, memoryview)."""
        return stored_runs(self, first, last, run_bytes)

    def read_range(self, offset: int, length: int, workers: int = 1) -> bytes:
        """Plaintext bytes [offset, offset+length), clamped to the end; only the blocks holding
        them are read (in runs, see ``iter_stored``) and decrypted (by ``workers`` threads)."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be non-negative")
        first, last = self.index.span(offset, length)
        end = min(offset + length, self.size)
        if getattr(self.ra, "positional", False):  # local: each worker reads its block into a reused buffer
            items, job = range(first, last), self.decrypt_block
        else:
            items, job = self.iter_stored(first, last), lambda item: self.decrypt_block(item[0], item[1])
        parts, bufs = [], []
        try:
            for pt, buf in ordered_map(job, items, min(workers, max(1, last - first))):
                bufs.append(buf)
                e_off = self.index[first + len(parts)].plain_offset
                lo = max(offset, e_off) - e_off
                hi = min(end - e_off, len(pt))
                parts.append(pt[lo:hi])
            return bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
        finally:
            for buf in bufs:
                self.plain_pool.put(buf)

    def close(self) -> None:
        self.ra.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_spans(index, first: int, last: int, run_bytes: int = 8 << 20):
    """Blocks [first, last) as runs ``(i, j)`` of adjacent stored blocks of at most ``run_bytes``
    together (a block larger than that is a run of its own)."""
    i = first
    while i < last:
        j, size = i, 0
        while j < last and (j == i or size + index[j].block_size <= run_bytes):
            size += index[j].block_size
            j += 1
        yield i, j
        i = j


def stored_runs(holder, first: int, last: int, run_bytes: int = 8 << 20):
    """``Container.iter_stored`` for anything with ``ra``, ``index`` and ``read_stored_run``."""
    ahead = getattr(holder.ra, "concurrency", 1)
    runs = run_spans(holder.index, first, last, run_bytes)
    if ahead > 1:
        head = list(itertools.islice(runs, 2))
        runs = itertools.chain(head, runs)
        if len(head) < 2:  # one run: nothing to read ahead
            ahead = 1
    if ahead <= 1:
        for i, j in runs:
            yield from holder.read_stored_run(i, j)
        return
    for run in ordered_map(lambda span: list(holder.read_stored_run(*span)), runs, ahead, window=ahead):
        yield from run


class StreamOpener:
    """Walks a container front to back in one pass (a pipe or socket): the header first, then
    each block as it arrives, then footer and trailer. Yields stored blocks; the caller decrypts
    them (in parallel, in groups) with ``open_group``, and calls ``finish`` after the last one.
    ``blocks()`` may be advanced by one thread at a time, any of them (unpack's workers take turns
    reading a pipe), while others call ``open_group``; ``finish`` comes once the blocks ended."""

    def __init__(self, reader: SequentialReader, master_key=None, *, passphrase=None, identities=None,
                 verify: bool = True, derive=derive_master_key):
        self.reader = reader
        head = reader.read_exact(6, "header")
        self.version = _core.header_version(head)
        if self.version == _core.VERSION_6_0:
            raw = head + reader.read_exact(_core.HEADER_SIZE - 6, "header")
            self.header = _core.decode_header(raw)
            keyring, start = None, _core.HEADER_SIZE
        else:
            raw = head + reader.read_exact(_core.HEADER61_SIZE - 6, "header")
            self.header = _core.decode_header61(raw)
            start = self.header.data_offset
            keyring = reader.read_exact(start - _core.HEADER61_SIZE, "keyring")
        self.layout = Layout(self.version, self.header, raw, keyring, start)
        self.keys = open_layout(self.layout, make_secrets(master_key, passphrase, identities), derive)
        self.verify = verify
        self._stored_pool = BufferPool(self.header.block_size + OVERHEAD, keep=16)
        self._lent: set = set()  # ids of the pool's buffers lent out by blocks()
        self.seen: list[tuple[int, int, int, int]] = []  # (plain_offset, block_offset, plain_size, stored)
        self.offset = start
        self.plain_offset = 0
        self.final_seen = False
        self.info: FileInfo | None = None
        self._footer_head = None
        # 6.1: index pages as they pass (offset, first plaintext offset, hash), and the blocks
        # since the last page
        self._pages: list[tuple[int, int, bytes]] = []
        self._page_start = 0

    def blocks(self, in_flight: int | None = None):
        """Yield (index, plain_offset, plain_size, final, stored bytes) until the footer.
        ``in_flight``: blocks the caller holds at most at once (yielded, not yet given to
        ``open_group``), whose buffers are kept for reuse (default 16)."""
        bs = self.header.block_size
        if in_flight is not None:
            self._stored_pool = BufferPool(bs + OVERHEAD, keep=in_flight)
        while True:
            head = self.reader.read_exact(_core.PREFIX_SIZE, "next block or footer")
            if head[:4] == b"QPAG" and self.version != _core.VERSION_6_0:
                self._read_page(head)
                continue
            if head[:4] == b"QBLK":
                i = len(self.seen)
                if self.version != _core.VERSION_6_0 and i - self._page_start >= self.header.page_entries:
                    raise DamagedError(f"index page missing before block {i}", i)
                try:
                    prefix = _core.decode_prefix(head, bs)
                except DamagedError as e:
                    raise DamagedError(f"block {i}: {e}", i) from None
                if self.final_seen:
                    raise DamagedError(f"block {i} follows the final block", i)
                if prefix.index != i:
                    raise DamagedError(f"block {i}: found block {prefix.index} in its place", i)
                n = prefix.payload_size - _core.TAG_SIZE
                if n == 0 and not prefix.final:
                    raise DamagedError(f"block {i}: empty non-final block", i)
                # Each block read in place into a recycled buffer (open_group gives it back): no
                # second copy to join prefix and rest, no fresh zeroed buffer per block.
                buf = self._stored_pool.get()
                self._lent.add(id(buf))
                stored = memoryview(buf)[:n + OVERHEAD]
                stored[:_core.PREFIX_SIZE] = head
                if self.reader.readinto(stored[_core.PREFIX_SIZE:]) != len(stored) - _core.PREFIX_SIZE:
                    raise TruncatedError(f"the stream ends inside the block {i} (offset {self.reader.offset})")
                self.seen.append((self.plain_offset, self.offset, n, len(stored)))
                yield i, self.plain_offset, n, prefix.final, stored
                self.offset += len(stored)
                self.plain_offset += n
                self.final_seen = prefix.final
            elif head[:8] == b"QLTXFOOT":
                if self.seen and not self.final_seen:
                    raise TruncatedError("the stream ends without its final block")
                if self.version != _core.VERSION_6_0 and self._page_start != len(self.seen):
                    raise DamagedError("the last index page is missing")
                self._footer_head = head
                return
            else:
                raise DamagedError(f"unexpected bytes at offset {self.offset}: neither a block nor the footer")

    def _read_page(self, head: bytes) -> None:
        """A 6.1 index page in the stream: it must list exactly the blocks since the last page."""
        first = self._page_start
        n = len(self.seen) - first
        if n == 0 or (n < self.header.page_entries and not self.final_seen):
            raise DamagedError(f"an index page at offset {self.offset} where none belongs")
        raw = head + self.reader.read_exact(_core.PAGE_HEAD_SIZE + _core.FOOTER_ENTRY_SIZE * n - len(head),
                                            "index page")
        first_po, first_bo, _, _ = self.seen[first]
        page = _core.decode_page(raw, first, n, self.header.block_size, first_po, first_bo, self.final_seen)
        for j in range(n):
            e, (po, bo, size, stored) = page[j], self.seen[first + j]
            if (e.plain_offset, e.block_offset, e.plain_size, e.block_size) != (po, bo, size, stored):
                raise DamagedError(f"index page lists block {first + j} where the stream has another", first + j)
        self._pages.append((self.offset, first_po, hash_many(self.header.index_hash)([raw])[0]))
        self.offset += len(raw)
        self._page_start = len(self.seen)

    def open_group(self, items, plain_pool: BufferPool | None = None) -> list:
        """Authenticate and decrypt a group of items from ``blocks()``, their plaintext hashes
        checked together; returns the plaintexts in order: new bytearrays, or with ``plain_pool``
        memoryviews over its buffers (give each ``view.obj`` back once done with it)."""
        if plain_pool is None:
            outs = [bytearray(n) for _, _, n, _, _ in items]
        else:
            outs = [memoryview(plain_pool.get())[:n] for _, _, n, _, _ in items]
        try:
            open_blocks(self.keys, [(i, stored, plain_offset, n, final, out)
                                    for (i, plain_offset, n, final, stored), out in zip(items, outs)],
                        self.header.permuted, self.verify)
        finally:
            for item in items:  # the stored bytes are no longer needed: our buffers go back
                buf = item[4].obj if isinstance(item[4], memoryview) else None
                if buf is not None and id(buf) in self._lent:
                    self._lent.discard(id(buf))
                    self._stored_pool.put(buf)
        return outs

    def finish(self) -> FileInfo:
        """Read and authenticate footer and trailer, compare with the blocks seen, expect EOF."""
        head = self._footer_head
        if head is None:
            raise ValueError("blocks() has not reached the footer")
        rest = self.reader.read_exact(_core.FOOTER_HEAD_SIZE - len(head), "footer")
        if self.version == _core.VERSION_6_0:
            num_blocks, plaintext_size, info_size, _mac = _core.decode_footer_head(head + rest)
            body_size = num_blocks * _core.FOOTER_ENTRY_SIZE + info_size
        else:
            num_blocks, plaintext_size, info_size, num_pages, _mac = _core.decode_footer61_head(head + rest)
            if num_pages != len(self._pages):
                raise DamagedError(f"the footer lists {num_pages} index pages, the stream held {len(self._pages)}")
            body_size = num_pages * _core.TOP_ENTRY_SIZE + info_size
        if num_blocks != len(self.seen):
            raise DamagedError(f"the footer lists {num_blocks} blocks, the stream held {len(self.seen)}")
        body = self.reader.read_exact(body_size, "footer")
        footer = head + rest + body
        if self.version == _core.VERSION_6_0:
            index = _core.decode_footer(footer, self.header.block_size, self.offset)
            for i, (po, bo, n, st) in enumerate(self.seen):
                e = index[i]
                if (e.plain_offset, e.block_offset, e.plain_size, e.block_size) != (po, bo, n, st):
                    raise DamagedError(f"block {i} does not match the footer's index", i)
        else:
            index = _core.decode_footer61(footer, self.header.page_shift, self.header.block_size,
                                          self.layout.data_offset, self.offset)
            for k, (ofs, po, digest) in enumerate(self._pages):
                ref = index.page(k)
                if (ref.ofs_page, ref.ofs_plaintext) != (ofs, po) or not compare_digest(ref.hash, digest):
                    raise DamagedError(f"index page {k} does not match the footer")
            index = PagedIndex(None, index, self.header)
        self.info = check_footer(self.keys, self.header, index, footer, self.offset)
        trailer = self.reader.read_exact(_core.TRAILER_SIZE, "trailer")
        end = self.offset + len(footer) + _core.TRAILER_SIZE
        try:
            t = _core.decode_trailer(trailer, end, self.version)
        except NotAContainerError:  # as random access reports it
            raise TruncatedError("no trailer at the end: the container is truncated or incomplete") from None
        if (t.footer_offset, t.footer_size) != (self.offset, len(footer)):
            raise DamagedError("the trailer does not point at the footer")
        if not self.reader.at_eof():
            raise DamagedError("unexpected bytes after the trailer")
        return self.info
