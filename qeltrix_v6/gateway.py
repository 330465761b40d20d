"""Compatibility alias: the seed's ``qeltrix_v6.gateway`` module (StreamPacker)."""

from qeltrix.writer import StreamPacker  # noqa: F401

__all__ = ["StreamPacker"]
