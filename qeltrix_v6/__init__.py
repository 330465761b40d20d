"""Compatibility alias: the original V6 API under its original name (``import qeltrix_v6``)."""

from qeltrix import *  # noqa: F401,F403
from qeltrix import __all__, __version__  # noqa: F401
