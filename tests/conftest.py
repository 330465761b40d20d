"""Shared fixtures. Every container a test makes is checked against the spec's parser
(``spec_check``), field by field against what the writer reported."""

from __future__ import annotations

import os

# Test-only, documented in qeltrix/crypto.py and the README: new passphrase containers use a tiny
# Argon2id cost so hundreds can be made quickly. Readers still accept and check them as usual.
os.environ["QELTRIX_INSECURE_TEST_KDF"] = "1"

import pytest  # noqa: E402

from qeltrix import random_master_key  # noqa: E402

from speccheck import spec_check  # noqa: E402,F401


@pytest.fixture
def mk() -> bytes:
    return random_master_key()
