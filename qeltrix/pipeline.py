"""An ordered, bounded parallel map: the engine of pack, unpack and the servers' block reads.

Items are produced lazily by the calling thread (which does the I/O), handed to a pool of
``workers`` threads (which do hashing and AEAD work: the ``cryptography`` AEAD calls and
``hashlib`` release the GIL), and results come back in input order. At most ``window`` items are
in flight, so memory is bounded by ``window`` times the item size whatever the input size.
"""

from __future__ import annotations

import os
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Callable, Iterable, Iterator, TypeVar

    T = TypeVar("T")
    R = TypeVar("R")

__all__ = ["ordered_map", "BufferPool", "window_for", "cpu_threads", "group_size", "grouped"]


def cpu_threads(workers: int) -> int:
    """Threads for CPU-bound block work: ``workers``, but no more than the CPUs this process may
    run on. More would only add GIL hand-offs to threads the OS has descheduled (measured on 2
    cores: 4 threads pack and unpack 8-10% slower than 2, with the CPUs 10% idle)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(workers, cpus))

#: Bytes of blocks in flight that a pipeline aims to stay under (with large blocks). With 1 MiB
#: blocks in groups of 4 on 2 cores: 3 groups, peak RSS 55 MiB for pack (in and out buffers),
#: 50 MiB for unpack (4 groups: 63 MiB, no faster; measured with tools/bench/bench_core.py).
IN_FLIGHT_BYTES = 12 << 20


def window_for(workers: int, block_bytes: int) -> int:
    """Items in flight for ``workers`` threads on blocks of ``block_bytes``: twice the workers
    (so none waits for the next item), fewer when blocks are large, so memory stays near
    IN_FLIGHT_BYTES, but never fewer than two (one being handled while the next is prepared)."""
    return max(2, min(2 * workers, IN_FLIGHT_BYTES // max(1, block_bytes)))


#: Bytes of one group of blocks handed to a worker (see group_size).
GROUP_BYTES = 4 << 20


def group_size(block_bytes: int) -> int:
    """Blocks per job: up to 4 (GROUP_BYTES in all) where SHA-256 runs in lanes
    (``crypto.sha256_many`` hashes a group side by side: 1.7x one at a time with 4 lanes on the
    CPUs we measured); 1 where hashing is hashlib's, one block at a time anyway."""
    from .crypto import _sha256_many_hashlib, sha256_many

    if sha256_many is _sha256_many_hashlib:
        return 1
    return max(1, min(4, GROUP_BYTES // max(1, block_bytes)))


def grouped(items: Iterable[T], n: int) -> Iterator[list[T]]:
    """Lists of ``n`` consecutive items (the last one shorter)."""
    group: list = []
    for item in items:
        group.append(item)
        if len(group) == n:
            yield group
            group = []
    if group:
        yield group


class BufferPool:
    """Recycles equal-sized bytearrays so that a hot path does not allocate (and page-fault in)
    a new buffer per block. Thread-safe (deque operations are atomic); keeps at most ``keep``
    free buffers (None: no limit), so a long-lived holder does not pin the peak of a burst."""

    __slots__ = ("size", "_free")

    def __init__(self, size: int, keep: int | None = None):
        self.size = size
        self._free: deque = deque(maxlen=keep)

    def get(self) -> bytearray:
        try:
            return self._free.pop()
        except IndexError:
            return bytearray(self.size)

    def put(self, buf) -> None:
        if buf is not None:
            self._free.append(buf)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None) -> Iterator[R]:
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if workers == 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor  # here: a one-block seek never needs it

    window = window or 2 * workers
    pending: deque = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qeltrix")
    source = iter(items)
    try:
        while True:
            try:
                item = next(source)
            except StopIteration:
                break
            except Exception:
                # The producer failed (a stream cut short): what it produced before still comes
                # out, in order, then its error. (An error of fn is not caught here: it reaches
                # the consumer at its place, before any later result.)
                while pending:
                    yield pending.popleft().result()
                raise
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
