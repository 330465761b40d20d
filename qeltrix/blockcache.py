"""The one bounded cache of decrypted blocks (``qeltrix.open``'s files, the SeekServer's clients,
the mount's files), and the recycling buffer pool it draws from."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

from .pipeline import BufferPool

__all__ = ["BlockCache", "RecyclingPool"]


class BlockCache:
    """Decrypted blocks, least recently used dropped first, bounded in bytes. ``get_or_load``
    loads a missing block once however many threads ask for it at the same time (concurrent
    clients streaming the same file, a browser's parallel ranges): the others wait for it."""

    def __init__(self, max_bytes: int, on_evict=None):
        self.max_bytes = max_bytes
        self._on_evict = on_evict  # called with (key, value) of each block dropped
        self._d: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Loads under way: key -> a one-item list the loader fills with the value (None while
        # loading, or when the load failed). Those who want the same block wait on _done (rare:
        # nothing is made per load for them).
        self._loading: dict = {}
        self._done = threading.Condition(self._lock)
        self._waiting = 0
        self.hits = self.misses = self.loaded = 0  # for the metrics (read under the lock)

    def counters(self) -> dict:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "decrypted": self.loaded, "bytes": self._bytes}

    def get(self, key):
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key, value) -> None:
        with self._lock:
            self._put_locked(key, value)

    def _put_locked(self, key, value) -> None:
        if key in self._d:
            return
        self._d[key] = value
        self._bytes += len(value)
        while self._bytes > self.max_bytes and len(self._d) > 1:
            old_key, old = self._d.popitem(last=False)
            self._bytes -= len(old)
            if self._on_evict is not None:
                self._on_evict(old_key, old)

    def clear(self) -> None:
        """Drop every block (without calling ``on_evict``: the owner is closing)."""
        with self._lock:
            self._d.clear()
            self._bytes = 0

    def has(self, key) -> bool:
        """Cached or being loaded."""
        with self._lock:
            return key in self._d or key in self._loading

    def load_many(self, keys, load) -> None:
        """Load those of ``keys`` that are neither cached nor being loaded, together:
        ``load(missing_keys)`` returns their values in order (read-ahead: errors are dropped;
        the request that needs a block loads it again and reports)."""
        with self._lock:
            mine = [k for k in keys if k not in self._d and k not in self._loading]
            cells = [[None] for _ in mine]
            self._loading.update(zip(mine, cells))
        if not mine:
            return
        values = None
        try:
            values = load(mine)
        except Exception:
            pass
        finally:
            with self._lock:
                if values is not None:
                    self.loaded += len(mine)
                for k, cell, v in zip(mine, cells, values if values is not None else [None] * len(mine)):
                    del self._loading[k]
                    if v is not None:
                        cell[0] = v
                        self._put_locked(k, v)
                if self._waiting:
                    self._done.notify_all()

    def get_or_load(self, key, load):
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
                self.hits += 1
                return v
            self.misses += 1
            cell = self._loading.get(key)
            if cell is None:
                cell = self._loading[key] = [None]
                mine = True
            else:
                mine = False
                self._waiting += 1
                try:
                    while key in self._loading and self._loading[key] is cell:
                        self._done.wait()
                finally:
                    self._waiting -= 1
        if not mine:
            if cell[0] is not None:
                return cell[0]
            return load()  # the load failed: try ourselves (and raise our own error)
        try:
            v = load()
        except BaseException:
            with self._lock:
                del self._loading[key]
                if self._waiting:
                    self._done.notify_all()
            raise
        cell[0] = v
        with self._lock:  # one turn of the lock: cached, and no longer loading
            self.loaded += 1
            del self._loading[key]
            self._put_locked(key, v)
            if self._waiting:
                self._done.notify_all()
        return v


class RecyclingPool(BufferPool):
    """Plaintext buffers for the block cache. A block dropped from the cache may still be being
    sent (the native server holds views of it), so a dropped buffer is reused only once nothing
    else refers to it (CPython reference counts: a view keeps its buffer referenced). Fresh 1 MiB
    buffers cost page faults and zeroing, more than decrypting the block."""

    __slots__ = ("_lock", "_keep")

    def __init__(self, size: int, keep: int):
        super().__init__(size)
        self._lock = threading.Lock()
        self._keep = keep
        self._free = []

    def get(self) -> bytearray:
        with self._lock:
            free = self._free
            for k in range(len(free)):
                if sys.getrefcount(free[k]) <= 2:  # the list's and the argument's references
                    return free.pop(k)
        return bytearray(self.size)

    def put(self, buf) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buf)
