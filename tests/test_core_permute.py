"""The keyed byte permutation (qeltrix._core.permute / unpermute and each gather kernel) against a
literal Python transcription of the spec text, a known answer, and the GIL released."""

from __future__ import annotations

import hashlib
import math
import mmap
import os

import pytest

from qeltrix import _core
from gil import python_keeps_running
from corelayout import MIB, raises_exactly


# ---------------------------------------------------------------------------------------------
# permutation: a literal transcription of the spec text

def ref_table(K: bytes) -> list[int]:
    # "Table T is the identity on 0..63 shuffled by Fisher-Yates: for k = 63 down to 1,
    #  j = K[63-k] mod (k+1), swap T[k] and T[j]."
    T = list(range(64))
    for k in range(63, 0, -1):
        j = K[63 - k] % (k + 1)
        T[k], T[j] = T[j], T[k]
    return T


def ref_chunk_map(K: bytes, n: int):
    # "Let c = floor(n / 64) for a block of n bytes, s = u64 from K[64..71]. If c > 0:
    #  a = s mod c, a = 1 if a = 0, then while gcd(a, c) != 1: a = a + 1 (wrapping c to 1);
    #  b = (s >> 32) mod c."
    c = n // 64
    s = int.from_bytes(K[64:72], "big")
    a = s % c
    if a == 0:
        a = 1
    while math.gcd(a, c) != 1:
        a = a + 1
        if a == c:
            a = 1
    b = (s >> 32) % c
    return a, b, c


def ref_permute(data: bytes, K: bytes) -> bytes:
    # "Output chunk m (bytes 64m..64m+63) takes input chunk q = (a*m + b) mod c, and
    #  out[64m + k] = in[64q + T[k]]. The last n mod 64 bytes stay in place."
    n = len(data)
    out = bytearray(data)
    if n // 64 > 0:
        a, b, c = ref_chunk_map(K, n)
        T = ref_table(K)
        for m in range(c):
            q = (a * m + b) % c
            for k in range(64):
                out[64 * m + k] = data[64 * q + T[k]]
    return bytes(out)


def ref_unpermute(data: bytes, K: bytes) -> bytes:
    # "Unpermute is the inverse map": in[64q + T[k]] = out[64m + k].
    n = len(data)
    out = bytearray(data)
    if n // 64 > 0:
        a, b, c = ref_chunk_map(K, n)
        T = ref_table(K)
        for m in range(c):
            q = (a * m + b) % c
            for k in range(64):
                out[64 * q + T[k]] = data[64 * m + k]
    return bytes(out)


KEYS = [bytes(range(72)), bytes(72), b"\xff" * 72, hashlib.sha512(b"k").digest() + b"\x01" * 8]


KERNELS = ["auto"] + _core._permute_kernels()


SIZES = [0, 1, 63, 64, 65, 127, 128, 129, 384, 4096, 4096 + 63, MIB + 7]


def test_permutation_table():
    for K in KEYS + [os.urandom(72) for _ in range(20)]:
        T = _core._permutation_table(K)
        assert T == ref_table(K) and sorted(T) == list(range(64))
    assert _core._permutation_table(bytes(72)) == ref_table(bytes(72))
    for bad in (b"", bytes(64), bytes(71), bytes(73)):
        raises_exactly(ValueError, _core._permutation_table, bad)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("n", SIZES)
def test_permute_matches_reference(kernel, n):
    keys = KEYS[:2] + [os.urandom(72)] if n <= 4096 + 63 else [os.urandom(72)]  # the reference is slow
    for K in keys:
        data = os.urandom(n)
        buf = bytearray(data)
        _core._permute_with(buf, K, kernel)
        assert bytes(buf) == ref_permute(data, K)
        if n >= 128:
            assert buf != data  # bytes actually moved
        assert buf[n - n % 64:] == data[n - n % 64:]  # the tail stays in place
        if n <= 4096 + 63:
            assert ref_unpermute(bytes(buf), K) == data  # the reference is an inverse pair
        _core._permute_with(buf, K, kernel, True)
        assert bytes(buf) == data


@pytest.mark.parametrize("n", SIZES)
def test_permute_round_trip_public(n):
    K = os.urandom(72)
    data = os.urandom(n)
    buf = bytearray(data)
    _core.permute(buf, K)
    assert bytes(buf) == ref_permute(data, K)
    _core.unpermute(buf, K)
    assert buf == data
    # unpermute matches the reference inverse too
    buf = bytearray(data)
    _core.unpermute(buf, K)
    if n <= 4096 + 63:
        assert bytes(buf) == ref_unpermute(data, K)


def test_permute_chunk_map_edge_cases():
    # c = 6, s mod 6 = 2: gcd steps 2 -> 3 -> 4 -> 5; s mod c = 0 -> a = 1; c = 1.
    for s, n in [(2, 384), (6, 384), (0, 64), (2**64 - 1, 64 * 7), (3 << 32 | 4, 64 * 12)]:
        K = bytes(range(64)) + s.to_bytes(8, "big")
        data = os.urandom(n + 5)
        buf = bytearray(data)
        _core.permute(buf, K)
        assert bytes(buf) == ref_permute(data, K)
    assert ref_chunk_map(bytes(64) + (2).to_bytes(8, "big"), 384)[0] == 5


def test_permute_known_answer():
    """Pinned output, so a change to both the reference and the core cannot go unnoticed."""
    K = bytes(range(72))
    buf = bytearray(bytes(range(256)) * 4 + b"tail!!!")
    _core.permute(buf, K)
    assert buf[:16].hex() == KAT_FIRST_16
    assert hashlib.sha256(buf).hexdigest() == KAT_SHA256


KAT_FIRST_16 = "e1fce3e9faeee8f0eaf4f6e7e6e4ece0"


KAT_SHA256 = "fdb075b3b1a7fbcd4a4d95c31830110a3c5d3aeffdc4831daaf6302d93b794ed"


def test_permute_buffers(tmp_path):
    K = os.urandom(72)
    data = os.urandom(4096)
    mv = memoryview(bytearray(data))
    _core.permute(mv[64:], K)  # a writable slice of a larger buffer
    assert bytes(mv[:64]) == data[:64] and bytes(mv[64:]) == ref_permute(data[64:], K)
    path = tmp_path / "m"
    path.write_bytes(data)
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as mm:
        _core.permute(mm, memoryview(K))
        assert mm[:] == ref_permute(data, K)
        _core.unpermute(mm, bytearray(K))
        assert mm[:] == data
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        raises_exactly(TypeError, _core.permute, mm, K)


def test_permute_misuse():
    raises_exactly(TypeError, _core.permute, bytes(128), bytes(72))
    raises_exactly(TypeError, _core.unpermute, memoryview(bytes(128)), bytes(72))
    raises_exactly(TypeError, _core.permute, "text", bytes(72))
    raises_exactly(TypeError, _core.permute, bytearray(128), None)
    for bad in (bytes(71), bytes(73), b""):
        raises_exactly(ValueError, _core.permute, bytearray(128), bad)
        raises_exactly(ValueError, _core.unpermute, bytearray(128), bad)
    raises_exactly(ValueError, _core._permute_with, bytearray(128), bytes(72), "nope")
    nc = memoryview(bytearray(256))[::2]  # not contiguous
    with pytest.raises(BufferError):
        _core.permute(nc, bytes(72))


def test_permute_releases_the_gil():
    """While one thread permutes big buffers, another keeps running Python code."""
    buf = bytearray(64 * MIB)
    K = os.urandom(72)

    def work():
        for _ in range(4):
            _core._permute_with(buf, K, "portable")

    python_keeps_running(work)
