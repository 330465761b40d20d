"""The base of remote sources: segments fetched at open are cached, large reads are split into
parts fetched in parallel. Leaves: :mod:`.httpsource` (http/https through urllib3) and
:mod:`.fsspecsource` (any fsspec URL).

A remote source fetches little: at open, the last ``tail_bytes`` (16 KiB: trailer and footer,
in one request) and the header; then only the stored blocks a read needs, adjacent blocks in one
request, a large read split into parts fetched in parallel (``workers``). Both are cached, so
opening a container costs two requests (three when the footer is larger than ``tail_bytes``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from .. import _core
from ..errors import TruncatedError
from .base import RandomAccess, display_url

__all__ = ["RemoteAccess", "TAIL_BYTES", "PART_BYTES", "HEAD_BYTES"]

#: The suffix fetched at open: trailer and footer of a container of up to ~290 blocks (256 MiB
#: in 1 MiB blocks). A larger footer costs one more request, for exactly its missing start.
#: Small, so that a seek never pays much for it: a 4 KiB seek fetches at most footer + header +
#: 2 blocks, plus under 16 KiB.
TAIL_BYTES = 16 << 10
#: A read larger than 1.5 times this is split into parts of this size, fetched in parallel.
PART_BYTES = 8 << 20
#: The header and keyring (read at open with the tail): a 6.1 container's with the default 16
#: key slots (256 + 2 x 2104 bytes; more slots cost one more request), a 6.0 header (416 bytes).
HEAD_BYTES = _core.HEADER61_SIZE + 2 * (_core.KEYRING_HEAD_SIZE + 16 * _core.SLOT_SIZE + 32)

class RemoteAccess(RandomAccess):
    """A RandomAccess over a remote object: segments fetched at open are cached, large reads
    are split into parts fetched in parallel. Subclasses implement ``_read_into(offset, view)``,
    which fills ``view`` exactly with the bytes at ``offset`` or raises."""

    def __init__(self, url: str, workers: int = 4, part_bytes: int = PART_BYTES):
        if not isinstance(workers, int) or workers < 1:
            raise ValueError("workers must be a positive integer")
        self.url = url
        self.name = display_url(url)
        #: How many reads may usefully run at once (unpack and verify read ahead that many runs).
        self.concurrency = workers
        self._part_bytes = part_bytes
        self._segments: list[tuple[int, bytes]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._exec_lock = threading.Lock()
        self.closed = False

    # -- to implement -------------------------------------------------------------------------

    def _read_into(self, offset: int, view: memoryview) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    # -- reads --------------------------------------------------------------------------------

    def _cache(self, start: int, data) -> None:
        if data:
            self._segments.append((start, bytes(data)))

    def pread(self, offset: int, n: int):
        if self.closed:
            raise ValueError(f"{self.name}: read from a closed source")
        if n <= 0:
            return b""
        end = offset + n
        for start, seg in self._segments:
            if start <= offset and end <= start + len(seg):
                return seg[offset - start:end - start]
        # A read ending inside a cached segment (a footer larger than the tail): fetch the rest.
        for start, seg in self._segments:
            if offset < start < end <= start + len(seg):
                head = self._fetch(offset, start - offset)
                return bytes(head) + seg[:end - start]
        return self._fetch(offset, n)

    def read_into(self, offset: int, view):
        """The ``len(view)`` bytes at ``offset`` received straight into ``view`` (no buffer of
        our own, no copy: unpack reads each run of blocks into a reused buffer), or copied from
        what was cached at open."""
        view = memoryview(view).cast("B")
        n = len(view)
        if offset < 0 or offset + n > self.size:
            raise TruncatedError(f"read of {n} bytes at {offset} runs past the end ({self.size} bytes)")
        if self.closed:
            raise ValueError(f"{self.name}: read from a closed source")
        end = offset + n
        for start, seg in self._segments:
            if start <= offset and end <= start + len(seg):
                view[:] = memoryview(seg)[offset - start:end - start]
                return view
            if offset < start < end <= start + len(seg):  # the last run ends in the cached tail
                self._fetch_into(offset, view[:start - offset])
                view[start - offset:] = memoryview(seg)[:end - start]
                return view
        if n:
            self._fetch_into(offset, view)
        return view

    def _fetch(self, offset: int, n: int) -> bytearray:
        buf = bytearray(n)
        self._fetch_into(offset, memoryview(buf))
        return buf

    def _fetch_into(self, offset: int, view: memoryview) -> None:
        n = len(view)
        part = self._part_bytes
        if self.concurrency > 1 and n > part + part // 2:
            jobs = [(o, view[o - offset:min(o + part, offset + n) - offset]) for o in range(offset, offset + n, part)]
            futures = [self._pool().submit(self._read_into, o, v) for o, v in jobs]
            try:
                for f in futures:
                    f.result()
            finally:
                for f in futures:
                    f.cancel()
        else:
            self._read_into(offset, view)

    def _pool(self) -> ThreadPoolExecutor:
        with self._exec_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.concurrency,
                                                    thread_name_prefix="qeltrix-fetch")
            return self._executor

    def close(self, wait: bool = True) -> None:
        """Close; ``wait=False`` does not wait for reads in flight (an interrupted program)."""
        self.closed = True
        with self._exec_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=wait, cancel_futures=True)
                self._executor = None
        self._segments = []
