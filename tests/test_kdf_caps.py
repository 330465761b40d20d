"""The caps on passphrase KDF costs that readers enforce (a hostile header must not make a reader
spend 100 GiB or hours): exactly at a cap is accepted, one step beyond is a LimitError, and the
check comes before any KDF work, in check_kdf_params and through the readers."""

from __future__ import annotations

import io
import os
import struct

import pytest

import qeltrix as qltx
from qeltrix.crypto import (ARGON2_MAX_M_KIB, ARGON2_MAX_P, ARGON2_MAX_T, KDF_ARGON2ID, KDF_NONE, KDF_SCRYPT,
                            SCRYPT_MAX_MEMORY, SCRYPT_MAX_P, KdfParams, check_kdf_params, derive_master_key)

SALT = bytes(range(16))
LOG_N_AT_CAP = 20  # with r = 8: 128 * r * 2^logN = 1 GiB, SCRYPT_MAX_MEMORY exactly

ACCEPTED = [
    (KDF_ARGON2ID, ARGON2_MAX_T, ARGON2_MAX_M_KIB, ARGON2_MAX_P),
    (KDF_ARGON2ID, 1, 8, 1),  # the spec's minimum: m >= 8 p
    (KDF_ARGON2ID, 3, 64 * 1024, 4),  # the default (RFC 9106)
    (KDF_ARGON2ID, 1, 8 * ARGON2_MAX_P, ARGON2_MAX_P),
    (KDF_SCRYPT, LOG_N_AT_CAP, 8, 1),
    (KDF_SCRYPT, 1, 1, SCRYPT_MAX_P),
    (KDF_SCRYPT, 14, 8, 1),
]
REFUSED = [
    (KDF_ARGON2ID, ARGON2_MAX_T + 1, 64, 1),
    (KDF_ARGON2ID, 0, 64, 1),
    (KDF_ARGON2ID, 1, ARGON2_MAX_M_KIB + 1, 1),
    (KDF_ARGON2ID, 1, 8 * 4 - 1, 4),  # m below 8 p
    (KDF_ARGON2ID, 1, 8 * (ARGON2_MAX_P + 1), ARGON2_MAX_P + 1),
    (KDF_ARGON2ID, 1, 64, 0),
    (KDF_ARGON2ID, 2**32 - 1, 2**32 - 1, 2**32 - 1),
    (KDF_SCRYPT, LOG_N_AT_CAP, 9, 1),  # one r above the memory cap
    (KDF_SCRYPT, LOG_N_AT_CAP + 1, 8, 1),
    (KDF_SCRYPT, 1, 1, SCRYPT_MAX_P + 1),
    (KDF_SCRYPT, 0, 8, 1),
    (KDF_SCRYPT, 41, 1, 1),
    (KDF_SCRYPT, 40, 1, 1),  # logN within 1..40, but 128 TiB
    (KDF_SCRYPT, 14, 0, 1),
    (KDF_SCRYPT, 14, 8, 0),
    (KDF_SCRYPT, 63, 2**32 - 1, 2**32 - 1),
]


def test_the_caps():
    assert (ARGON2_MAX_T, ARGON2_MAX_M_KIB, ARGON2_MAX_P) == (16, 1 << 20, 16)  # 1 GiB of Argon2id memory
    assert (SCRYPT_MAX_MEMORY, SCRYPT_MAX_P) == (1 << 30, 16)
    assert 128 * 8 * (1 << LOG_N_AT_CAP) == SCRYPT_MAX_MEMORY


@pytest.mark.parametrize("kdf,t,m,p", ACCEPTED)
def test_costs_within_the_caps_are_accepted(kdf, t, m, p):
    check_kdf_params(KdfParams(kdf, SALT, t, m, p))


@pytest.mark.parametrize("kdf,t,m,p", REFUSED)
def test_costs_beyond_the_caps_are_a_limit_error(kdf, t, m, p):
    with pytest.raises(qltx.LimitError, match="outside the accepted range"):
        check_kdf_params(KdfParams(kdf, SALT, t, m, p))


def test_a_raw_key_has_no_kdf():
    with pytest.raises(ValueError, match="raw key"):
        check_kdf_params(KdfParams(KDF_NONE, SALT, 0, 0, 0))


class KdfRan(Exception):
    pass


def spy_on_kdf(monkeypatch) -> list:
    """The KDF library classes replaced by one that records the cost asked for and stops."""
    calls = []

    def spy(**kw):
        calls.append(kw)
        raise KdfRan

    monkeypatch.setattr("qeltrix.crypto.Argon2id", spy)
    monkeypatch.setattr("qeltrix.crypto.Scrypt", spy)
    return calls


@pytest.fixture
def kdf_spy(monkeypatch):
    return spy_on_kdf(monkeypatch)


@pytest.mark.parametrize("kdf,t,m,p", REFUSED)
def test_derivation_is_refused_before_any_kdf_work(kdf_spy, kdf, t, m, p):
    with pytest.raises(qltx.LimitError):
        derive_master_key("pw", KdfParams(kdf, SALT, t, m, p))
    assert kdf_spy == []


@pytest.mark.parametrize("kdf,t,m,p", ACCEPTED[:1] + ACCEPTED[4:5])
def test_derivation_at_the_cap_runs_the_kdf(kdf_spy, kdf, t, m, p):
    """(The spy does stand where the KDF runs: at the cap, derivation reaches it.)"""
    with pytest.raises(KdfRan):
        derive_master_key("pw", KdfParams(kdf, SALT, t, m, p))
    assert len(kdf_spy) == 1


def _over_the_cap(blob: bytes) -> bytes:
    """A 6.1 container whose passphrase slot (in both keyring copies) asks for t one above the cap."""
    from qeltrix import _core

    h = _core.decode_header61(blob[:_core.HEADER61_SIZE])
    out = bytearray(blob)
    found = 0
    for copy in (0, 1):
        at = _core.HEADER61_SIZE + copy * h.keyring_copy_size + _core.KEYRING_HEAD_SIZE
        for slot in range(h.keyring_slots):
            s = at + slot * _core.SLOT_SIZE
            if out[s] == _core.SLOT_ARGON2ID:
                t, m, p = struct.unpack(">III", out[s + 20:s + 32])
                out[s + 20:s + 32] = struct.pack(">III", ARGON2_MAX_T + 1, m, p)
                found += 1
    assert found == 2
    return bytes(out)


def test_readers_refuse_a_container_over_the_cap_before_deriving(monkeypatch):
    data = os.urandom(5000)
    out = io.BytesIO()
    qltx.pack(data, out, passphrase="pw", block_size=4096)
    blob = _over_the_cap(out.getvalue())
    kdf_spy = spy_on_kdf(monkeypatch)
    for read in (lambda: qltx.unpack(blob, io.BytesIO(), passphrase="pw"),
                 lambda: qltx.seek_extract(blob, 0, 10, passphrase="pw"),
                 lambda: qltx.open(blob, passphrase="pw"),
                 lambda: qltx.verify(blob, passphrase="pw")):
        with pytest.raises(qltx.LimitError):
            read()
    assert kdf_spy == []  # no reader ran a KDF on the hostile cost
    with pytest.raises(KdfRan):  # (while the untouched container does get to its KDF)
        qltx.unpack(out.getvalue(), io.BytesIO(), passphrase="pw")
