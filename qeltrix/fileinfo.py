"""The file info sealed in the footer (spec: "File info"): plaintext size, modification time and
an optional plain file name; its codec, and the rules a name must follow to be stored (writers)
or used as an output name (readers)."""

from __future__ import annotations

import os
import struct
from typing import NamedTuple

from .errors import DamagedError

__all__ = ["FileInfo", "encode_file_info", "decode_file_info", "check_plain_name", "safe_output_name",
           "MAX_NAME_BYTES"]

_INFO = struct.Struct(">QQH")
MAX_NAME_BYTES = 1024


class FileInfo(NamedTuple):
    """What the encrypted file info holds."""

    plaintext_size: int
    mtime: int
    name: str | None


def check_plain_name(name: str) -> str:
    """``name`` if it is a plain name (spec: "File info"), else ValueError: 1..1024 bytes of
    UTF-8, no "/", "\\", NUL or other control character, not "." or ".."."""
    raw = name.encode("utf-8")
    if len(raw) > MAX_NAME_BYTES:
        raise ValueError(f"file name longer than {MAX_NAME_BYTES} bytes")
    if name in (".", "..") or any(c in name for c in "/\\") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise ValueError(f"{name!r} is not a plain file name (no path, no control characters, not . or ..)")
    return name


def encode_file_info(plaintext_size: int, mtime: int, name: str | None) -> bytes:
    raw = check_plain_name(name).encode("utf-8") if name else b""
    return _INFO.pack(plaintext_size, max(0, int(mtime)), len(raw)) + raw


def decode_file_info(raw: bytes) -> FileInfo:
    if len(raw) < _INFO.size:
        raise DamagedError("file info is too short")
    size, mtime, n = _INFO.unpack_from(raw)
    if len(raw) != _INFO.size + n:
        raise DamagedError("file info has a wrong length")
    try:
        name = raw[_INFO.size:].decode("utf-8") or None
    except UnicodeDecodeError:
        raise DamagedError("file info holds an invalid name") from None
    return FileInfo(size, mtime, name)


def safe_output_name(name: str | None) -> str:
    """The stored name as a plain file name in the current folder, or ValueError (a reader
    never writes to a path a container chose)."""
    if not name:
        raise ValueError("the container holds no file name: give an output name")
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name or os.path.basename(name) != name:
        raise ValueError(f"the stored file name {name!r} is not a plain file name: give an output name")
    return name
