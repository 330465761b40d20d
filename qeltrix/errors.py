"""Every exception Qeltrix raises on bad data.

Misuse (a wrong argument type or value) raises the built-in ``TypeError`` or ``ValueError``.
Bad data raises a :class:`QeltrixError` subclass. The native core raises these same classes: its
errors are translated once, at the binding boundary.

Reading or writing a remote container (a URL) can also fail in transport: :class:`RemoteError`
and its subclasses derive from ``OSError``, like a local read error, because they say nothing
about the container's data (the same container may read fine from another server, or later).
The command line maps every ``OSError`` to exit code 5 (I/O).
"""

from __future__ import annotations

__all__ = [
    "QeltrixError",
    "NotAContainerError",
    "UnsupportedVersionError",
    "WrongKeyError",
    "DamagedError",
    "TruncatedError",
    "LimitError",
    "RemoteError",
    "RangeNotSupportedError",
    "RemoteChangedError",
]


class QeltrixError(Exception):
    """Base class of every data error."""


class NotAContainerError(QeltrixError):
    """The input does not start (or end) like a V6 container."""


class UnsupportedVersionError(QeltrixError):
    """A container of another format version."""


class WrongKeyError(QeltrixError):
    """The key or passphrase does not open this container (key commitment mismatch)."""

    def __init__(self, message: str = "wrong key or passphrase") -> None:
        super().__init__(message)


class DamagedError(QeltrixError):
    """The container was damaged or tampered with. ``block`` is the block index, when known."""

    def __init__(self, message: str, block: int | None = None) -> None:
        super().__init__(message)
        self.block = block


class TruncatedError(DamagedError):
    """The container ends before its final block, footer or trailer."""


class LimitError(QeltrixError):
    """A size or cost in the input is above what this reader accepts."""


class RemoteError(OSError):
    """A remote source failed in transport: unreachable after the retries, an HTTP error status,
    or an answer that is not what was asked. ``url`` is the source (without its query string)."""

    def __init__(self, message: str, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class RangeNotSupportedError(RemoteError):
    """The server ignored a Range request (answered 200 with the whole object, or another range):
    random access is impossible there, and downloading it all was not asked for."""


class RemoteChangedError(RemoteError):
    """The remote object changed between two requests (its ETag, Last-Modified or size differ, or
    a conditional request failed): its bytes can no longer be put together."""
