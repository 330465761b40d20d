"""``qeltrix.open``: a container as a read-only, seekable binary file of its plaintext.

Reads decrypt only the blocks they touch, after header and footer are authenticated. A small
LRU cache (:class:`~qeltrix.blockcache.BlockCache`, as the servers use) keeps recently decrypted blocks, so the many small reads of ``zipfile``, ``tarfile``,
``pandas`` or ``pyarrow`` (headers, then members) cost one block fetch each, not one per read;
reads that continue where the previous one ended fetch a few blocks ahead in one request.
"""

from __future__ import annotations

import io
import itertools
import threading

from .blockcache import BlockCache
from .pipeline import grouped, ordered_map, plan
from .reader import Container

__all__ = ["ContainerFile", "open_container"]


class ContainerFile(io.RawIOBase):
    """The plaintext of an open :class:`~qeltrix.reader.Container` as a raw binary file.

    ``cache_blocks`` decrypted blocks are kept (least recently used dropped first); a read that
    follows the previous one fetches up to ``readahead_blocks`` blocks in one request; ``workers``
    threads decrypt a large read. Closing the file closes the container (and its source).
    """

    mode = "rb"

    def __init__(self, container: Container, *, cache_blocks: int = 8, readahead_blocks: int = 4,
                 workers: int = 4):
        super().__init__()
        if cache_blocks < 1 or readahead_blocks < 1 or workers < 1:
            raise ValueError("cache_blocks, readahead_blocks and workers must be at least 1")
        self._c = container
        self._pos = 0
        self._cache = BlockCache(max(cache_blocks, readahead_blocks) * container.header.block_size)
        self._readahead = readahead_blocks
        self._workers = workers
        self._last_end = 0  # a first read from the start counts as sequential
        self._lock = threading.RLock()
        self.name = container.ra.name if getattr(container.ra, "name", None) else container.name

    @property
    def container(self) -> Container:
        return self._c

    @property
    def size(self) -> int:
        """The plaintext size."""
        return self._c.size

    # -- io.RawIOBase -------------------------------------------------------------------------

    def readable(self) -> bool:
        self._checkClosed()
        return True

    def seekable(self) -> bool:
        self._checkClosed()
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence!r})")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, b) -> int:
        self._checkClosed()
        with self._lock:
            view = memoryview(b).cast("B")
            n = max(0, min(len(view), self.size - self._pos))
            if n:
                self._fill(self._pos, view[:n])
            self._pos += n
            return n

    def readall(self) -> bytes:
        self._checkClosed()
        buf = bytearray(max(0, self.size - self._pos))
        n = self.readinto(buf)
        del buf[n:]
        return bytes(buf)

    def close(self) -> None:
        if not self.closed:
            try:
                self._c.close()
            finally:
                self._cache.clear()
                super().close()

    # -- blocks -------------------------------------------------------------------------------

    def _fill(self, offset: int, view: memoryview) -> None:
        index = self._c.index
        end = offset + len(view)
        first, last = index.span(offset, len(view))
        sequential = offset == self._last_end
        self._last_end = end
        i = first
        while i < last:
            block = self._cache.get(i)
            if block is not None:
                self._copy(i, block, offset, end, view)
                i += 1
                continue
            j = i + 1
            while j < last and not self._cache.has(j):
                j += 1
            stop = j
            if sequential and j == last:  # read ahead, a few blocks past what was asked
                limit = min(len(index), i + self._readahead)
                while stop < limit and not self._cache.has(stop):
                    stop += 1
            for k, pt in self._decrypt(i, stop):
                if k < last:
                    self._copy(k, pt, offset, end, view)
                e = index[k]
                if k >= last or e.plain_offset + e.plain_size > end or e.plain_offset < offset:
                    self._cache.put(k, pt)  # partly read or read ahead: likely wanted next
            i = j

    def _decrypt(self, first: int, stop: int):
        """(k, plaintext) of blocks [first, stop), in order: in groups whose hashes are computed
        side by side, as many groups as there are CPUs to run them."""
        c = self._c
        n = stop - first
        lanes = plan(self._workers, c.header.block_size, blocks=n).lanes

        def job(group):
            outs = [bytearray(c.index[k].plain_size) for k, _ in group]
            c.open_group([(k, stored, out) for (k, stored), out in zip(group, outs)])
            return [(k, out) for (k, _), out in zip(group, outs)]

        groups = grouped(c.iter_stored(first, stop), lanes)
        yield from itertools.chain.from_iterable(ordered_map(job, groups, min(self._workers, -(-n // lanes))))

    def _copy(self, i: int, block, offset: int, end: int, view: memoryview) -> None:
        e = self._c.index[i]
        lo = max(offset, e.plain_offset)
        hi = min(end, e.plain_offset + e.plain_size)
        view[lo - offset:hi - offset] = memoryview(block)[lo - e.plain_offset:hi - e.plain_offset]


def open_container(src, master_key=None, *, passphrase=None, identities=None, verify: bool = True,
                   cache_blocks: int = 8, readahead_blocks: int = 4, workers: int = 4) -> ContainerFile:
    """Open container ``src`` (path, URL, bytes, seekable binary file or RandomAccess) as a
    read-only, seekable binary file of its plaintext (``qeltrix.open``).

    Header, key and footer are checked here, before any byte is returned; each block is
    authenticated when first read. Use it as a context manager, or close it. It is a raw file
    (``io.RawIOBase``) with its own block cache: wrap it in ``io.BufferedReader`` only if many
    tiny reads matter, or ``io.TextIOWrapper`` for text.
    """
    container = Container.open(src, master_key, passphrase=passphrase, identities=identities, verify=verify,
                               workers=workers)
    if container is None:
        raise ValueError("qeltrix.open needs a seekable source (a file, URL, bytes or a seekable file object)")
    try:
        return ContainerFile(container, cache_blocks=cache_blocks, readahead_blocks=readahead_blocks,
                             workers=workers)
    except BaseException:
        container.close()
        raise
