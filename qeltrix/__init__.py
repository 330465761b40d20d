"""Qeltrix: encrypted, seekable, network-native streaming containers (the V6 container, .qltx).

    import qeltrix as qltx
    mk = qltx.random_master_key()
    qltx.pack("input.bin", "output.qltx", mk)
    qltx.unpack("output.qltx", "recovered.bin", mk)
    data = qltx.seek_extract("output.qltx", seek_offset=1_000_000, seek_len=500_000, master_key=mk)
    with qltx.open("https://example.org/output.qltx", mk) as f:   # a seekable file of the plaintext
        f.seek(1_000_000); part = f.read(500_000)
    with qltx.SeekServer("output.qltx", mk, port=7621) as srv:   # HTTP with byte ranges
        ...
"""

from __future__ import annotations

from .container import UnpackResult, VerifyResult, info, seek_extract, unpack, verify
from .crypto import (CIPHER_AES256_GCM, CIPHER_CHACHA20_POLY1305, load_key_file,
                     random_master_key)
from .errors import (DamagedError, LimitError, NotAContainerError, QeltrixError, RangeNotSupportedError,
                     RemoteChangedError, RemoteError, TruncatedError, UnsupportedVersionError, WrongKeyError)
from .fileobj import ContainerFile
from .fileobj import open_container as open
from .gateway import GatewayServer
from .server import SeekServer
from .writer import DEFAULT_BLOCK_SIZE, PackResult, StreamPacker, pack

__version__ = "6.1.0"

__all__ = [
    "pack", "unpack", "seek_extract", "verify", "info", "inspect_container", "open", "ContainerFile",
    "StreamPacker", "GatewayServer", "SeekServer", "PackResult", "UnpackResult", "VerifyResult",
    "random_master_key", "load_key_file", "CIPHER_AES256_GCM", "CIPHER_CHACHA20_POLY1305",
    "DEFAULT_BLOCK_SIZE",
    "QeltrixError", "NotAContainerError", "UnsupportedVersionError", "WrongKeyError",
    "DamagedError", "TruncatedError", "LimitError",
    "RemoteError", "RangeNotSupportedError", "RemoteChangedError",
]


def inspect_container(src) -> dict:
    """The spec parser's view of a container (no key needed); see ``qeltrix inspect``."""
    from .inspect import describe, parse_container

    with parse_container(src) as parsed:
        return describe(parsed)
