"""Where container bytes come from and go to: paths, buffers, file objects, pipes and URLs.

Every reading entry point takes a path, URL, bytes-like object, binary file object or pipe;
:func:`open_random_access` gives a :class:`RandomAccess` (positional reads), or None for a
source that can only be read once (a pipe: unpack then reads it with :class:`SequentialReader`).
:func:`open_output` gives an output that commits atomically, or aborts leaving nothing.

The leaves: :mod:`.base` (the interfaces, URL recognition), :mod:`.local` (files, buffers, file
objects, pipes, atomic outputs), :mod:`.remote` (the cached, parallel base of network sources),
:mod:`.httpsource` (http/https through urllib3) and :mod:`.fsspecsource` (``s3://``, ``gs://``,
``memory://``... through fsspec). The network leaves are imported only when a URL is opened.
"""

from __future__ import annotations

from .base import RandomAccess, RandomAccessFile, display_url, file_url_path, is_loopback, is_url, url_scheme
from .local import AtomicOutput, SequentialReader, open_local, open_local_output, output_error

__all__ = ["RandomAccess", "RandomAccessFile", "SequentialReader", "AtomicOutput", "is_url", "display_url", "is_loopback",
           "open_random_access", "open_output", "open_remote", "open_remote_output", "output_error",
           "HttpAccess", "FsspecAccess"]

# The network leaves, imported on first use (PEP 562).
_LAZY = {"HttpAccess": "httpsource", "FsspecAccess": "fsspecsource", "RemoteAccess": "remote"}


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{mod}", __name__), name)


def open_random_access(src, *, workers: int = 4) -> RandomAccess | None:
    """A RandomAccess over ``src``, or None when ``src`` is not seekable (a pipe, ``"-"``).

    A URL string is opened remotely (``workers``: requests that may run at once)."""
    if isinstance(src, str) and is_url(src):
        return open_remote(src, workers=workers)
    return open_local(src)


def open_output(dst, overwrite: bool = True):
    """An output for ``dst``: a path (atomic), ``"-"`` (stdout), a URL (``s3://``... through
    fsspec, written sequentially), a writable binary file object or a callable."""
    if isinstance(dst, str) and is_url(dst):
        return open_remote_output(dst, overwrite=overwrite)
    return open_local_output(dst, overwrite=overwrite)


def open_remote(url: str, *, workers: int = 4, storage_options: dict | None = None, **options) -> RandomAccess:
    """A RandomAccess over ``url``: http(s) through urllib3, ``file://`` locally, else fsspec."""
    scheme = url_scheme(url)
    if scheme in ("http", "https"):
        from .httpsource import HttpAccess

        return HttpAccess(url, workers=workers, **options)
    if scheme == "file":
        return open_local(file_url_path(url))
    from .fsspecsource import FsspecAccess

    return FsspecAccess(url, workers=workers, storage_options=storage_options, **options)


def open_remote_output(url: str, overwrite: bool = True, storage_options: dict | None = None):
    """A sequential output to ``url`` (``file://`` is a local atomic output)."""
    scheme = url_scheme(url)
    if scheme in ("http", "https"):
        raise ValueError(f"{display_url(url)}: cannot write to an http(s) URL; use a writable fsspec URL "
                         f"(s3://, gs://, ...) or a path")
    if scheme == "file":
        return AtomicOutput(file_url_path(url), overwrite=overwrite, shown=display_url(url))
    from .fsspecsource import FsspecOutput

    return FsspecOutput(url, overwrite=overwrite, storage_options=storage_options)
