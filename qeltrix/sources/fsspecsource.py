"""Any fsspec URL (``s3://``, ``gs://``, ``memory://``...) as a source and as an output, when
fsspec and the backend are installed (``pip install 'qeltrix[remote]' s3fs``)."""

from __future__ import annotations

from ..errors import RemoteChangedError, TruncatedError
from .base import display_url, url_scheme
from .local import output_error
from .remote import HEAD_BYTES, PART_BYTES, TAIL_BYTES, RemoteAccess

__all__ = ["FsspecAccess", "FsspecOutput", "fsspec_fs"]


def fsspec_fs(url: str, storage_options: dict | None):
    try:
        import fsspec
    except ImportError:
        raise ValueError(f"{display_url(url)}: reading or writing {url_scheme(url)}:// URLs needs fsspec "
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
        self.fs, self.path = fsspec_fs(url, storage_options)
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


class FsspecOutput:
    """A container written to an fsspec URL, sequentially (never seekable, so never patched: the
    footer is found through the trailer). Uploaded without autocommit where the backend allows:
    the object appears under its name only on ``commit``; ``abort`` discards it (an S3
    multipart upload is aborted, and an object it would have replaced stays as it was). On a
    backend that shows the object while it is written (``memory://``), ``abort`` removes it,
    unless it existed before (then it may be left partial)."""

    def __init__(self, url: str, overwrite: bool = True, storage_options: dict | None = None):
        self.path = url
        self.name = display_url(url)
        self.fs, self._fspath = fsspec_fs(url, storage_options)
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
