"""Compatibility alias: the seed's ``qeltrix_v6.gateway`` module (StreamPacker, GatewayServer, SeekServer)."""

from qeltrix.gateway import GatewayServer  # noqa: F401
from qeltrix.server import SeekServer  # noqa: F401
from qeltrix.writer import StreamPacker  # noqa: F401

__all__ = ["StreamPacker", "GatewayServer", "SeekServer"]
