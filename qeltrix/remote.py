"""Remote containers: URLs as sources (random access) and as outputs.

``http://`` and ``https://`` are read with Range requests (:mod:`qeltrix.httpaccess`, urllib3);
any other URL (``s3://``, ``gs://``, ``memory://``...) goes through fsspec when it and the
backend are installed (``pip install 'qeltrix[remote]' s3fs``); ``file://`` is a local path.

A remote source fetches little: at open, the last ``tail_bytes`` (16 KiB: trailer and footer,
in one request) and the header; then only the stored blocks a read needs, adjacent blocks in one
request, a large read split into parts fetched in parallel (``workers``). Both are cached, so
opening a container costs two requests (three when the footer is larger than ``tail_bytes``).
"""

from __future__ import annotations

import re
import threading
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from .errors import RemoteChangedError, TruncatedError
from .io import RandomAccess, is_url

__all__ = ["is_url", "display_url", "open_remote", "open_remote_output", "RemoteAccess",
           "FsspecAccess", "TAIL_BYTES", "PART_BYTES"]

#: The suffix fetched at open: trailer and footer of a container of up to ~290 blocks (256 MiB
#: in 1 MiB blocks). A larger footer costs one more request, for exactly its missing start.
#: Small, so that a seek never pays much for it: a 4 KiB seek fetches at most footer + header +
#: 2 blocks, plus under 16 KiB.
TAIL_BYTES = 16 << 10
#: A read larger than 1.5 times this is split into parts of this size, fetched in parallel.
PART_BYTES = 8 << 20
#: The header and keyring (read at open with the tail): a 6.1 container's with the default 16
#: key slots (256 + 2 x 2104 bytes; more slots cost one more request), a 6.0 header (416 bytes).
HEAD_BYTES = 4464

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def _scheme(url: str) -> str:
    return _SCHEME.match(url).group(1).lower()


def display_url(url: str) -> str:
    """The URL without credentials or query string (which may hold a signature), for messages."""
    try:
        p = urllib.parse.urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0]
    netloc = p.hostname or ""
    if p.port:
        netloc += f":{p.port}"
    return urllib.parse.urlunsplit((p.scheme, netloc, p.path, "", ""))


def file_url_path(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    if p.netloc not in ("", "localhost"):
        raise ValueError(f"{url}: only local file:// URLs are supported")
    return urllib.request.url2pathname(p.path)


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

    def _fetch(self, offset: int, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
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
        return buf

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


# -- fsspec ------------------------------------------------------------------------------------

def _fsspec_fs(url: str, storage_options: dict | None):
    try:
        import fsspec
    except ImportError:
        raise ValueError(f"{display_url(url)}: reading or writing {_scheme(url)}:// URLs needs fsspec "
                         f"and its backend: pip install 'qeltrix[remote]'") from None
    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as e:  # fsspec knows the protocol but its backend is not installed
        raise ValueError(f"{display_url(url)}: {e}") from None
    except ValueError as e:
        raise ValueError(f"{display_url(url)}: {e}") from None


def _version_tag(info: dict):
    """What tells one version of an object from another in an fsspec info dict."""
    for key in ("ETag", "etag", "md5Hash", "generation", "VersionId", "version_id"):
        if info.get(key):
            return key, info[key]
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        if info.get(key):
            return key, str(info[key])
    return None


def _info_mtime(info: dict) -> float | None:
    import datetime

    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        v = info.get(key)
        if isinstance(v, datetime.datetime):
            return (v if v.tzinfo else v.replace(tzinfo=datetime.timezone.utc)).timestamp()
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, str):
            try:
                d = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                continue
            return (d if d.tzinfo else d.replace(tzinfo=datetime.timezone.utc)).timestamp()
    return None


class FsspecAccess(RemoteAccess):
    """Random access to any fsspec URL: size and version tag from ``info``, byte ranges through
    ``cat_file`` (stateless, so parts can be fetched in parallel)."""

    def __init__(self, url: str, *, workers: int = 4, storage_options: dict | None = None,
                 tail_bytes: int = TAIL_BYTES, head_bytes: int = HEAD_BYTES, part_bytes: int = PART_BYTES):
        super().__init__(url, workers, part_bytes)
        self.fs, self.path = _fsspec_fs(url, storage_options)
        try:
            info = self.fs.info(self.path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.name}: no such object") from None
        if info.get("type") == "directory":
            raise IsADirectoryError(f"{self.name}: is a directory")
        self.size = int(info["size"])
        self._tag = _version_tag(info)
        #: What tells this version of the object from another, and its modification time
        #: (seconds since the epoch, None when the backend gives none): for validators.
        self.version = repr(self._tag) if self._tag else None
        self.mtime = _info_mtime(info)
        try:
            tail = min(self.size, tail_bytes)
            if tail:
                self._cache(self.size - tail, self._fetch(self.size - tail, tail))
            if self.size > tail and head_bytes:
                self._cache(0, self._fetch(0, min(head_bytes, self.size - tail)))
        except BaseException:
            self.close()
            raise

    def _read_into(self, offset: int, view: memoryview) -> None:
        n = len(view)
        try:
            data = self.fs.cat_file(self.path, start=offset, end=offset + n)
        except FileNotFoundError:
            raise RemoteChangedError(f"{self.name}: the object was removed while being read", self.name) from None
        if len(data) != n:
            self._check_unchanged()
            raise TruncatedError(f"{self.name}: short read at offset {offset}")
        view[:] = data

    def _check_unchanged(self) -> None:
        try:
            info = self.fs.info(self.path)
        except FileNotFoundError:
            raise RemoteChangedError(f"{self.name}: the object was removed while being read", self.name) from None
        if int(info["size"]) != self.size or _version_tag(info) != self._tag:
            raise RemoteChangedError(f"{self.name}: the object changed while being read", self.name)


class _FsspecOutput:
    """A container written to an fsspec URL, sequentially (never seekable, so never patched: the
    footer is found through the trailer). Uploaded without autocommit where the backend allows:
    the object appears under its name only on ``commit``; ``abort`` discards it (an S3
    multipart upload is aborted, and an object it would have replaced stays as it was). On a
    backend that shows the object while it is written (``memory://``), ``abort`` removes it,
    unless it existed before (then it may be left partial)."""

    def __init__(self, url: str, overwrite: bool = True, storage_options: dict | None = None):
        self.path = url
        self.name = display_url(url)
        self.fs, self._fspath = _fsspec_fs(url, storage_options)
        try:
            self._existed = self.fs.exists(self._fspath)
        except OSError as e:
            raise self._error(e) from None
        if self._existed and not overwrite:
            raise FileExistsError(f"{self.name} exists (use --force to overwrite)")
        try:
            try:
                self._f = self.fs.open(self._fspath, "wb", autocommit=False)
                self._autocommit = False
            except (NotImplementedError, TypeError, ValueError):
                self._f = self.fs.open(self._fspath, "wb")
                self._autocommit = True
        except OSError as e:
            raise self._error(e) from None
        self.file = self
        self._done = False

    def _error(self, e: OSError) -> OSError:
        """Said about the URL the user gave (a backend's message names neither)."""
        from .io import output_error

        return output_error(e, self.name, remote=True)

    def write(self, data) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            raise self._error(e) from None

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._f.tell()

    def commit(self) -> None:
        try:
            self._f.close()
            if not self._autocommit:
                self._f.commit()
        except OSError as e:
            raise self._error(e) from None
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if not self._autocommit:
                self._f.discard()
        finally:
            try:
                if self._autocommit:
                    self._f.close()
                else:
                    self._f.closed = True  # discarded: nothing left to flush
            except (AttributeError, OSError, ValueError):
                pass
            # Some backends (memory://, autocommit-only ones) show the object from the start:
            # remove a partial one that did not exist before.
            if not self._existed:
                try:
                    if self.fs.exists(self._fspath):
                        self.fs.rm(self._fspath)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None or not self._done:
            self.abort()


# -- dispatch ----------------------------------------------------------------------------------

def open_remote(url: str, *, workers: int = 4, storage_options: dict | None = None, **options) -> RandomAccess:
    """A RandomAccess over ``url``: http(s) through urllib3, ``file://`` locally, else fsspec."""
    scheme = _scheme(url)
    if scheme in ("http", "https"):
        from .httpaccess import HttpAccess

        return HttpAccess(url, workers=workers, **options)
    if scheme == "file":
        from .io import open_random_access

        return open_random_access(file_url_path(url))
    return FsspecAccess(url, workers=workers, storage_options=storage_options, **options)


def open_remote_output(url: str, overwrite: bool = True, storage_options: dict | None = None):
    scheme = _scheme(url)
    if scheme in ("http", "https"):
        raise ValueError(f"{display_url(url)}: cannot write to an http(s) URL; use a writable fsspec URL "
                         f"(s3://, gs://, ...) or a path")
    if scheme == "file":
        from .io import AtomicOutput

        return AtomicOutput(file_url_path(url), overwrite=overwrite, shown=display_url(url))
    return _FsspecOutput(url, overwrite=overwrite, storage_options=storage_options)

