"""What every source is: ``RandomAccess`` (positional reads), URL recognition, a file view.

Nothing here imports a network stack: local work (unpack of a path, ``qeltrix info``, a
SeekServer over a file) stays as light as the command needs.
"""

from __future__ import annotations

import io
import re

from ..errors import TruncatedError

__all__ = ["RandomAccess", "RandomAccessFile", "is_url", "url_scheme", "display_url", "file_url_path", "is_loopback"]


class RandomAccess:
    """Positional reads over a local source. ``pread`` returns exactly n bytes or raises.

    ``positional`` is True where a read of one block is cheap (a local file or a buffer): unpack
    and seeks then read each block straight into a reused buffer (``read_into``) from the worker
    that decrypts it, instead of reading runs of blocks."""

    size: int
    name: str | None = None
    positional = False

    def pread(self, offset: int, n: int):  # pragma: no cover - interface
        raise NotImplementedError

    def read_exact(self, offset: int, n: int):
        if offset < 0 or n < 0 or offset + n > self.size:
            raise TruncatedError(f"read of {n} bytes at {offset} runs past the end ({self.size} bytes)")
        data = self.pread(offset, n)
        if len(data) != n:
            raise TruncatedError(f"short read at offset {offset}: the file changed or is truncated")
        return data

    def read_into(self, offset: int, view):
        """The ``len(view)`` bytes at ``offset``: filled into ``view`` and returned, or (a source
        held in memory) a view of them, without a copy."""
        view[:] = self.read_exact(offset, len(view))
        return view

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def is_url(src) -> bool:
    """True for a string of the form ``scheme://...`` (a path never is: it has no ``://``).
    Here, so that local work never imports the HTTP stack."""
    if not isinstance(src, str):
        return False
    scheme, sep, _ = src.partition("://")
    return bool(sep) and scheme[:1].isascii() and scheme[:1].isalpha() and _SCHEME_CHARS.issuperset(scheme)


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def url_scheme(url: str) -> str:
    """The scheme of a URL that :func:`is_url` accepted, in lower case."""
    return _SCHEME.match(url).group(1).lower()


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach (``localhost``,
    127.0.0.0/8, ``::1``, also in brackets)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def display_url(url: str) -> str:
    """The URL without credentials or query string (which may hold a signature), for messages."""
    import urllib.parse

    try:
        p = urllib.parse.urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0]
    netloc = p.hostname or ""
    if p.port:
        netloc += f":{p.port}"
    return urllib.parse.urlunsplit((p.scheme, netloc, p.path, "", ""))


def file_url_path(url: str) -> str:
    import urllib.parse
    import urllib.request

    p = urllib.parse.urlsplit(url)
    if p.netloc not in ("", "localhost"):
        raise ValueError(f"{url}: only local file:// URLs are supported")
    return urllib.request.url2pathname(p.path)


class RandomAccessFile(io.RawIOBase):
    """The raw bytes of a RandomAccess as a read-only, seekable binary file (closing it closes
    the RandomAccess). Wrap it in ``io.BufferedReader`` for small reads."""

    def __init__(self, ra: RandomAccess):
        super().__init__()
        self._ra = ra
        self._pos = 0
        self.name = ra.name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._ra.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, b) -> int:
        view = memoryview(b).cast("B")
        n = max(0, min(len(view), self._ra.size - self._pos))
        if n:
            view[:n] = self._ra.read_exact(self._pos, n)
            self._pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._ra.close()
        super().close()
