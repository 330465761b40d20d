"""File objects that behave like sockets and pipes (they cannot seek), and feeding streams the
way a socket does: to the native stream decoder, and through a decrypting gateway."""

from __future__ import annotations

import io
import socket


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


def decode_stream(chunks) -> list[tuple[str, int]]:
    """Feed the decoder as a socket would (chunks of any size); return the items."""
    from qeltrix import _core

    dec = _core._StreamDecoder()
    buf = bytearray()
    items = []
    for c in chunks:
        buf += c
        while True:
            kind, n = dec.next(bytes(buf))
            if kind == "need":
                assert n > len(buf)
                break
            items.append((kind, n))
            del buf[:n]
    dec.end(len(buf))
    return items


def decrypt_reply(port: int, blob: bytes) -> tuple[bytes, bool]:
    """What a plain receiver gets back from a decrypting gateway, and whether it was reset."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(blob)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = bytearray()
        try:
            while b := s.recv(1 << 16):
                out += b
        except ConnectionResetError:
            return bytes(out), True
        return bytes(out), False
