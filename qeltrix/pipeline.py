"""An ordered, bounded parallel map: the engine of pack, unpack and the servers' block reads.

Items are produced lazily by the calling thread (which does the I/O), handed to a pool of
``workers`` threads (which do hashing and AEAD work: the ``cryptography`` AEAD calls and
``hashlib`` release the GIL), and results come back in input order. At most ``window`` items are
in flight, so memory is bounded by ``window`` times the item size whatever the input size.
``ordered_map_pull`` does the same for a one-pass source such as a pipe, each worker taking its
next item itself.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Callable, Iterable, Iterator, TypeVar

    T = TypeVar("T")
    R = TypeVar("R")

__all__ = ["ordered_map", "ordered_map_pull", "BufferPool", "Plan", "plan", "window_for", "cpu_threads",
           "group_size", "grouped"]


def cpu_threads(workers: int) -> int:
    """Threads for CPU-bound block work: ``workers``, but no more than the CPUs this process may
    run on. More only add GIL hand-offs to threads the OS has descheduled (docs/benchmarks.md,
    "Threads")."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(workers, cpus))


#: Bytes of blocks in flight that a pipeline aims to stay under (with large blocks): it bounds
#: the peak memory of pack and unpack (tools/bench/bench_core.py reports their peak RSS).
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
    (``crypto.sha256_many`` hashes a group side by side, faster than one at a time); 1 where
    hashing is hashlib's, one block at a time anyway."""
    from .crypto import SHA256_LANES

    if not SHA256_LANES:
        return 1
    return max(1, min(4, GROUP_BYTES // max(1, block_bytes)))


class Plan(NamedTuple):
    """How a pipeline over blocks runs: ``threads`` workers, ``lanes`` blocks per job (hashed side
    by side), ``window`` jobs in flight."""
    threads: int
    lanes: int
    window: int


def plan(workers: int, block_bytes: int, *, cpu_bound: bool = True, blocks: int | None = None) -> Plan:
    """The one place a pipeline is sized. ``cpu_bound``: the work is hashing and AEAD, so no more
    threads than CPUs; else (remote reads, a pipe) ``workers`` threads wait on I/O too.
    ``blocks``: a short run of that many blocks, spread over the threads rather than packed into
    one job."""
    threads = cpu_threads(workers) if cpu_bound else workers
    lanes = group_size(block_bytes)
    if blocks is not None:
        lanes = max(1, min(lanes, -(-blocks // threads)))
    return Plan(threads, lanes, window_for(threads, block_bytes * lanes))


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
    if workers > 1:
        items = iter(items)
        head: list = []
        try:
            head.extend(itertools.islice(items, 2))
        except Exception:  # as below: what the producer made before its error still comes out
            yield from map(fn, head)
            raise
        if len(head) < 2:  # one item (a small file, a one-block seek): no threads to start
            workers, items = 1, head
        else:
            items = itertools.chain(head, items)
    if workers == 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor  # here: a one-item run never needs it

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



def ordered_map_pull(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None) -> Iterator[R]:
    """``ordered_map`` for a one-pass source (a pipe): each of the ``workers`` threads takes the
    next item itself (one taker at a time, in input order) and applies ``fn`` to it while the next
    worker takes the next item. Reading overlaps the work, and the bytes a worker reads are hot in
    its own cache when it decrypts them, as when workers read their own blocks of a file.

    At most ``window`` items (at least ``workers + 1``) are taken and not yet handed to the
    consumer. Errors reach the consumer at their place: ``fn``'s even while another worker is
    stuck taking the next item (a stream that stalls), the input's after what it made. Closing
    the iterator early stops the workers at their next item; a worker stuck in a read is not
    waited for (a daemon thread: it leaves when the read returns).
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    window = max(workers + 1, window or 2 * workers)
    source = iter(items)
    take = threading.Lock()  # one taker at a time: items are taken in order
    room = threading.Semaphore(window)
    ready = threading.Condition()
    results: dict = {}  # position -> (kind, value): _DONE, _ITEM or _ERROR
    state = {"next": 0, "ended": False, "stop": False, "busy": 0}  # busy: workers inside fn

    def post(k: int, kind: int, value) -> None:
        with ready:
            results[k] = (kind, value)
            ready.notify_all()

    def work() -> None:
        while True:
            room.acquire()
            if state["stop"]:
                return
            with take:
                if state["ended"] or state["stop"]:
                    return
                k = state["next"]
                state["next"] += 1
                try:
                    item = next(source)
                except StopIteration:
                    state["ended"] = True
                    post(k, _DONE, None)
                    return
                except BaseException as e:  # the input's error, raised by the consumer at its place
                    state["ended"] = True
                    post(k, _ERROR, e)
                    return
            with ready:
                if state["stop"]:  # the consumer left while this was taken
                    return
                state["busy"] += 1
            try:
                post(k, _ITEM, fn(item))
            except BaseException as e:
                post(k, _ERROR, e)
            finally:
                with ready:
                    state["busy"] -= 1
                    ready.notify_all()

    threads = [threading.Thread(target=work, name=f"qeltrix-pull-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    k = 0
    try:
        while True:
            with ready:
                while k not in results:
                    ready.wait()
                kind, value = results.pop(k)
            k += 1
            room.release()
            if kind == _ITEM:
                yield value
            elif kind == _DONE:
                return
            else:
                raise value
    finally:
        with ready:
            state["stop"] = True
        for _ in threads:  # a worker waiting for room wakes, sees the stop and leaves
            room.release()
        if state["ended"]:  # no worker can be stuck in a read: wait for them all
            for t in threads:
                t.join()
        else:
            # Wait for the workers inside fn (native code: one still running there when the
            # interpreter exits aborts the process), not for one stuck in a read of the input.
            with ready:
                while state["busy"]:
                    ready.wait()


_DONE, _ITEM, _ERROR = range(3)
