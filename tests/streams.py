"""File objects that behave like sockets and pipes: they cannot seek."""

from __future__ import annotations

import io


class Unseekable(io.RawIOBase):
    """A readable file object that cannot seek and returns at most ``piece`` bytes a call."""

    def __init__(self, data, piece: int | None = None):
        self._b = io.BytesIO(data)
        self._piece = piece

    def readable(self):
        return True

    def readinto(self, b):
        n = len(b) if self._piece is None else min(len(b), self._piece)
        chunk = self._b.read(n)
        b[:len(chunk)] = chunk
        return len(chunk)


class UnseekableSink(io.RawIOBase):
    """A writable file object that cannot seek (a pipe); ``getvalue`` gives what was written."""

    def __init__(self):
        self._b = io.BytesIO()

    def writable(self):
        return True

    def write(self, b):
        return self._b.write(b)

    def getvalue(self):
        return self._b.getvalue()
