"""``qltx::`` — containers as an fsspec filesystem, chained over any other (s3, gs, http, file,
memory), so that pandas, pyarrow and Dask read and write encrypted data by URL::

    pandas.read_parquet("qltx::s3://bucket/x.parquet.qltx", columns=["a"],
                        storage_options={"qltx": {"key": "env:QELTRIX_KEY"}, "s3": {...}})

Paths name the stored objects exactly (the ``.qltx`` suffix is kept when it is there and never
added or removed); what ``info``/``ls`` report and what ``open`` reads is the plaintext.

Keys never travel: the filesystem holds a *key provider* (``key="env:VAR"``, ``key="file:/path"``,
``passphrase="env:VAR"``/``"file:/path"``, ``identity="file:/path"`` for an age identity file, or
``"name:NAME"`` for a callable registered with :func:`register_key_provider`), resolved in the
process that opens a file — a Dask worker resolves it itself. Pickling the filesystem or its
JSON form carries only the provider's description. Raw key bytes may be given in-process for
convenience (``key=b"..."``); they are dropped, with a warning, when the filesystem is pickled.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import threading
import time
import warnings
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor

import fsspec
from fsspec.spec import AbstractBufferedFile

try:  # fsspec >= 2025.10 marks filesystems layered over another with this base
    from fsspec.implementations.chained import ChainedFileSystem
except ImportError:  # pragma: no cover - older fsspec: the same behaviour without the marker
    from fsspec import AbstractFileSystem as ChainedFileSystem

# What this module takes from the rest of qeltrix, in one place (the sources move into a
# package: only these lines change).
from .errors import NotAContainerError, TruncatedError
from .fileobj import ContainerFile
from .pipeline import BufferPool, cpu_threads, grouped, ordered_map, plan
from .reader import Container, make_secrets
from .sources import AtomicOutput
from .sources.remote import HEAD_BYTES, TAIL_BYTES, RemoteAccess
from .fileinfo import check_plain_name
from .writer import DEFAULT_BLOCK_SIZE, Sealer
from .crypto import CIPHER_AES256_GCM, KEY_SIZE, load_key_file

__all__ = ["QltxFileSystem", "KeyProvider", "register_key_provider", "KeyProviderError"]


# -- key providers -------------------------------------------------------------------------------

class KeyProviderError(ValueError):
    """A key provider that cannot be resolved (missing variable, unreadable file, unknown name)."""


_REGISTRY: dict[str, object] = {}
_REGISTRY_LOCK = threading.Lock()


def register_key_provider(name: str, fn) -> None:
    """Register ``fn`` under ``name`` for ``key="name:NAME"`` (and passphrase/identity). ``fn()``
    returns a dict with any of ``master_key`` (32 bytes), ``passphrase`` and ``identities``.
    Register it in every process that resolves it (on Dask workers: in a module they import, or
    with ``client.run(register_key_provider, name, fn)``)."""
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError("a key provider name is a non-empty string without ':'")
    if not callable(fn):
        raise TypeError("a key provider is a callable")
    with _REGISTRY_LOCK:
        _REGISTRY[name] = fn


def _scheme(spec, what: str) -> tuple[str, str]:
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"{what} must be 'env:VAR', 'file:/path' or 'name:NAME'")
    scheme, _, rest = spec.partition(":")
    if scheme not in ("env", "file", "name") or not rest:
        raise ValueError(f"{what} must be 'env:VAR', 'file:/path' or 'name:NAME', not {scheme!r}:...")
    return scheme, rest


def _decode_key_text(text: str, where: str) -> bytes:
    """A 32-byte key written as 64 hex digits or base64."""
    text = text.strip()
    try:
        if len(text) == 2 * KEY_SIZE:
            return bytes.fromhex(text)
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise KeyProviderError(f"{where}: not a 32-byte key in hex or base64") from None
    if len(raw) != KEY_SIZE:
        raise KeyProviderError(f"{where}: not a 32-byte key in hex or base64")
    return raw


class KeyProvider:
    """Where the keys come from, not the keys: resolved by :meth:`resolve` in the process that
    needs them. ``key``: ``env:VAR`` (64 hex digits or base64), ``file:/path`` (32 raw bytes, as
    ``qeltrix keygen`` writes) or raw bytes (in-process only); ``passphrase``: ``env:VAR`` or
    ``file:/path`` (first line); ``identity``: ``file:/path`` (an age identity file) or
    ``env:VAR`` (its text); any of them ``name:NAME`` (:func:`register_key_provider`)."""

    def __init__(self, key=None, passphrase=None, identity=None):
        if isinstance(key, (bytes, bytearray, memoryview)):
            raw = bytes(key)
            if len(raw) != KEY_SIZE:
                raise ValueError(f"a raw key is {KEY_SIZE} bytes")
            self._raw_key = raw
            key = None
        else:
            self._raw_key = None
            if key is not None:
                _scheme(key, "key")
        if passphrase is not None:
            _scheme(passphrase, "passphrase")
        if identity is not None:
            _scheme(identity, "identity")
        self.key, self.passphrase, self.identity = key, passphrase, identity

    @property
    def has_raw_key(self) -> bool:
        return self._raw_key is not None

    def spec(self) -> dict:
        """The provider's description (no secret): what pickles and JSON carry."""
        return {k: v for k, v in (("key", self.key), ("passphrase", self.passphrase),
                                  ("identity", self.identity)) if v is not None}

    def __repr__(self) -> str:
        raw = ", key=<raw bytes>" if self._raw_key is not None else ""
        return f"KeyProvider({', '.join(f'{k}={v!r}' for k, v in self.spec().items())}{raw})"

    def __reduce__(self):
        if self._raw_key is not None:
            _warn_raw()
        return _rebuild_provider, (self.spec(),)

    def __eq__(self, other):
        return isinstance(other, KeyProvider) and self.spec() == other.spec() and \
            self._raw_key == other._raw_key

    def __hash__(self):
        return hash(tuple(sorted(self.spec().items())))

    def resolve(self) -> dict:
        """``{"master_key"?, "passphrase"?, "identities"?}``, read now, in this process."""
        out: dict = {}
        if self._raw_key is not None:
            out["master_key"] = self._raw_key
        if self.key is not None:
            out.update(self._one(self.key, "key"))
        if self.passphrase is not None:
            out.update(self._one(self.passphrase, "passphrase"))
        if self.identity is not None:
            out.update(self._one(self.identity, "identity"))
        if not out:
            raise KeyProviderError("qltx has no key: give key='env:VAR' or 'file:/path', passphrase=..., "
                                   "identity='file:/path' or 'name:NAME' (raw key bytes are not carried to "
                                   "other processes)")
        return out

    def secrets(self):
        """The resolved keys as a reader holds them (``reader.make_secrets``)."""
        r = self.resolve()
        return make_secrets(r.get("master_key"), r.get("passphrase"), r.get("identities"))

    @staticmethod
    def _one(spec: str, what: str) -> dict:
        scheme, rest = _scheme(spec, what)
        if scheme == "name":
            with _REGISTRY_LOCK:
                fn = _REGISTRY.get(rest)
            if fn is None:
                raise KeyProviderError(f"no key provider registered as {rest!r} in this process "
                                       f"(qeltrix.qltxfs.register_key_provider)")
            got = fn()
            if not isinstance(got, dict) or not set(got) <= {"master_key", "passphrase", "identities"}:
                raise KeyProviderError(f"key provider {rest!r} must return a dict of master_key, "
                                       f"passphrase and/or identities")
            return got
        if scheme == "env":
            text = os.environ.get(rest)
            if not text:
                raise KeyProviderError(f"{what}: environment variable {rest} is not set")
            if what == "key":
                return {"master_key": _decode_key_text(text, f"${rest}")}
            if what == "passphrase":
                return {"passphrase": text}
            from .recipients import load_identities

            return {"identities": load_identities(text if "\n" in text else text + "\n", source=f"${rest}")}
        try:  # file:
            if what == "key":
                return {"master_key": load_key_file(rest)}
            if what == "passphrase":
                with open(rest, "rb") as f:
                    line = f.readline().rstrip(b"\r\n")
                if not line:
                    raise KeyProviderError(f"{rest}: empty passphrase")
                try:
                    return {"passphrase": line.decode("utf-8")}
                except UnicodeDecodeError:
                    return {"passphrase": line}
            from .recipients import load_identities

            return {"identities": load_identities(rest)}
        except OSError as e:
            raise KeyProviderError(f"{what} file {rest}: {e.strerror or e}") from None


def _rebuild_provider(spec: dict) -> KeyProvider:
    p = KeyProvider.__new__(KeyProvider)
    p._raw_key = None
    p.key, p.passphrase, p.identity = spec.get("key"), spec.get("passphrase"), spec.get("identity")
    return p


def _warn_raw() -> None:
    warnings.warn("a qltx key provider holding raw key bytes was pickled: the key is left out (keys "
                  "never travel); the copy needs key='env:VAR' or 'file:/path' to open files",
                  UserWarning, stacklevel=3)


# -- the filesystem ------------------------------------------------------------------------------

_SECRET_OPTIONS = ("key", "passphrase", "identity")
#: Containers whose plaintext size ``info``/``ls`` remember (keyed by path and version tag).
SIZE_CACHE = 4096
#: Plaintext that read-ahead may hold past what a sequential reader has read (decrypted, or
#: being fetched and decrypted), by default (the ``readahead_bytes`` option; at least two runs).
READAHEAD_BYTES = 16 << 20
#: Read-ahead fetches runs of adjacent blocks of about this size (at most half the read-ahead),
#: one request each, and decrypts each run as one group (its blocks hashed side by side). 8 MiB:
#: requests cost s3fs much CPU each (4 MiB runs cost 40% more client CPU on moto's S3, no gain
#: over nginx), and 8-16 MiB is what S3's guidance suggests for ranged GETs.
RUN_BYTES = 8 << 20


def _tag(info: dict):
    for k in ("ETag", "etag", "md5Hash", "generation", "VersionId", "mtime", "LastModified", "created"):
        if info.get(k):
            return str(info[k]), info.get("size")
    return None, info.get("size")


class QltxFileSystem(ChainedFileSystem):
    """Containers on a target filesystem, seen as their plaintext.

    ``fsspec.filesystem("qltx", target_protocol="s3", target_options={...}, key="env:K")``, or
    through a chained URL (``qltx::s3://...`` with ``qltx={...}`` options). Options: ``key``,
    ``passphrase``, ``identity`` (providers, see :class:`KeyProvider`); for writing,
    ``recipients`` (age ``age1...`` strings), ``block_size``, ``cipher_id``; ``workers``
    (threads that fetch and decrypt a large read); ``cache_blocks`` (decrypted blocks an open
    file keeps for random reads); ``readahead_bytes`` (plaintext a file read front to back may
    hold ahead of the reader, READAHEAD_BYTES by default; 0: no read-ahead).
    """

    protocol = "qltx"
    root_marker = ""
    cachable = True

    def __init__(self, target_protocol=None, target_options=None, fs=None, fo=None, *, key=None, passphrase=None,
                 identity=None, recipients=(), block_size: int = DEFAULT_BLOCK_SIZE,
                 cipher_id: int = CIPHER_AES256_GCM, workers: int = 4, cache_blocks: int = 8,
                 readahead_bytes: int = READAHEAD_BYTES, **kwargs):
        super().__init__(**kwargs)
        if fs is None:
            fs = fsspec.filesystem(target_protocol or "file", **(target_options or {}))
        elif target_protocol is not None:
            raise ValueError("give fs or target_protocol, not both")
        self.fs = fs
        self.provider = KeyProvider(key, passphrase, identity)
        self.recipients = tuple(recipients or ())
        self.block_size = block_size
        self.cipher_id = cipher_id
        self.workers = workers
        self.cache_blocks = cache_blocks
        if readahead_bytes < 0:
            raise ValueError("readahead_bytes must not be negative")
        self.readahead_bytes = readahead_bytes
        self._sizes: OrderedDict = OrderedDict()
        self._sizes_lock = threading.Lock()

    # -- serialization: the provider's description, never a key ------------------------------

    def _public_options(self) -> dict:
        opts = {k: v for k, v in self.storage_options.items()
                if k not in _SECRET_OPTIONS and k not in ("fs", "target_protocol", "target_options", "fo")}
        opts.update(self.provider.spec())
        return opts

    def __reduce__(self):
        if self.provider.has_raw_key:
            _warn_raw()
        return _rebuild_fs, (self.fs, self._public_options())

    def to_dict(self, *, include_password: bool = True) -> dict:
        from fsspec.json import FilesystemJSONEncoder

        enc = FilesystemJSONEncoder()
        if self.provider.has_raw_key:
            _warn_raw()
        return dict(cls=f"{type(self).__module__}:{type(self).__name__}", protocol=self.protocol,
                    args=[], fs=enc.make_serializable(self.fs), **enc.make_serializable(self._public_options()))

    # -- paths ----------------------------------------------------------------------------------

    def _target(self, path) -> str:
        if isinstance(path, (list, tuple)):
            return [self._target(p) for p in path]
        return self.fs._strip_protocol(self._strip_protocol(path))

    def _url(self, path: str) -> str:
        return self.fs.unstrip_protocol(path)

    def unstrip_protocol(self, name: str) -> str:
        return f"qltx::{self.fs.unstrip_protocol(self._target(name))}"

    # -- opening containers ---------------------------------------------------------------------

    def open_container(self, path, info: dict | None = None) -> Container:
        """The container at ``path`` (target form), header, key and footer checked."""
        path = self._target(path)
        ra = _TargetAccess(self.fs, path, info, self.workers)
        try:
            return Container(ra, **self.provider.resolve())
        except BaseException:
            ra.close()
            raise

    def _plain_size(self, entry: dict):
        """The plaintext size of a file entry of the target (None: not a container)."""
        name = entry["name"]
        tag = _tag(entry)
        with self._sizes_lock:
            hit = self._sizes.get(name)
            if hit is not None and hit[0] == tag and tag[0] is not None:
                self._sizes.move_to_end(name)
                return hit[1]
        try:
            with self.open_container(name, entry) as c:
                size = c.size
        except NotAContainerError:
            size = None
        with self._sizes_lock:
            self._sizes[name] = (tag, size)
            while len(self._sizes) > SIZE_CACHE:
                self._sizes.popitem(last=False)
        return size

    def _plain_entry(self, entry: dict):
        if entry.get("type") != "file":
            return entry
        size = self._plain_size(entry)
        if size is None:
            return None
        out = dict(entry)
        out["stored_size"] = entry.get("size")
        out["size"] = size
        return out

    # -- listing --------------------------------------------------------------------------------

    def info(self, path, **kwargs):
        path = self._target(path)
        entry = self.fs.info(path, **kwargs)
        out = self._plain_entry(entry)
        if out is None:
            raise FileNotFoundError(f"{path}: not a qeltrix container")
        return out

    def ls(self, path, detail=True, **kwargs):
        entries = self.fs.ls(self._target(path), detail=True, **kwargs)
        files = [e for e in entries if e.get("type") == "file"]
        if len(files) > 1:
            with ThreadPoolExecutor(min(8, len(files)), thread_name_prefix="qltx-ls") as pool:
                plain = dict(zip((e["name"] for e in files), pool.map(self._plain_entry, files)))
        else:
            plain = {e["name"]: self._plain_entry(e) for e in files}
        out = [plain[e["name"]] if e.get("type") == "file" else e for e in entries]
        out = [e for e in out if e is not None]  # objects that are not containers are not listed
        return out if detail else [e["name"] for e in out]

    def exists(self, path, **kwargs):
        return self.fs.exists(self._target(path), **kwargs)

    def isdir(self, path):
        return self.fs.isdir(self._target(path))

    def mkdir(self, path, create_parents=True, **kwargs):
        return self.fs.mkdir(self._target(path), create_parents=create_parents, **kwargs)

    def makedirs(self, path, exist_ok=False):
        return self.fs.makedirs(self._target(path), exist_ok=exist_ok)

    def rmdir(self, path):
        return self.fs.rmdir(self._target(path))

    def rm_file(self, path):
        self._forget(path)
        return self.fs.rm_file(self._target(path))

    def rm(self, path, recursive=False, maxdepth=None):
        self._forget(path)
        return self.fs.rm(self._target(path), recursive=recursive, maxdepth=maxdepth)

    def cp_file(self, path1, path2, **kwargs):
        return self.fs.cp_file(self._target(path1), self._target(path2), **kwargs)

    def invalidate_cache(self, path=None):
        if path is not None:
            self._forget(path)
        return self.fs.invalidate_cache(None if path is None else self._target(path))

    def _forget(self, path) -> None:
        with self._sizes_lock:
            for p in path if isinstance(path, list) else [path]:
                self._sizes.pop(self._target(p), None)

    def created(self, path):
        return self.fs.created(self._target(path))

    def modified(self, path):
        return self.fs.modified(self._target(path))

    # -- reading --------------------------------------------------------------------------------

    def cat_file(self, path, start=None, end=None, **kwargs):
        with self.open_container(path) as c:
            s, e = _bounds(start, end, c.size)
            return _ranges(c, [(s, e)], self.workers)[0]

    def cat_ranges(self, paths, starts, ends, max_gap=None, on_error="return", **kwargs):
        """Many ranges, each container opened once and each of its blocks fetched and decrypted
        once (adjacent blocks in one request)."""
        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        n = len(paths)
        starts = starts if isinstance(starts, list) else [starts] * n
        ends = ends if isinstance(ends, list) else [ends] * n
        if len(starts) != n or len(ends) != n:
            raise ValueError("paths, starts and ends must have the same length")
        out: list = [None] * n
        by_path: dict = {}
        for j, p in enumerate(paths):
            by_path.setdefault(self._target(p), []).append(j)
        for p, js in by_path.items():
            try:
                with self.open_container(p) as c:
                    spans = [_bounds(starts[j], ends[j], c.size) for j in js]
                    for j, data in zip(js, _ranges(c, spans, self.workers)):
                        out[j] = data
            except Exception as e:
                if on_error != "return":
                    raise
                for j in js:
                    out[j] = e
        return out

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        path = self._target(path)
        if mode == "rb":
            return QltxReadFile(self, path, **kwargs)
        if mode in ("wb", "xb"):
            if mode == "xb" and self.fs.exists(path):
                raise FileExistsError(path)
            return QltxWriteFile(self, path, autocommit=autocommit)
        raise ValueError(f"qltx files open as 'rb' or 'wb', not {mode!r}")


class _TargetAccess(RemoteAccess):
    """Random access to an object of the target filesystem (the instance the qltx filesystem
    holds): the tail and head fetched at open, then byte ranges through ``cat_file``."""

    def __init__(self, fs, path: str, info: dict | None, workers: int):
        super().__init__(fs.unstrip_protocol(path), workers)
        self.fs, self.path = fs, path
        if info is None or info.get("size") is None:
            info = fs.info(path)
        if info.get("type") == "directory":
            raise IsADirectoryError(f"{self.name}: is a directory")
        self.size = int(info["size"])
        try:
            tail = min(self.size, TAIL_BYTES)
            if tail:
                self._cache(self.size - tail, self._fetch(self.size - tail, tail))
            if self.size > tail:
                self._cache(0, self._fetch(0, min(HEAD_BYTES, self.size - tail)))
        except BaseException:
            self.close()
            raise

    def fetch(self, offset: int, n: int) -> bytes:
        """Bytes [offset, offset + n) in one request, as the target returns them (not copied)."""
        if self.closed:
            raise ValueError(f"{self.name}: read from a closed source")
        data = self.fs.cat_file(self.path, start=offset, end=offset + n)
        if len(data) != n:
            raise TruncatedError(f"{self.name}: short read at offset {offset} (the object changed?)")
        return data

    def _read_into(self, offset: int, view: memoryview) -> None:
        view[:] = self.fetch(offset, len(view))


class _TargetOutput:
    """A container written to the target, front to back: to a temporary file renamed at the end
    (local), or without autocommit where the backend allows it (S3: a multipart upload completed
    on commit, aborted on abort); elsewhere a partial object is removed on abort."""

    def __init__(self, fs, path: str):
        self.fs, self.path = fs, path
        self._local = None
        self._f = None
        if "file" in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol):
            self._local = AtomicOutput(path, shown=path)
            return
        self._existed = fs.exists(path)
        try:
            self._f = fs.open(path, "wb", autocommit=False)
            self._autocommit = False
        except (NotImplementedError, TypeError, ValueError):
            self._f = fs.open(path, "wb")
            self._autocommit = True

    def write(self, data) -> None:
        (self._local or self._f).write(data)

    def commit(self) -> None:
        if self._local is not None:
            self._local.commit()
            return
        self._f.close()
        if not self._autocommit:
            self._f.commit()

    def abort(self) -> None:
        if self._local is not None:
            self._local.abort()
            return
        try:
            if not self._autocommit:
                self._f.discard()
            else:
                self._f.close()
        finally:
            try:
                self._f.closed = True  # discarded: nothing left to flush
            except AttributeError:  # a BytesIO-based file (memory://)
                pass
            try:
                # some backends (memory://) show the object from the start: remove a partial one
                if not self._existed and self.fs.exists(self.path):
                    self.fs.rm(self.path)
            except OSError:
                pass


def _rebuild_fs(target, options: dict) -> QltxFileSystem:
    return QltxFileSystem(fs=target, **options)


def _bounds(start, end, size: int) -> tuple[int, int]:
    start = 0 if start is None else (max(0, size + start) if start < 0 else min(start, size))
    end = size if end is None else (max(0, size + end) if end < 0 else min(end, size))
    return start, max(start, end)


def _ranges(c: Container, spans, workers: int = 1) -> list[bytes]:
    """The plaintext of each (start, end) of ``spans``: each block needed fetched once, runs of
    adjacent blocks in one request, decrypted once (in groups, by ``workers`` threads)."""
    index = c.index
    wanted = sorted({i for s, e in spans if e > s for i in range(*index.span(s, e - s))})
    plain: dict[int, bytes] = {}
    k = 0
    while k < len(wanted):
        j = k
        while j + 1 < len(wanted) and wanted[j + 1] == wanted[j] + 1:
            j += 1
        plain.update(_open_run(c, wanted[k], wanted[j] + 1, workers))
        k = j + 1
    out = []
    for s, e in spans:
        if e <= s:
            out.append(b"")
            continue
        first, last = index.span(s, e - s)
        parts = []
        for i in range(first, last):
            ent = index[i]
            lo, hi = max(s, ent.plain_offset) - ent.plain_offset, min(e, ent.plain_offset + ent.plain_size) - ent.plain_offset
            parts.append(memoryview(plain[i])[lo:hi])
        out.append(b"".join(parts))
    return out


class _Run:
    __slots__ = ("first", "stop", "future", "failed")

    def __init__(self, first: int, stop: int, future):
        self.first, self.stop, self.future, self.failed = first, stop, future, False


class _ReadAhead:
    """Blocks fetched and decrypted ahead of a reader going front to back, by a small thread pool.

    Runs of adjacent blocks (one request each, decrypted as one group) are handed to the pool in
    file order, never past ``limit``; at most ``max_runs`` runs are held (in flight, or decrypted
    and not read through yet). Ahead of the run being read, the window starts at one run and
    doubles with each run read through, so that a short stretch of sequential reads costs little.

    A run that fails (a damaged block, an I/O error) raises nothing here: ``take`` answers None
    for its blocks and the reader reads each of them again itself, one by one, so an error comes
    at the read that reaches the block it concerns, and never earlier. Every block a run returns
    was authenticated (``Container.open_group``) before ``take`` hands it out."""

    def __init__(self, container: Container, fetch, first: int, limit: int, threads: int, run_blocks: int,
                 max_runs: int):
        self._c = container
        self._fetch = fetch  # (offset, n) -> bytes, exactly n
        bs = container.header.block_size
        self.run_blocks, self.max_runs = run_blocks, max_runs
        self._window = 1
        self.next = first  # the next block to hand to the pool
        self.limit = limit  # blocks before this one may be read ahead
        self._runs: deque = deque()
        self._spent: list = []  # runs read through, their buffers not reused yet (see reclaim)
        self._bufs = BufferPool(bs, keep=(self.max_runs + 1) * self.run_blocks)
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(threads, self.max_runs)),
                                        thread_name_prefix="qltx-readahead")

    def holds(self, i: int) -> bool:
        """Block ``i`` is held or handed to the pool, or is the next one to hand."""
        first = self._runs[0].first if self._runs else self.next
        return first <= i <= self.next and i < len(self._c.index)

    def take(self, i: int, need: int):
        """Block ``i``'s plaintext (a memoryview), or None when its run failed; ``need``: the
        block the caller's read ends before (runs up to it are handed out at once, within
        ``max_runs``). Runs before block ``i`` are dropped."""
        runs = self._runs
        while runs and runs[0].stop <= i:
            self._drop(runs.popleft(), read_through=True)
        if not runs and self.next < i:
            self.next = i
        self._top_up(need)
        run = runs[0]  # holds block i: the caller asked holds(i) and set the limit past it
        if run.failed:
            return None
        try:
            outs = run.future.result()
        except Exception:
            run.failed = True
            return None
        return outs[i - run.first][1]

    def _top_up(self, need: int) -> None:
        runs = self._runs
        n = len(self._c.index)
        while self.next < min(self.limit, n) and len(runs) < self.max_runs and \
                (len(runs) <= self._window or self.next < need):
            first = self.next
            stop = min(first + self.run_blocks, self.limit, n)
            runs.append(_Run(first, stop, self._pool.submit(self._job, first, stop)))
            self.next = stop

    def _job(self, first: int, stop: int) -> list:
        c = self._c
        index = c.index
        start = index[first].block_offset
        last = index[stop - 1]
        data = memoryview(self._fetch(start, last.block_offset + last.block_size - start))
        items, outs = [], []
        for k in range(first, stop):
            e = index[k]
            buf = self._bufs.get()
            out = memoryview(buf)[:e.plain_size]
            outs.append((buf, out))
            o = e.block_offset - start
            items.append((k, data[o:o + e.block_size], out))
        c.open_group(items)
        return outs

    def _drop(self, run: _Run, read_through: bool = False) -> None:
        if read_through:
            self._window = min(2 * self._window, self.max_runs)
        if run.future.cancel() or run.failed or not run.future.done():
            return  # never started, failed, or still running: its buffers are not ours to reuse
        self._spent.append(run)

    def reclaim(self) -> None:
        """Reuse the buffers of the runs read through: call it when no view of them is left (the
        read that passed them may still be copying from their last blocks until then)."""
        for run in self._spent:
            try:
                outs = run.future.result()
            except Exception:
                continue
            for buf, _ in outs:
                self._bufs.put(buf)
        self._spent.clear()

    def close(self) -> None:
        """Stop: runs not started are cancelled, running ones waited for (no thread is left)."""
        for run in self._runs:
            run.future.cancel()
        self._runs.clear()
        self._spent.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _open_run(c: Container, first: int, stop: int, workers: int):
    """(i, plaintext) of blocks [first, stop), fetched in runs (``Container.iter_stored``) and
    decrypted in groups hashed side by side, as many groups at once as ``workers`` allows."""
    lanes = plan(workers, c.header.block_size, blocks=stop - first).lanes

    def job(group):
        outs = [bytearray(c.index[i].plain_size) for i, _ in group]
        c.open_group([(i, stored, out) for (i, stored), out in zip(group, outs)])
        return [(i, out) for (i, _), out in zip(group, outs)]

    groups = grouped(c.iter_stored(first, stop), lanes)
    threads = max(1, min(cpu_threads(workers), -(-(stop - first) // lanes)))
    for results in ordered_map(job, groups, threads):
        yield from results


class QltxReadFile(AbstractBufferedFile):
    """A container's plaintext, read through fsspec's buffered-file base (its own cache off: each
    range maps to the blocks holding it, nothing is fetched twice).

    Random reads go to a :class:`~qeltrix.fileobj.ContainerFile` (a small cache of decrypted
    blocks, no read-ahead). Once a read continues where the previous one ended, or a single read
    spans several runs, blocks are fetched and decrypted ahead by ``workers`` threads while the
    caller consumes the ones before (:class:`_ReadAhead`); a read elsewhere stops it. Memory while
    reading ahead: plaintext buffers for ``readahead_bytes`` plus the run being read through
    (24 MiB by default), and the stored bytes of the runs in flight (``readahead_bytes`` at most).
    """

    def __init__(self, fs: QltxFileSystem, path: str, cache_type="none", **kwargs):
        kwargs.pop("size", None)
        c = fs.open_container(path)
        self._cf = ContainerFile(c, cache_blocks=max(1, fs.cache_blocks), readahead_blocks=1, workers=fs.workers)
        self._c = c
        self._workers = fs.workers
        bs = c.header.block_size
        #: Blocks per run, and runs read-ahead may hold (0: no read-ahead).
        self._run_blocks = max(1, min(RUN_BYTES, fs.readahead_bytes // 2) // bs)
        self._max_runs = max(2, fs.readahead_bytes // (self._run_blocks * bs)) if fs.readahead_bytes else 0
        self._ahead: _ReadAhead | None = None
        self._last_end = -1
        self._lock = threading.Lock()
        super().__init__(fs, path, "rb", block_size=c.header.block_size, cache_type=cache_type,
                         size=c.size, **kwargs)

    def _fetch_range(self, start, end):
        with self._lock:  # the views _parts returns are valid until its next call
            parts = self._parts(start, min(end, self.size))
            if len(parts) == 1:
                return bytes(parts[0])
            return b"".join(parts)

    def readinto(self, b):
        out = memoryview(b).cast("B")
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        n = 0
        with self._lock:
            for part in self._parts(self.loc, min(self.loc + out.nbytes, self.size)):
                out[n:n + len(part)] = part
                n += len(part)
        self.loc += n
        return n

    def _parts(self, start: int, end: int) -> list:
        """The plaintext of [start, end) as a list of buffers (views of decrypted blocks, valid
        until the next call: read-ahead reuses the buffers of blocks read through)."""
        if start >= end:
            return [b""]
        index = self._c.index
        first, last = index.span(start, end - start)
        sequential = start == self._last_end
        self._last_end = end
        ahead = self._ahead
        if ahead is not None:
            ahead.reclaim()  # the views the previous call returned are no longer used
        if ahead is not None and not ahead.holds(first):
            self._stop_ahead()
            ahead = None
        parts = []
        if ahead is None:
            if not self._max_runs or (not sequential and last - first < 2 * self._run_blocks):
                self._cf.seek(start)  # a random read
                return [self._cf.read(end - start)]
            e = index[first]
            if start > e.plain_offset:  # the start of a block read before: the cache has it
                head = min(end, e.plain_offset + e.plain_size)
                self._cf.seek(start)
                parts.append(self._cf.read(head - start))
                first, start = first + 1, head
                if first >= last:
                    return parts
            ahead = self._ahead = _ReadAhead(self._c, self._c.ra.fetch, first, last, self._workers,
                                             self._run_blocks, self._max_runs)
        ahead.limit = len(index) if sequential else max(ahead.limit, last)
        for i in range(first, last):
            e = index[i]
            pt = ahead.take(i, last)
            if pt is None:  # its run failed: read it alone, and raise its own error
                pt = self._one_block(i)
            lo = max(start, e.plain_offset) - e.plain_offset
            hi = min(end, e.plain_offset + e.plain_size) - e.plain_offset
            parts.append(pt[lo:hi] if lo or hi < len(pt) else pt)
        return parts

    def _one_block(self, i: int):
        e = self._c.index[i]
        return self._c.open_stored(i, self._c.ra.fetch(e.block_offset, e.block_size))

    def _stop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.close()

    def close(self):
        try:
            super().close()
        finally:
            with self._lock:
                self._stop_ahead()
            self._cf.close()


class QltxWriteFile(AbstractBufferedFile):
    """A container written as the plaintext comes, never seeking back: blocks are sealed as the
    buffer fills (the last one held back until the next write or close, to mark it final) and
    streamed to the target (an S3 multipart upload, a temporary file renamed at the end...).
    Leaving a ``with`` block by an exception, or ``discard()``, leaves nothing under the name."""

    def __init__(self, fs: QltxFileSystem, path: str, autocommit: bool = True):
        bs = fs.block_size
        super().__init__(fs, path, "wb", block_size=8 * bs, autocommit=autocommit, cache_type="none")
        self._bs = bs
        self._sealer = None
        self._out = None
        self._committed = False

    def _initiate_upload(self):
        fs = self.fs
        keys = fs.provider.resolve()
        recipients = list(fs.recipients) + [i.recipient for i in keys.get("identities", ())]
        self._sealer = Sealer(keys.get("master_key"), passphrase=keys.get("passphrase"), recipients=recipients,
                              block_size=self._bs, cipher_id=fs.cipher_id, workers=fs.workers)
        self._out = _TargetOutput(fs.fs, self.path)
        try:
            self._out.write(self._sealer.header_bytes)
        except BaseException:
            self._out.abort()
            raise

    def _upload_chunk(self, final=False):
        data = self.buffer.getbuffer()
        n = len(data)
        bs = self._bs
        keep = 0 if final else (n % bs or bs)
        if keep > n:
            keep = n
        upto = n - keep
        try:
            if upto:
                chunks = ((data[o:min(o + bs, upto)], final and o + bs >= upto, None) for o in range(0, upto, bs))
                for piece in self._sealer.seal(chunks):
                    self._out.write(piece)
            rest = bytes(data[upto:])
            del data
            self.buffer = io.BytesIO()
            self.buffer.write(rest)
            if final:
                name = os.path.basename(self.path)
                try:
                    name = check_plain_name(name) if name else None
                except ValueError:
                    name = None
                self._out.write(self._sealer.finish(name, int(time.time())))
                if self.autocommit:
                    self.commit()
        except BaseException:
            self.discard()
            raise
        return False  # the buffer now holds what is not sealed yet

    def commit(self):
        if self._out is not None and not self._committed:
            self._out.commit()
            self._committed = True
            self.fs._forget(self.path)

    def discard(self):
        if self._out is not None and not self._committed:
            self._out.abort()
        self._committed = True

    def __exit__(self, exc_type, *exc):
        if exc_type is not None and not self.closed:
            if self.offset is not None:
                self.discard()
            self.closed = True
            return None
        self.close()
        return None
