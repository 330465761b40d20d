"""``qeltrix mount``: the plaintext of containers as plain read-only files, through FUSE.

    qeltrix mount media/ /mnt/media --key-file my.key        # Ctrl-C or 'qeltrix umount' to stop

SOURCE is a container, a folder of containers (sub-folders shown as folders), an http(s) URL of
a container or of a folder listing, or any fsspec URL of an object or a prefix
(``s3://bucket/prefix/``). Each container shows as a read-only file under the name sealed in it
(the container's own name without ``.qltx`` where it holds none; a name already taken in its
folder gets the container's file name added, ``name [x.qltx].ext``, and a log line), with its
plaintext size and stored mtime.

A read decrypts only the blocks that hold it, through one :class:`~qeltrix.blockcache.BlockCache`
shared by every file (the SeekServer's), with read-ahead for sequential readers; libfuse calls
in from several threads at once. The kernel keeps file pages between opens (``keep_cache``)
unless the container changed (another container id or size).

A new file created in a folder (local or fsspec) and written front to back is packed into a new
container ``<name>.qltx`` beside the others as it is written (constant memory; atomically renamed
into place, or an S3 multipart upload completed, when the file is closed). Anything else that
would change a file fails: writing at another offset, truncating, overwriting, renaming or
deleting give ``EPERM``; every write gives ``EROFS`` on a read-only mount (``read_only``, a single
container or an http(s) source). A damaged block gives ``EIO`` to the reads that touch it, and
one log line naming container and block; a remote error (after the reader's timeouts and
retries) gives ``EIO``.

The binding is ``mfusepy`` (``pip install 'qeltrix[mount]'``; ctypes over libfuse 3 or 2).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import posixpath
import stat
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from .blockcache import BlockCache, RecyclingPool
from .fileinfo import safe_output_name
from .errors import DamagedError, NotAContainerError, QeltrixError, WrongKeyError
from .sources import is_url, open_random_access
from .pipeline import group_size
from .reader import Container

__all__ = ["Mount", "mount", "unmount", "SUFFIX"]

log = logging.getLogger("qeltrix.mount")

#: The suffix of container files (dropped from a container's own name; added to new ones).
SUFFIX = ".qltx"


def _binding():
    """The mfusepy module, or ValueError saying what to install."""
    try:
        import mfusepy
    except ImportError:
        raise ValueError("qeltrix mount needs mfusepy: pip install 'qeltrix[mount]'") from None
    except OSError as e:  # mfusepy found no libfuse
        raise ValueError(f"qeltrix mount needs libfuse 3 (Debian: apt-get install fuse3): {e}") from None
    return mfusepy


# -- the tree ----------------------------------------------------------------------------------

class _Entry:
    """One container shown as a file."""

    __slots__ = ("src", "container", "size", "mtime", "ident", "state", "key", "stale", "opens", "retired")

    _keys = iter(range(1 << 62))  # cache keys: a reopened container never reuses a key
    _keys_lock = threading.Lock()

    def __init__(self, src: str, container: Container, state, mtime: int):
        self.src = src
        self.container = container
        self.size = container.size
        self.ident = (bytes(container.header.container_id), container.size)
        self.state = state
        self.mtime = container.info.mtime or mtime
        self.stale = False
        self.opens = 0  # handles open on it
        self.retired = False  # replaced in the tree: closed once its last handle is released
        with _Entry._keys_lock:
            self.key = next(_Entry._keys)


class _Dir:
    __slots__ = ("children", "mtime", "where")

    def __init__(self, where, mtime: int):
        self.children: dict = {}
        self.mtime = mtime
        self.where = where  # local folder path or URL of the source folder (new containers go there)


class _Upload:
    """A new file being written: its bytes go through a pipe into ``pack``, run by a thread,
    which writes the container to a temporary name (or an uncommitted upload) and renames it
    into place (commits it) only when the file is closed after a sequential write."""

    def __init__(self, dst: str, name: str, pack_args: dict):
        from .writer import pack

        self.dst = dst
        self.name = name
        self.written = 0
        self.mtime = int(time.time())
        self.error: BaseException | None = None
        self.done = False
        self._complete = False  # the writer closed the file: EOF is the end, not an interruption
        self._lock = threading.Lock()
        r, self._w = os.pipe()
        try:
            import fcntl

            fcntl.fcntl(self._w, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        except OSError:
            pass  # the default pipe size works, a little slower
        self._src = _PipeSource(r, self)

        def run():
            try:
                pack(self._src, dst, overwrite=False, name=name, **pack_args)
            except BaseException as e:  # reported to the writer by flush/close
                self.error = e
            finally:
                self._src.close()

        self._thread = threading.Thread(target=run, name="qeltrix-mount-pack", daemon=True)
        self._thread.start()

    def write(self, data, offset: int) -> int:
        with self._lock:
            if self.done:
                raise OSError(errno.EPERM, "the file was closed: files are write-once")
            if offset != self.written:
                raise OSError(errno.EPERM, "files are written front to back only")
            view = memoryview(data)
            try:
                while view:
                    n = os.write(self._w, view)
                    view = view[n:]
            except BrokenPipeError:
                raise OSError(errno.EIO, f"packing failed: {self.error}") from None
            self.written += len(data)
            return len(data)

    def finish(self, abort: bool = False) -> None:
        """Close the stream (``abort``: as interrupted, so nothing is committed) and wait."""
        with self._lock:
            if not self.done:
                self.done = True
                self._complete = not abort
                os.close(self._w)
        self._thread.join()


class _PipeSource:
    """The read end of an upload's pipe as a binary source: EOF before the writer closed the
    file raises, so ``pack`` aborts rather than seal a partial file."""

    def __init__(self, fd: int, upload: _Upload):
        self._f = open(fd, "rb", buffering=0)
        self._upload = upload

    def readinto(self, b) -> int:
        n = self._f.readinto(b)
        if not n and not self._upload._complete:
            raise OSError(errno.EIO, "the write was interrupted")
        return n

    def close(self) -> None:
        self._f.close()


class _Handle:
    __slots__ = ("entry", "upload", "last_end")

    def __init__(self, entry=None, upload=None):
        self.entry = entry
        self.upload = upload
        self.last_end = 0


# -- opening the source ------------------------------------------------------------------------

def _own_name(src: str) -> str:
    base = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(src).path.rstrip("/"))) \
        if is_url(src) else os.path.basename(src)
    return (base[:-len(SUFFIX)] if base.endswith(SUFFIX) and len(base) > len(SUFFIX) else base) or "container"


def _state(src: str, ra):
    """(what identifies this version of the stored container, its mtime in seconds)."""
    if not is_url(src):
        st = os.stat(src)
        return (st.st_ino, st.st_size, st.st_mtime_ns), int(st.st_mtime)
    mtime = getattr(ra, "mtime", None)
    if mtime is None and getattr(ra, "last_modified", None):
        import email.utils

        try:
            mtime = email.utils.parsedate_to_datetime(ra.last_modified).timestamp()
        except (TypeError, ValueError):
            mtime = None
    return None, int(mtime or 0)


def _is_partial(name: str) -> bool:
    """An unfinished output of ours (AtomicOutput's temporary name)."""
    return name.startswith(".") and name.endswith(".part")


class Mount:
    """The file system: a tree of folders and containers over ``source`` (see the module doc).
    ``run(mountpoint)`` mounts it and serves until unmounted (or SIGINT/SIGTERM)."""

    use_ns = True  # mfusepy: times in nanoseconds

    def __init__(self, source: str, master_key=None, *, passphrase=None, identities=None, read_only: bool = False,
                 cache_bytes: int = 64 << 20, readahead_blocks: int = 8, workers: int = 4,
                 block_size: int | None = None, cipher_id: int | None = None, timeout: float = 10.0,
                 retries: int = 2, logger: logging.Logger | None = None):
        if readahead_blocks < 0 or workers < 1 or cache_bytes < 1 or timeout <= 0 or retries < 0:
            raise ValueError("readahead_blocks and retries must be non-negative, workers, cache_bytes "
                             "and timeout positive")
        # http(s): a read waits at most `timeout` seconds for data, `retries` times more: a
        # program reading a file whose server went silent gets EIO, not a hang
        self._http = {"timeout": timeout, "connect_timeout": min(timeout, 10.0), "retries": retries}
        self._log = logger or log
        from .reader import make_secrets

        secrets = make_secrets(master_key, passphrase, identities)
        self._keys = {"master_key": secrets.master_key, "passphrase": secrets.passphrase,
                      "identities": list(secrets.identities)}
        # new files open with the same secrets: a key, a passphrase, the identities' recipients
        self._writer_keys = {"master_key": secrets.master_key, "passphrase": secrets.passphrase,
                             "recipients": [i.recipient for i in secrets.identities]}
        self._workers = workers
        self._readahead = readahead_blocks
        self._pools: dict[int, RecyclingPool] = {}
        self._pools_lock = threading.Lock()
        self._cache = BlockCache(cache_bytes, self._evicted)
        self._ahead: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # the tree and the handles
        self._handles: dict[int, _Handle] = {}
        self._next_fh = 1
        self._retired: list[_Entry] = []  # replaced, still open
        self._damaged: set = set()
        self._closed = False
        pack_args = {"workers": workers}
        if block_size:
            pack_args["block_size"] = block_size
        if cipher_id:
            pack_args["cipher_id"] = cipher_id
        self._pack_args = {**pack_args, **self._writer_keys}
        self.source = source
        self._fs = None  # fsspec file system of a folder URL
        self.root = _Dir(None, int(time.time()))
        self.count = 0
        self._open_source(source)
        self.writable = not read_only and self.root.where is not None and \
            not (is_url(source) and urllib.parse.urlsplit(source).scheme.lower() in ("http", "https"))

    # -- building the tree ----------------------------------------------------------------------

    def _open_source(self, source: str) -> None:
        if is_url(source):
            scheme = urllib.parse.urlsplit(source).scheme.lower()
            folder = source.endswith("/") if scheme in ("http", "https") else self._is_remote_dir(source)
            if not folder:
                self._place(self.root, [source], single=True)
                return
            self._walk_remote(source)
            return
        path = os.path.abspath(os.fspath(source))
        if not os.path.isdir(path):
            if not os.path.exists(path):
                raise FileNotFoundError(f"{source}: no such file or folder")
            self._place(self.root, [path], single=True)
            return
        self.root = _Dir(path, int(os.stat(path).st_mtime))
        plan = []  # (dir node, [sources])
        for top, dirs, files in os.walk(path):
            dirs.sort()
            rel = os.path.relpath(top, path)
            node = self.root if rel == "." else self._mkdirs(rel.split(os.sep), path)
            plan.append((node, [os.path.join(top, f) for f in sorted(files) if not _is_partial(f)]))
        self._place_all(plan)

    def _mkdirs(self, parts, base, url: bool = False) -> _Dir:
        node = self.root
        where = base
        for p in parts:
            where = (where.rstrip("/") + "/" + p) if url else os.path.join(where, p)
            child = node.children.get(p)
            if not isinstance(child, _Dir):
                mtime = node.mtime if url else int(os.stat(where).st_mtime)
                child = node.children[p] = _Dir(where, mtime)
            node = child
        return node

    def _is_remote_dir(self, url: str) -> bool:
        try:
            import fsspec

            fs, path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError):
            return False  # opening it as one container says what to install
        try:
            return fs.isdir(path)
        except FileNotFoundError:
            return False

    def _walk_remote(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise ValueError(f"listing {url.split('://')[0]}:// folders needs fsspec: "
                             "pip install 'qeltrix[remote]'") from None
        fs, root = fsspec.core.url_to_fs(url)
        self._fs = fs
        http = urllib.parse.urlsplit(url).scheme.lower() in ("http", "https")
        base = url.rstrip("/") + "/"
        self.root = _Dir(base, int(time.time()))
        found = fs.find(root, withdirs=True, detail=True)
        root_s = root.rstrip("/")
        plan: dict = {}
        for p, info in sorted(found.items()):
            rel = p.rstrip("/")[len(root_s):].strip("/") if p.startswith(root_s + "/") else None
            if not rel:
                continue
            parts = [urllib.parse.unquote(x) if http else x for x in rel.split("/")]
            if info.get("type") == "directory":
                self._mkdirs(parts, base, url=True)
                continue
            if _is_partial(parts[-1]):
                continue
            node = self._mkdirs(parts[:-1], base, url=True) if len(parts) > 1 else self.root
            src = p if is_url(p) else fs.unstrip_protocol(p)
            plan.setdefault(id(node), (node, []))[1].append(src)
        self._place_all(list(plan.values()))

    def _open_entry(self, src: str) -> _Entry:
        if is_url(src) and urllib.parse.urlsplit(src).scheme.lower() in ("http", "https"):
            from .sources import open_remote

            ra = open_remote(src, workers=self._workers, **self._http)
        else:
            ra = open_random_access(src, workers=self._workers)
        if ra is None:
            raise NotAContainerError(f"{src}: not a regular file")
        try:
            c = Container(ra, **self._keys)
            state, mtime = _state(src, ra)
        except BaseException:
            ra.close()
            raise
        return _Entry(src, c, state, mtime)

    def _place_all(self, plan) -> None:
        """Open every container of ``plan`` (in parallel) and place them in their folders."""
        srcs = [s for _, group in plan for s in group]
        results: dict = {}

        def job(src):
            try:
                return src, self._open_entry(src)
            except (QeltrixError, OSError, ValueError) as e:
                return src, e

        with ThreadPoolExecutor(max(1, min(8, len(srcs)))) as ex:
            for src, r in ex.map(job, srcs):
                results[src] = r
        wrong = [s for s, r in results.items() if isinstance(r, WrongKeyError)]
        opened = [s for s, r in results.items() if isinstance(r, _Entry)]
        if wrong and not opened:
            raise WrongKeyError(f"wrong key or passphrase for {len(wrong)} container(s), and no container opened")
        for node, group in plan:
            for src in group:
                r = results[src]
                if isinstance(r, _Entry):
                    self._add(node, r)
                elif isinstance(r, WrongKeyError):
                    self._log.warning("skipping %s: %s", self._show(src), r)
                elif isinstance(r, NotAContainerError):
                    self._log.info("skipping %s: not a container", self._show(src))
                else:
                    self._log.warning("skipping %s: %s", self._show(src), r)

    def _place(self, node: _Dir, srcs, single: bool = False) -> None:
        if single:  # one container: its errors are the mount's
            self._add(node, self._open_entry(srcs[0]))
            return
        self._place_all([(node, srcs)])

    @staticmethod
    def _show(src: str) -> str:
        if is_url(src):
            from .sources import display_url

            return display_url(src)
        return src

    def _add(self, node: _Dir, e: _Entry) -> str:
        own = _own_name(e.src)
        try:
            want = safe_output_name(e.container.name)
        except ValueError:
            want = own
        name = want
        if name in node.children:
            stem, ext = posixpath.splitext(want)
            name = f"{stem} [{posixpath.basename(e.src.rstrip('/'))}]{ext}"
            k = 2
            while name in node.children:
                name = f"{stem} [{posixpath.basename(e.src.rstrip('/'))} {k}]{ext}"
                k += 1
            self._log.warning("%s: the name %r is taken in its folder: shown as %r", self._show(e.src), want, name)
        node.children[name] = e
        self.count += 1
        return name

    # -- lookups ------------------------------------------------------------------------------------

    def _node(self, path: str):
        node = self.root
        for part in path.strip("/").split("/"):
            if not part:
                continue
            if not isinstance(node, _Dir):
                raise OSError(errno.ENOTDIR, path)
            node = node.children.get(part)
            if node is None:
                raise OSError(errno.ENOENT, path)
        return node

    def _parent(self, path: str) -> tuple[_Dir, str]:
        head, name = posixpath.split(path.rstrip("/"))
        parent = self._node(head)
        if not isinstance(parent, _Dir):
            raise OSError(errno.ENOTDIR, path)
        return parent, name

    # -- FUSE operations (mfusepy, raw_fi) ----------------------------------------------------------

    def getattr(self, path, fh=None):
        with self._lock:
            node = self._node(path)
        uid, gid = os.getuid(), os.getgid()
        if isinstance(node, _Dir):
            mode = stat.S_IFDIR | (0o755 if self.writable else 0o555)
            return {"st_mode": mode, "st_nlink": 2, "st_size": 0, "st_uid": uid, "st_gid": gid,
                    "st_mtime": node.mtime * 10**9, "st_ctime": node.mtime * 10**9, "st_atime": node.mtime * 10**9}
        if isinstance(node, _Upload):
            size, mtime, mode = node.written, node.mtime, 0o644
        else:
            size, mtime, mode = node.size, node.mtime, 0o444
        return {"st_mode": stat.S_IFREG | mode, "st_nlink": 1, "st_size": size, "st_uid": uid, "st_gid": gid,
                "st_blocks": -(-size // 512), "st_mtime": mtime * 10**9, "st_ctime": mtime * 10**9,
                "st_atime": mtime * 10**9}

    def readdir(self, path, fh):
        with self._lock:
            node = self._node(path)
            if not isinstance(node, _Dir):
                raise OSError(errno.ENOTDIR, path)
            return [".", ".."] + list(node.children)

    def statfs(self, path):
        total = 0
        stack = [self.root]
        with self._lock:
            while stack:
                for child in stack.pop().children.values():
                    if isinstance(child, _Dir):
                        stack.append(child)
                    elif isinstance(child, _Entry):
                        total += child.size
        return {"f_bsize": 1 << 16, "f_frsize": 1 << 16, "f_blocks": -(-total >> 16), "f_bfree": 0,
                "f_bavail": 0, "f_files": self.count, "f_namemax": 255}

    def open(self, path, fi):
        if fi.flags & os.O_ACCMODE != os.O_RDONLY or fi.flags & os.O_TRUNC:
            raise OSError(errno.EPERM if self.writable else errno.EROFS, "files are write-once")
        with self._lock:
            node = self._node(path)
        if isinstance(node, _Upload):
            raise OSError(errno.EBUSY, "the file is being written")
        if not isinstance(node, _Entry):
            raise OSError(errno.EISDIR, path)
        entry, keep = self._fresh(path, node)
        fi.keep_cache = 1 if keep else 0
        fi.fh = self._new_handle(_Handle(entry))
        return 0

    def _fresh(self, path: str, e: _Entry) -> tuple[_Entry, bool]:
        """``e`` or, if the stored container changed, a reopened entry, counted as opened once
        more; and whether the kernel may keep the pages it has (same container id and size)."""
        if is_url(e.src):
            unchanged = not e.stale
        else:
            try:
                st = os.stat(e.src)
            except OSError as err:
                raise OSError(errno.EIO, f"{e.src}: {err}") from None
            unchanged = (st.st_ino, st.st_size, st.st_mtime_ns) == e.state and not e.stale
        if unchanged:
            with self._lock:
                if not e.retired:
                    e.opens += 1
                    return e, True
        try:
            new = self._open_entry(e.src)
        except (QeltrixError, OSError, ValueError) as err:
            self._log.warning("%s changed and cannot be opened again: %s", self._show(e.src), err)
            raise OSError(errno.EIO, str(err)) from None
        same = new.ident == e.ident
        if not same:
            self._log.info("%s changed (another container or size): reopened", self._show(e.src))
        with self._lock:
            parent, name = self._parent(path)
            current = parent.children.get(name)
            if current is e:
                parent.children[name] = new
                self._retire(e)
            else:  # another open replaced it first
                new.container.close()
                if not isinstance(current, _Entry):
                    raise OSError(errno.ENOENT, path)
                new, same = current, False
            new.opens += 1
        return new, same

    def _retire(self, e: _Entry) -> None:
        """(under the lock) ``e`` left the tree: close it now, or when its last handle goes."""
        e.retired = True
        if e.opens:
            self._retired.append(e)
        else:
            e.container.close()

    def _new_handle(self, h: _Handle) -> int:
        with self._lock:
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = h
            return fh

    def _handle(self, fi) -> _Handle:
        h = self._handles.get(fi.fh)
        if h is None:
            raise OSError(errno.EBADF, "no such handle")
        return h

    def read(self, path, size, offset, fi):
        h = self._handle(fi)
        e = h.entry
        if e is None:
            raise OSError(errno.EBADF, "opened for writing")
        if offset >= e.size or size <= 0:
            return b""
        c = e.container
        length = min(size, e.size - offset)
        end = offset + length
        first, last = c.index.span(offset, length)
        sequential = offset == h.last_end
        h.last_end = end
        if last - first > 1:  # several blocks missing: fetched together (one ranged request
            # for adjacent remote blocks) and hashed side by side; errors are reported below
            missing = [(e.key, i) for i in range(first, last) if not self._cache.has((e.key, i))]
            if len(missing) > 1:
                pool = self._pool(c.header.block_size)
                self._cache.load_many(missing, lambda ks: c.read_blocks([i for _, i in ks], pool))
        parts = []
        for i in range(first, last):
            block = self._block(e, i)
            pe = c.index[i]
            lo = max(offset, pe.plain_offset) - pe.plain_offset
            hi = min(end, pe.plain_offset + pe.plain_size) - pe.plain_offset
            parts.append(block[lo:hi])
        if sequential and self._readahead and last < c.num_blocks:
            self._read_ahead(e, last, min(last + self._readahead, c.num_blocks))
        if len(parts) == 1:
            # The cached block itself, copied once, by mfusepy into libfuse's buffer (bytes()
            # would copy it twice). The array keeps the block's buffer referenced, so the
            # cache's pool does not reuse it meanwhile.
            return (ctypes.c_char * len(parts[0])).from_buffer(parts[0])
        return b"".join(parts)

    def _pool(self, block_size: int) -> RecyclingPool:
        with self._pools_lock:
            pool = self._pools.get(block_size)
            if pool is None:
                keep = max(4, self._cache.max_bytes // block_size // 4)
                pool = self._pools[block_size] = RecyclingPool(block_size, keep)
            return pool

    def _evicted(self, key, view) -> None:
        buf = view.obj
        pool = self._pools.get(len(buf))
        if pool is not None:
            pool.put(buf)

    def _block(self, e: _Entry, i: int):
        c = e.container
        try:
            return self._cache.get_or_load((e.key, i), lambda: c.read_block(i, self._pool(c.header.block_size)))
        except QeltrixError as err:  # DamagedError, or another reason this block cannot be read
            if (e.key, i) not in self._damaged:
                self._damaged.add((e.key, i))
                what = "is damaged" if isinstance(err, DamagedError) else "cannot be read"
                self._log.error("%s: block %d %s: %s", self._show(e.src), i, what, err)
            raise OSError(errno.EIO, str(err)) from None
        except OSError as err:
            from .errors import RemoteChangedError

            if isinstance(err, RemoteChangedError):
                e.stale = True
            self._log.error("%s: block %d: %s", self._show(e.src), i, err)
            raise OSError(errno.EIO, str(err)) from None

    def _read_ahead(self, e: _Entry, first: int, last: int) -> None:
        c = e.container
        group = min(group_size(c.header.block_size), self._readahead)
        missing = [i for i in range(first, last) if not self._cache.has((e.key, i))]
        if not missing or (len(missing) < group and last < c.num_blocks):
            return
        with self._lock:
            if self._closed:
                return
            if self._ahead is None:
                self._ahead = ThreadPoolExecutor(self._workers, thread_name_prefix="qeltrix-mount-ahead")
            usable = len(missing) if last >= c.num_blocks else len(missing) - len(missing) % group
            pool = self._pool(c.header.block_size)
            for k in range(0, usable, group):
                keys = [(e.key, i) for i in missing[k:k + group]]
                self._ahead.submit(self._cache.load_many, keys,
                                   lambda ks: c.read_blocks([i for _, i in ks], pool))

    def release(self, path, fi):
        with self._lock:
            h = self._handles.pop(fi.fh, None)
            e = h.entry if h is not None else None
            if e is not None:
                e.opens -= 1
                if e.retired and not e.opens and e in self._retired:
                    self._retired.remove(e)
                    e.container.close()
        if h is not None and h.upload is not None:
            self._finish(path, h.upload)
        return 0

    def flush(self, path, fi):
        h = self._handles.get(fi.fh)
        if h is not None and h.upload is not None:
            self._finish(path, h.upload)
        return 0

    # -- write-once -----------------------------------------------------------------------------

    def create(self, path, mode, fi):
        if not self.writable:
            raise OSError(errno.EROFS, "read-only mount")
        with self._lock:
            parent, name = self._parent(path)
            if name in parent.children:
                raise OSError(errno.EEXIST if fi.flags & os.O_EXCL else errno.EPERM, "files are write-once")
            if _is_partial(name) or not name:
                raise OSError(errno.EPERM, "this name is reserved for unfinished outputs")
            dst = self._destination(parent, name)
            up = _Upload(dst, name, self._pack_args)
            parent.children[name] = up
        fi.fh = self._new_handle(_Handle(upload=up))
        return 0

    def _destination(self, parent: _Dir, name: str) -> str:
        """Where the new container of ``name`` goes in the source folder: ``<name>.qltx``, or
        ``<name>.N.qltx`` when that is taken."""
        k = 0
        while True:
            fn = name + (f".{k}" if k else "") + SUFFIX
            if is_url(parent.where):
                dst = parent.where.rstrip("/") + "/" + fn
                taken = self._fs.exists(dst)
            else:
                dst = os.path.join(parent.where, fn)
                taken = os.path.lexists(dst)
            if not taken:
                return dst
            k += 1

    def write(self, path, data, offset, fi):
        h = self._handle(fi)
        if h.upload is None:
            raise OSError(errno.EPERM if self.writable else errno.EROFS, "files are write-once")
        return h.upload.write(data, offset)

    def _finish(self, path: str, up: _Upload) -> None:
        first = not up.done
        up.finish()
        if not first:
            if up.error is not None:
                raise OSError(errno.EIO, f"packing failed: {up.error}")
            return
        with self._lock:
            parent, name = self._parent(path)
            if parent.children.get(name) is up:
                del parent.children[name]
        if up.error is not None:
            self._log.error("%s: packing failed: %s", path, up.error)
            raise OSError(errno.EIO, f"packing failed: {up.error}")
        try:
            e = self._open_entry(up.dst)
        except (QeltrixError, OSError, ValueError) as err:
            self._log.error("%s: the new container cannot be opened: %s", self._show(up.dst), err)
            raise OSError(errno.EIO, str(err)) from None
        with self._lock:
            parent, name = self._parent(path)
            if name not in parent.children:
                parent.children[name] = e
                self.count += 1
            else:
                e.container.close()
        self._log.info("packed %s into %s", path, self._show(up.dst))

    def truncate(self, path, length, fh=None):
        with self._lock:
            node = self._node(path)
        if isinstance(node, _Upload) and length == node.written:
            return 0
        raise OSError(errno.EPERM if self.writable else errno.EROFS, "files are write-once")

    def utimens(self, path, times=None):
        with self._lock:
            node = self._node(path)
        if isinstance(node, _Upload):
            return 0
        raise OSError(errno.EPERM if self.writable else errno.EROFS, "files are write-once")

    def _refuse(self, *args, **kwargs):
        raise OSError(errno.EPERM if self.writable else errno.EROFS, "files are write-once")

    unlink = rmdir = mkdir = rename = chmod = chown = symlink = link = mknod = _refuse

    # -- life ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Abort unfinished writes (nothing partial is committed), close every container."""
        with self._lock:
            self._closed = True
            ahead, self._ahead = self._ahead, None
            uploads = []
            stack = [self.root]
            while stack:
                for child in stack.pop().children.values():
                    if isinstance(child, _Dir):
                        stack.append(child)
                    elif isinstance(child, _Upload):
                        uploads.append(child)
        for up in uploads:
            up.finish(abort=True)
            self._log.warning("%s: unmounted while being written: not stored", up.name)
        if ahead is not None:
            ahead.shutdown(wait=True, cancel_futures=True)
        stack = [self.root]
        while stack:
            for child in stack.pop().children.values():
                if isinstance(child, _Dir):
                    stack.append(child)
                elif isinstance(child, _Entry):
                    child.container.close()
        for e in self._retired:
            e.container.close()

    def run(self, mountpoint: str, *, allow_other: bool = False, on_ready=None, debug: bool = False,
            readahead_kib: int = 1024) -> None:
        """Mount at ``mountpoint`` and serve until unmounted (``fusermount3 -u``, SIGINT,
        SIGTERM). ``on_ready()`` is called once the kernel talks to us. ``readahead_kib``: the
        kernel's read-ahead for this mount (0: its default). Closes this Mount."""
        fuse = _binding()
        if not os.path.isdir(mountpoint):
            raise FileNotFoundError(f"{mountpoint}: the mount point must be an existing folder")
        ops = _Operations(self, on_ready, mountpoint, readahead_kib)
        options = {"foreground": True, "nothreads": False, "fsname": "qeltrix", "subtype": "qeltrix",
                   "ro": not self.writable, "debug": debug}
        if getattr(fuse, "fuse_version_major", 3) == 3:
            options["max_idle_threads"] = 10  # else libfuse 3.14 logs a bogus error about its default
        if allow_other:
            options["allow_other"] = True
        try:
            fuse.FUSE(ops, mountpoint, raw_fi=True, **options)
        except RuntimeError as e:
            # libfuse returns non-zero when a signal (SIGINT, SIGTERM, SIGHUP) ended the loop: it
            # has unmounted; that is the normal end of a mount that was up.
            if not ops.ready:
                raise OSError(errno.EIO, f"{mountpoint}: cannot mount (libfuse error {e})") from None
        finally:
            self.close()


def _tune_readahead(mountpoint: str, kib: int) -> None:
    """Let the kernel read ahead ``kib`` KiB (its default for FUSE is 128): a sequential reader
    then gets 1 MiB requests, a whole block each, not eight calls per block (about 1.5x the
    throughput). Needs root (the mount's sysfs knob); quietly left as it is otherwise."""
    try:
        dev = os.stat(mountpoint).st_dev  # here, not in init: the kernel waits for init's reply
        with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb", "w") as f:
            f.write(str(kib))
    except OSError as e:
        log.debug("read-ahead left at the kernel's default: %s", e)


class _Operations:
    """What mfusepy sees: the Mount's operations, plus init (ready)."""

    use_ns = True

    def __init__(self, m: Mount, on_ready, mountpoint: str, readahead_kib: int):
        self._m = m
        self._on_ready = on_ready
        self._mountpoint = mountpoint
        self._readahead_kib = readahead_kib
        self.ready = False
        for name in ("getattr", "readdir", "statfs", "open", "read", "release", "flush", "create", "write",
                     "truncate", "utimens", "unlink", "rmdir", "mkdir", "rename", "chmod", "chown",
                     "symlink", "link", "mknod"):
            setattr(self, name, getattr(m, name))

    def init_with_config(self, conn, config):
        if config is not None:
            config.attr_timeout = 1.0
            config.entry_timeout = 1.0
        self.ready = True
        if self._readahead_kib:
            threading.Thread(target=_tune_readahead, args=(self._mountpoint, self._readahead_kib),
                             name="qeltrix-mount-tune", daemon=True).start()
        if self._on_ready is not None:
            self._on_ready()

    def destroy(self, path):
        pass


def mount(source: str, mountpoint: str, master_key=None, *, passphrase=None, identities=None,
          read_only: bool = False, allow_other: bool = False, on_ready=None, **options) -> None:
    """Open ``source`` (header, key and footer of every container checked first: a wrong key
    raises :class:`~qeltrix.errors.WrongKeyError` before anything is mounted) and serve it at
    ``mountpoint`` until unmounted."""
    _binding()  # fail before opening anything when FUSE is missing
    if not os.path.isdir(mountpoint):
        raise FileNotFoundError(f"{mountpoint}: the mount point must be an existing folder")
    m = Mount(source, master_key, passphrase=passphrase, identities=identities, read_only=read_only, **options)
    m.run(mountpoint, allow_other=allow_other, on_ready=on_ready)


def unmount(mountpoint: str, lazy: bool = False) -> None:
    """Unmount a FUSE mount (``fusermount3 -u``; ``lazy``: ``-z``, even while files are open)."""
    import shutil
    import subprocess

    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    cmd = [tool, "-u"] + (["-z"] if lazy else []) + [mountpoint] if tool else \
        ["umount"] + (["-l"] if lazy else []) + [mountpoint]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip().splitlines()
        raise OSError(errno.EIO, msg[-1] if msg else f"{' '.join(cmd)} failed")
