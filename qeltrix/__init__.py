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

from typing import TYPE_CHECKING

__version__ = "6.1.0"

# The public API: each name and the module that defines it. This one table drives the lazy
# imports below (PEP 562: ``qeltrix seek`` and ``import qeltrix`` load only what they need, so
# the command line starts fast) and ``__all__``; tests/test_package.py checks that each resolves
# and that the TYPE_CHECKING block below names the same.
_API = {
    "pack": "writer", "StreamPacker": "writer", "PackResult": "writer", "DEFAULT_BLOCK_SIZE": "writer",
    "unpack": "operations", "seek_extract": "operations", "verify": "operations", "info": "operations",
    "UnpackResult": "operations", "VerifyResult": "operations",
    "open": "fileobj", "ContainerFile": "fileobj",
    "inspect_container": "inspect",
    "SeekServer": "server", "GatewayServer": "gateway",
    "rekey": "rekey", "keys": "rekey", "rotate": "rekey",
    "X25519Identity": "recipients", "X25519Recipient": "recipients", "load_identities": "recipients",
    "load_recipients": "recipients",
    "random_master_key": "crypto", "load_key_file": "crypto", "CIPHER_AES256_GCM": "crypto",
    "CIPHER_CHACHA20_POLY1305": "crypto",
    "QeltrixError": "errors", "NotAContainerError": "errors", "UnsupportedVersionError": "errors",
    "WrongKeyError": "errors", "DamagedError": "errors", "TruncatedError": "errors", "LimitError": "errors",
    "RemoteError": "errors", "RangeNotSupportedError": "errors", "RemoteChangedError": "errors",
}
#: Where a public name has another name in its module.
_RENAMED = {"open": "open_container"}

# Submodules reachable as attributes (``qeltrix.writer``), as they were before imports became lazy.
_SUBMODULES = frozenset({"blockcache", "blocks", "cli", "crypto", "demo", "distributed", "errors", "fileinfo",
                         "fileobj", "gateway", "inspect", "keyring", "mount", "operations", "pipeline",
                         "qltxfs", "reader", "recipients", "rekey", "server", "serverpages", "sources",
                         "writer"})

__all__ = list(_API)


def _find_core() -> None:
    """In a source checkout without a built core, find the installed one (see _sourcetree)."""
    import os

    here = os.path.dirname(__file__)
    if any(n.startswith("_core.") and not n.endswith(".pyi") for n in os.listdir(here)):
        return
    if os.path.exists(os.path.join(os.path.dirname(here), "cpp")):
        from ._sourcetree import use_installed_core

        try:
            use_installed_core(__path__, here)
        except ImportError as e:
            import sys

            if sys.argv[:1] == ["-m"]:  # python -m qeltrix / qeltrix_v6: a command, so one line
                print(e, file=sys.stderr)
                raise SystemExit(1) from None
            raise


_find_core()

if TYPE_CHECKING:  # what type checkers and IDEs see; the same names as _API
    from .crypto import CIPHER_AES256_GCM, CIPHER_CHACHA20_POLY1305, load_key_file, random_master_key
    from .errors import (DamagedError, LimitError, NotAContainerError, QeltrixError, RangeNotSupportedError,
                         RemoteChangedError, RemoteError, TruncatedError, UnsupportedVersionError, WrongKeyError)
    from .fileobj import ContainerFile
    from .fileobj import open_container as open
    from .gateway import GatewayServer
    from .inspect import inspect_container
    from .operations import UnpackResult, VerifyResult, info, seek_extract, unpack, verify
    from .recipients import X25519Identity, X25519Recipient, load_identities, load_recipients
    from .rekey import keys, rekey, rotate
    from .server import SeekServer
    from .writer import DEFAULT_BLOCK_SIZE, PackResult, StreamPacker, pack


def __getattr__(name: str):
    import importlib

    mod = _API.get(name)
    if mod is None:
        if name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'qeltrix' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_API))
