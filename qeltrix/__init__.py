"""Qeltrix: encrypted, seekable, network-native streaming containers (the V6 container, .qltx).

    import qeltrix as qltx
    mk = qltx.random_master_key()
    qltx.pack("input.bin", "output.qltx", mk)
    qltx.unpack("output.qltx", "recovered.bin", mk)
    data = qltx.seek_extract("output.qltx", seek_offset=1_000_000, seek_len=500_000, master_key=mk)
    with qltx.SeekServer("output.qltx", mk, port=7621) as srv:   # HTTP with byte ranges
        ...
"""

from __future__ import annotations

from .container import UnpackResult, VerifyResult, info, seek_extract, unpack, verify
from .crypto import (CIPHER_AES256_GCM, CIPHER_CHACHA20_POLY1305, load_key_file,
                     random_master_key)
from .errors import (DamagedError, LimitError, NotAContainerError, QeltrixError, TruncatedError,
                     UnsupportedVersionError, WrongKeyError)
from .server import SeekServer
from .writer import DEFAULT_BLOCK_SIZE, PackResult, StreamPacker, pack

__version__ = "6.1.0"

__all__ = [
    "pack", "unpack", "seek_extract", "verify", "info", "inspect_container",
    "StreamPacker", "SeekServer", "PackResult", "UnpackResult", "VerifyResult",
    "random_master_key", "load_key_file", "CIPHER_AES256_GCM", "CIPHER_CHACHA20_POLY1305",
    "DEFAULT_BLOCK_SIZE",
    "QeltrixError", "NotAContainerError", "UnsupportedVersionError", "WrongKeyError",
    "DamagedError", "TruncatedError", "LimitError",
]


def inspect_container(src) -> dict:
    """The spec parser's view of a container (no key needed); see ``qeltrix inspect``."""
    from .inspect import describe, parse_container

    return describe(parse_container(src))
