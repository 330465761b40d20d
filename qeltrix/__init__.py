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

# Names are imported on first use (PEP 562), so that ``qeltrix seek`` and ``import qeltrix``
# load only what they need: the command line starts in a fraction of the time.
_LAZY = {
    "container": ("UnpackResult", "VerifyResult", "info", "seek_extract", "unpack", "verify"),
    "crypto": ("CIPHER_AES256_GCM", "CIPHER_CHACHA20_POLY1305", "load_key_file", "random_master_key"),
    "errors": ("DamagedError", "LimitError", "NotAContainerError", "QeltrixError", "RangeNotSupportedError",
               "RemoteChangedError", "RemoteError", "TruncatedError", "UnsupportedVersionError",
               "WrongKeyError"),
    "fileobj": ("ContainerFile",),
    "gateway": ("GatewayServer",),
    "recipients": ("X25519Identity", "X25519Recipient", "load_identities", "load_recipients"),
    "rekey": ("keys", "rekey", "rotate"),
    "server": ("SeekServer",),
    "writer": ("DEFAULT_BLOCK_SIZE", "PackResult", "StreamPacker", "pack"),
}
_WHERE = {name: mod for mod, names in _LAZY.items() for name in names}
_WHERE["open"] = "fileobj"


# Submodules reachable as attributes (``qeltrix.writer``), as they were before imports became lazy.
_SUBMODULES = frozenset({"blockcache", "blocks", "cli", "container", "crypto", "demo", "errors", "fileobj", "gateway",
                         "httpaccess", "inspect", "io", "keyring", "mount", "pipeline", "reader", "recipients",
                         "rekey", "remote", "server", "writer"})


def __getattr__(name: str):
    import importlib

    mod = _WHERE.get(name)
    if mod is None:
        if name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'qeltrix' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), "open_container" if name == "open" else name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))


__version__ = "6.1.0"

__all__ = [
    "pack", "unpack", "seek_extract", "verify", "info", "inspect_container", "open", "ContainerFile",
    "StreamPacker", "GatewayServer", "SeekServer", "PackResult", "UnpackResult", "VerifyResult",
    "rekey", "keys", "rotate", "X25519Identity", "X25519Recipient", "load_identities", "load_recipients",
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
