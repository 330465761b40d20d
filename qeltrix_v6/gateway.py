"""Compatibility alias: the seed's ``qeltrix_v6.gateway`` module (StreamPacker, SeekServer)."""

from qeltrix.server import SeekServer  # noqa: F401
from qeltrix.writer import StreamPacker  # noqa: F401

__all__ = ["StreamPacker", "SeekServer"]
