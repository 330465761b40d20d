"""Compatibility alias of :mod:`qeltrix.crypto`."""

from qeltrix.crypto import *  # noqa: F401,F403
from qeltrix.crypto import CIPHER_AES256_GCM, CIPHER_CHACHA20_POLY1305, random_master_key  # noqa: F401
