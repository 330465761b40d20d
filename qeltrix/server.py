"""SeekServer: serve the plaintext of containers over HTTP/1.1 with byte ranges.

    import qeltrix as qltx
    with qltx.SeekServer("output.qltx", mk, port=0) as srv:     # port 0: any free port
        urllib.request.urlopen(srv.url)                          # GET / (or /<stored name>)

The HTTP side (parsing, ranges, preconditions, sockets, timeouts) is native
(cpp/seek_server.cpp, with the GIL released); this module opens the containers with
:class:`qeltrix.reader.Container` (header, key and footer authenticated before anything is
served) and answers the native server's ``read(offset, length)`` calls by decrypting only the
blocks a response needs, through a small LRU cache of decrypted blocks. Sizes, ranges and
validators are always about the plaintext. A block that fails authentication raises
:class:`~qeltrix.errors.DamagedError` here; the server then closes that connection before its
Content-Length is reached (never sending the block) and logs it; other ranges still work.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import mimetypes
import os
import posixpath
import secrets
import threading
import urllib.parse
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import _core, serverpages
from .blockcache import BlockCache as _BlockCache, RecyclingPool as _RecyclingPool
from .errors import NotAContainerError
from .sources import is_loopback, is_url, open_random_access
from .pipeline import BufferPool, group_size
from .reader import Container

__all__ = ["SeekServer"]

log = logging.getLogger("qeltrix.server")


@dataclass
class _Served:
    path: str  # URL path
    container: Container
    etag: str
    last_modified: int | None
    content_type: str
    pool: BufferPool  # plaintext buffers of the block cache
    src: str = ""
    state: bytes = b""  # _source_state's at opening (health: the file is still that one)
    find: object = None  # offset -> (block number, its index entry), see _finder

    def __post_init__(self):
        if self.find is None:
            self.find = _finder(self.container.index)


def _finder(index):
    """``offset -> (i, index[i])`` for the block holding plaintext byte ``offset``: a 6.1
    PagedIndex finds both in one page lookup."""
    find = getattr(index, "find", None)
    if find is not None:
        return find
    locate = index.locate

    def find(offset):
        i = locate(offset)
        return i, index[i]

    return find


#: A streaming response is read in whole blocks of at least this much (blocks are joined when
#: smaller): one call from the native server, and one GIL hand-off, per chunk, not per block.
MIN_CHUNK = 256 << 10


def _chunk(block_size: int) -> int:
    return block_size * max(1, -(-MIN_CHUNK // block_size))


def _etag(c: Container, state: bytes) -> str:
    """Strong, from the container's identity and the stored object's state (a local file's
    mtime and size; a remote object's ETag, Last-Modified or version tag, and size): never from
    the plaintext."""
    h = hashlib.sha256()
    h.update(bytes(c.header.container_id))
    h.update(b"%d:" % c.size + state)
    return '"' + h.hexdigest()[:32] + '"'


def _source_state(src, ra) -> tuple[bytes, int | None]:
    """(what identifies this version of the stored container, its mtime in Unix seconds or None)."""
    if not is_url(src):
        st = os.stat(src)
        return b"%d:%d" % (st.st_mtime_ns, st.st_size), int(st.st_mtime)
    etag = getattr(ra, "etag", None)  # HttpAccess: the validators of the first answer
    lm = getattr(ra, "last_modified", None)
    version = getattr(ra, "version", None)  # FsspecAccess: ETag or another version tag
    mtime = getattr(ra, "mtime", None)
    if mtime is None and lm:
        try:
            mtime = email.utils.parsedate_to_datetime(lm).timestamp()
        except (TypeError, ValueError):
            mtime = None
    state = "%s|%s|%s|%d" % (etag, lm, version, ra.size)
    return state.encode(), (int(mtime) if mtime is not None and mtime >= 0 else None)


#: The server's own pages (health, metrics) live under this path.
RESERVED = "/-/"


def _printable(name: str) -> str:
    return name.encode("unicode_escape").decode("ascii")[:300]


def _default_name(src: str) -> str:
    """The URL path's or file's last component without its extension (for a container that
    stores no name)."""
    if is_url(src):
        base = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(src).path))
    else:
        base = os.path.basename(src)
    return os.path.splitext(base)[0] or "container"


class SeekServer:
    """Serves one container at ``/`` and ``/<stored name>``, or every container of a folder at
    ``/<stored name>``. GET and HEAD; Range, If-Range and the other conditionals; keep-alive and
    pipelining. ``token``: require ``Authorization: Bearer <token>`` (of every request, the
    pages below included).

    A folder lists itself: ``/`` and every folder path (stored names with slashes make folders)
    answer an HTML index (names, plaintext sizes, modification times, content types, links), or
    JSON with ``Accept: application/json`` or ``?format=json``; ``index=False`` turns that off
    (404). ``/-/health`` answers 200 while every container is still the file that was opened
    (503 otherwise), ``/-/metrics`` the counters in Prometheus' text format. Stored names under
    ``-/`` are not served (the server's own pages live there).

    ``path_or_dir`` may be a URL (http(s) or fsspec): only the blocks responses need are fetched.
    ``cache_bytes`` bounds the cache of decrypted blocks (shared by all clients; a block several
    clients want at once is decrypted once). ``readahead_blocks``: a response streaming through
    a block's end has up to that many following blocks decrypted (or fetched) in the background
    while it is sent, in groups of up to four whose hashes are computed together (0: off).

    ``start()`` returns at once; ``stop()`` finishes in-flight responses (up to ``stop_timeout``
    seconds) and closes the containers. Also a context manager (starts on enter).
    """

    def __init__(self, path_or_dir, master_key=None, host: str = "127.0.0.1", port: int = 7621,
                 workers: int = 4, *, passphrase=None, identities=None, token: str | None = None,
                 max_connections: int = 256, header_timeout: float = 10.0, idle_timeout: float = 15.0,
                 send_timeout: float = 30.0, stop_timeout: float = 5.0, cache_bytes: int = 32 << 20,
                 readahead_blocks: int = 8, max_ranges: int = 16, index: bool = True,
                 logger: logging.Logger | None = None):
        # The native server checks its own settings (ValueError naming them); this one is ours.
        if readahead_blocks < 0:
            raise ValueError("readahead_blocks must be non-negative")
        self.host = host
        self._log = logger or log
        self._served: list[_Served] = []
        self._cache = _BlockCache(cache_bytes, self._evicted)
        self._closed = False
        self._readahead = readahead_blocks
        self._ahead_workers = workers
        self._ahead_pool: ThreadPoolExecutor | None = None
        self._ahead_lock = threading.Lock()
        self._identities = identities
        self._index = index
        try:
            self._folder = False
            self._open(path_or_dir, master_key, passphrase, workers)
            entries = []
            for i, s in enumerate(self._served):
                paths = [s.path] if self._folder else ["/", s.path]
                for p in dict.fromkeys(paths):
                    entries.append((p, i, s.container.size, s.etag, s.last_modified, s.content_type,
                                    _chunk(s.container.header.block_size)))
            self._native = _core.SeekServer(
                entries, self._read, self._log_line, host=host, port=port, workers=workers,
                max_connections=max_connections, header_timeout=header_timeout,
                idle_timeout=idle_timeout, send_timeout=send_timeout, stop_timeout=stop_timeout,
                token=token, boundary_prefix="qltx" + secrets.token_hex(8), max_ranges=max_ranges,
                page=self._page, log_level=self._log_level)
            self._listed = [serverpages.Listed(s.path, s.container.size,
                                               s.container.info.mtime or s.last_modified, s.content_type)
                            for s in self._served]
        except BaseException:
            self._close_containers()
            raise
        self._port = port
        if not is_loopback(host) and token is None:
            self._log.warning(
                "SeekServer on %s without a token: anyone who can reach this address can read the "
                "decrypted contents; give token=... (qeltrix serve --token-file) or bind 127.0.0.1", host)

    # -- opening ------------------------------------------------------------------------------

    def _open(self, path_or_dir, master_key, passphrase, workers) -> None:
        if is_url(path_or_dir):  # one remote container (http(s) or any fsspec URL)
            self._served.append(self._open_one(path_or_dir, master_key, passphrase, workers))
            return
        path = os.fspath(path_or_dir)
        if os.path.isdir(path):
            self._folder = True
            names = {}
            for fn in sorted(os.listdir(path)):
                full = os.path.join(path, fn)
                if not os.path.isfile(full):
                    continue
                try:
                    s = self._open_one(full, master_key, passphrase, workers)
                except NotAContainerError:
                    self._log.info("skipping %s: not a container", fn)
                    continue
                if s.path in names:
                    self._log.warning("skipping %s: %s is already served from %s", fn, _printable(s.path),
                                      names[s.path])
                    s.container.close()
                    continue
                if s.path.startswith(RESERVED):
                    self._log.warning("skipping %s: its stored name %s is under %s (the server's own pages)",
                                      fn, _printable(s.path), RESERVED)
                    s.container.close()
                    continue
                names[s.path] = fn
                self._served.append(s)
        else:
            self._served.append(self._open_one(path, master_key, passphrase, workers))

    def _open_one(self, src: str, master_key, passphrase, workers: int) -> _Served:
        """Opens a local file or a URL (then only the blocks a response needs are fetched)."""
        ra = open_random_access(src, workers=workers)
        if ra is None:
            raise ValueError(f"{src}: a SeekServer needs a regular file or a URL")
        try:
            c = Container(ra, master_key, passphrase=passphrase, identities=self._identities)
            state, mtime = _source_state(src, ra)
        except BaseException:
            ra.close()
            raise
        # The stored name (sealed file info) gives the path and the Content-Type.
        name = c.name or _default_name(src)
        ctype = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
        bs = c.header.block_size
        pool = _RecyclingPool(bs, keep=max(4, self._cache.max_bytes // bs // 4))
        # Every block read goes through the Container's buffers of stored bytes: enough for every
        # worker and read-ahead group at once (else reads beyond the Container's few each fault
        # in a fresh buffer, as costly as decrypting the block).
        c.stored_pool = BufferPool(bs + _core.BLOCK_OVERHEAD,
                                   keep=workers * (1 + min(group_size(bs), max(1, self._readahead))))
        return _Served("/" + name.lstrip("/"), c, _etag(c, state), mtime, ctype, pool, src, state)

    # -- callbacks from the native server (worker threads) ------------------------------------

    def _block(self, n: int, i: int, entry=None):
        # the decrypted block itself (no copy): nothing writes to it while it is cached
        s = self._served[n]
        return self._cache.get_or_load((n, i), lambda: s.container.read_block(i, s.pool, entry))

    def _evicted(self, key, view) -> None:
        self._served[key[0]].pool.put(view.obj)

    def _read(self, n: int, offset: int, length: int):
        # Once per request part, with the GIL: one index lookup, then the blocks in order.
        i, e = self._served[n].find(offset)
        start = e.plain_offset
        end = offset + length
        e_end = start + e.plain_size
        if end <= e_end:  # within one block (a short range, or one chunk of a stream)
            b = self._block(n, i, e)
            if self._readahead and offset == start and end == e_end:
                # Whole blocks are read only by a response that streams on (the native server
                # reads block by block; a short range, even one across a boundary, reads parts):
                # decrypt (or fetch) what follows while this part is sent.
                c = self._served[n].container
                if i + 1 < c.num_blocks:
                    self._read_ahead(n, i + 1, min(i + 1 + self._readahead, c.num_blocks))
            return memoryview(b)[offset - start:end - start]
        index = self._served[n].container.index
        parts = []
        while True:
            b = self._block(n, i)
            e_end = e.plain_offset + e.plain_size
            parts.append(memoryview(b)[max(offset, e.plain_offset) - e.plain_offset:min(end, e_end) - e.plain_offset])
            i += 1
            if end <= e_end:
                break
            e = index[i]
        c = self._served[n].container
        if self._readahead and i < c.num_blocks and offset == start and end == e_end:
            self._read_ahead(n, i, min(i + self._readahead, c.num_blocks))
        return b"".join(parts)

    def _read_ahead(self, n: int, first: int, last: int) -> None:
        # In groups (hashed side by side, see crypto.sha256_many): nothing is started until a
        # whole group of the window is missing, or the window reaches the end of the file.
        c = self._served[n].container
        group = min(group_size(c.header.block_size), self._readahead)
        missing = [i for i in range(first, last) if not self._cache.has((n, i))]
        if not missing or (len(missing) < group and last < c.num_blocks):
            return
        with self._ahead_lock:
            if self._closed:
                return
            if self._ahead_pool is None:
                self._ahead_pool = ThreadPoolExecutor(self._ahead_workers, thread_name_prefix="qeltrix-readahead")
            # whole groups only (the rest waits for the next call), but all of it at the end
            usable = len(missing) if last >= c.num_blocks else len(missing) - len(missing) % group
            for k in range(0, usable, group):
                self._ahead_pool.submit(self._load_ahead, n, missing[k:k + group])

    def _load_ahead(self, n: int, blocks: list) -> None:
        if self._closed:
            return
        s = self._served[n]
        self._cache.load_many([(n, i) for i in blocks], lambda keys: s.container.read_blocks([i for _, i in keys], s.pool))

    def _log_line(self, level: int, line: str) -> None:
        self._log.log(level, "%s", line)

    def _log_level(self) -> int:
        # the native server makes no line below this (a quiet server's access log costs nothing)
        return max(self._log.getEffectiveLevel(), logging.root.manager.disable + 1)

    def _page(self, method: str, raw_path: bytes, query: str, accept: str):
        """The native server's page callback: (status, fields, body) for a path that is no
        container's, and for every path under /-/."""
        path = raw_path.decode("utf-8", "surrogateescape")
        if path == RESERVED + "health":
            ok = self.healthy()
            body = b'{"status": "ok"}\n' if ok else b'{"status": "unavailable"}\n'
            return (200 if ok else 503), [("Content-Type", "application/json"), ("Cache-Control", "no-store")], body
        if path == RESERVED + "metrics":
            return 200, serverpages.METRICS_FIELDS, self.metrics()
        if self._folder and self._index and not path.startswith(RESERVED):
            f = serverpages.folder_at(path, self._listed)
            if f is not None:
                if serverpages.wants_json(query, accept):
                    return 200, serverpages.JSON_FIELDS, serverpages.render_json(f)
                return 200, serverpages.HTML_FIELDS, serverpages.render_html(f)
            if serverpages.folder_at(path + "/", self._listed) is not None:
                seg = path.rsplit("/", 1)[1]
                return 301, [("Location", "./" + urllib.parse.quote(seg, safe="") + "/"),
                             ("Content-Type", "text/plain; charset=utf-8")], b"301 Moved Permanently\n"
        return 404, [("Content-Type", "text/plain; charset=utf-8")], b"404 Not Found\n"

    def healthy(self) -> bool:
        """Every container is still the file it was opened from (same size and mtime); remote
        ones are not fetched for this."""
        for s in self._served:
            if s.src and not is_url(s.src):
                try:
                    if _source_state(s.src, None)[0] != s.state:
                        return False
                except OSError:
                    return False
        return not self._closed

    def metrics(self) -> bytes:
        """The counters, in Prometheus' text format."""
        return serverpages.metrics_text(self._native.stats(), self._cache.counters(), len(self._served))

    # -- control ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port once started (the real one when 0 was asked), else the one asked."""
        return self._native.port if self._native.running else self._port

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def paths(self) -> list[str]:
        """The URL paths served (each container under its stored name)."""
        return [s.path for s in self._served]

    def start(self) -> "SeekServer":
        if self._closed:
            raise ValueError("this SeekServer was stopped")
        self._native.start()
        # At interpreter exit (atexit, before finalization) a server still running is stopped:
        # its native threads must not ask for the GIL of an interpreter being torn down.
        self._finalizer = weakref.finalize(self, self._native.stop)
        self._port = self._native.port
        self._log.info("serving %d container(s) at %s", len(self._served), self.url)
        return self

    def stop(self) -> None:
        if self._closed:
            return
        self._native.stop()
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin.detach()
        with self._ahead_lock:
            pool, self._ahead_pool = self._ahead_pool, None
            self._closed = True  # no more read-ahead
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._close_containers()

    def _close_containers(self) -> None:
        self._closed = True
        for s in self._served:
            s.container.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
