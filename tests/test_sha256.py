"""_core.sha256_many: SHA-256 of several messages at once, against hashlib (OpenSSL).

Every kernel this CPU runs is checked: lanes hash in lockstep while every message has a full
64-byte block left, then each lane finishes alone, so the cases mix lengths around the block and
padding boundaries (55/56/63/64 bytes) and groups of 1..9 messages (4 lanes, then the rest).
"""

from __future__ import annotations

import hashlib
import os
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qeltrix import _core
from qeltrix import crypto
from gil import python_keeps_running

KERNELS = _core._sha256_kernels()
EDGES = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 65536 + 7]


def hashlib_many(bufs):
    return [hashlib.sha256(b).digest() for b in bufs]


def test_kernels_listed():
    assert KERNELS[-1] == "portable"
    assert ("shani" in KERNELS) == _core.SHA256_ACCELERATED


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("n", range(0, 10))
def test_edge_lengths_in_groups(kernel, n):
    for size in EDGES:
        # Lengths differ within a group: some lanes run out of full blocks before others.
        bufs = [os.urandom(size + 61 * i) for i in range(n)]
        assert _core._sha256_many_with(bufs, kernel) == hashlib_many(bufs), (size, n)


@pytest.mark.parametrize("kernel", KERNELS)
def test_fips_180_examples(kernel):
    # FIPS 180-4 / NIST CSRC examples, and the one-million-'a' message.
    vectors = {
        b"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq":
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        b"": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        b"a" * 1_000_000: "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    }
    got = _core._sha256_many_with(list(vectors), kernel)
    assert [d.hex() for d in got] == list(vectors.values())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=700), max_size=9), st.sampled_from(KERNELS))
def test_matches_hashlib(bufs, kernel):
    assert _core._sha256_many_with(bufs, kernel) == hashlib_many(bufs)


def test_buffer_kinds():
    raw = os.urandom(5000)
    ba = bytearray(raw)
    bufs = [raw, ba, memoryview(ba)[17:4017], memoryview(raw)[3:], memoryview(bytearray(256)).cast("I")]
    assert _core.sha256_many(bufs) == hashlib_many(bufs)
    assert _core.sha256_many(tuple(bufs)) == hashlib_many(bufs)
    with pytest.raises(BufferError):
        _core.sha256_many([memoryview(ba)[::2]])  # not contiguous
    with pytest.raises(TypeError):
        _core.sha256_many([raw, "text"])
    with pytest.raises(ValueError):
        _core._sha256_many_with([raw], "nope")


def test_crypto_sha256_many_matches():
    """The package's entry point (hashlib where the CPU has no SHA extensions)."""
    bufs = [os.urandom(n) for n in (0, 1, 1 << 20, 333, (1 << 20) + 220)]
    assert crypto.sha256_many(bufs) == hashlib_many(bufs)
    assert crypto.sha256_many([]) == []


def test_releases_the_gil():
    """While one thread hashes big buffers, another keeps running Python code."""
    bufs = [bytearray(16 << 20) for _ in range(4)]

    def work():
        for _ in range(3):
            _core._sha256_many_with(bufs, "portable")

    python_keeps_running(work)
