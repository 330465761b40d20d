"""Every exception Qeltrix raises on bad data.

Misuse (a wrong argument type or value) raises the built-in ``TypeError`` or ``ValueError``.
Bad data raises a :class:`QeltrixError` subclass. The native core raises these same classes: its
errors are translated once, at the binding boundary.
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
