"""Bytes that were not authenticated never reach a caller, and misuse is made hard (issue 12):
a failed open leaves zeros in the caller's buffer, the hash memo authenticates a copy of live
stored bytes, deterministic sealing is private, and the insecure test KDF is refused outside a
test run and flagged by ``info``."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import qeltrix as qltx
from qeltrix import reader as reader_mod
from qeltrix.sources import open_random_access
from qeltrix.pipeline import BufferPool

BS = 4096
DATA = os.urandom(5 * BS + 123)
MK = os.urandom(32)


def _blob(permute=False, cipher_id=1) -> bytes:
    out = io.BytesIO()
    qltx.pack(DATA, out, MK, block_size=BS, permute=permute, cipher_id=cipher_id)
    return out.getvalue()


def _tag_flipped(stored) -> bytearray:
    """The stored block with its payload tag's last bit flipped: metadata and wrapped key still
    authenticate, the payload decrypts into the output, then fails its tag."""
    bad = bytearray(stored)
    bad[-1] ^= 1
    return bad


@pytest.mark.parametrize("permute,cipher_id", [(False, 1), (True, 1), (False, 2)])
def test_failed_open_leaves_zeros_in_the_callers_buffer(permute, cipher_id):
    blob = _blob(permute, cipher_id)
    with reader_mod.Container(open_random_access(blob), MK) as c:
        e = c.index[2]
        stored = bytes(blob[e.block_offset:e.block_offset + e.block_size])
        out = bytearray(b"\xaa" * e.plain_size)
        assert bytes(c.open_stored(2, stored)) == DATA[2 * BS:3 * BS]
        with pytest.raises(qltx.DamagedError, match="block 2"):
            c.open_stored(2, _tag_flipped(stored), out)
        assert out == bytes(e.plain_size)  # not the plaintext decrypt_into wrote, nor the old bytes
        # A group: one bad block zeroes every output of the group (none is handed out).
        e3 = c.index[3]
        good3 = blob[e3.block_offset:e3.block_offset + e3.block_size]
        outs = [bytearray(b"\xaa" * BS), bytearray(b"\xaa" * BS)]
        with pytest.raises(qltx.DamagedError):
            c.open_group([(3, good3, outs[0]), (2, _tag_flipped(stored), outs[1])])
        assert outs == [bytes(BS), bytes(BS)]


def test_failed_decrypt_returns_zeroed_buffers_to_the_pool():
    blob = bytearray(_blob())
    with reader_mod.Container(open_random_access(bytes(blob)), MK) as c:
        e = c.index[1]
    blob[e.block_offset + e.block_size - 1] ^= 1  # block 1's payload tag
    pool = BufferPool(BS)
    with reader_mod.Container(open_random_access(bytes(blob)), MK) as c:
        with pytest.raises(qltx.DamagedError, match="block 1"):
            c.decrypt_blocks([1], plain_pool=pool)
    assert len(pool._free) == 1 and pool.get() == bytes(BS)


def test_stream_opener_zeroes_its_output_on_failure():
    blob = _blob()
    with reader_mod.Container(open_random_access(blob), MK) as c:
        e = c.index[0]
    stored = _tag_flipped(blob[e.block_offset:e.block_offset + e.block_size])
    from qeltrix.blocks import open_block

    with reader_mod.Container(open_random_access(blob), MK) as c:
        out = bytearray(BS)
        with pytest.raises(qltx.DamagedError):
            open_block(c.keys, 0, stored, 0, BS, False, False, True, out)
        assert out == bytes(BS)


def test_memo_authenticates_a_copy_of_live_stored_bytes(monkeypatch):
    """Stored bytes in a mutable buffer change right after their tags are read (another thread,
    a mapped file rewritten): what is authenticated and remembered is the bytes as they were."""
    blob = _blob()
    with reader_mod.Container(open_random_access(blob), MK) as c:
        e = c.index[1]
        live = bytearray(blob[e.block_offset:e.block_offset + e.block_size])
        real = reader_mod._tags

        def tags_then_change(stored):
            t = real(stored)
            live[300] ^= 0xFF  # the buffer changes after its tags were taken
            return t

        monkeypatch.setattr(reader_mod, "_tags", tags_then_change)
        assert bytes(c.open_stored(1, live)) == DATA[BS:2 * BS]


def test_sealer_takes_no_rand():
    from qeltrix.writer import Sealer, _pack_from_parts

    with pytest.raises(TypeError):
        Sealer(MK, rand=lambda n: bytes(n))
    # the private generator entry point still pins every random byte
    a = _pack_from_parts(b"x" * 100, MK, rand=lambda n: bytes(n), block_size=BS)
    b = _pack_from_parts(b"x" * 100, MK, rand=lambda n: bytes(n), block_size=BS)
    assert a == b and qltx.unpack(a, io.BytesIO(), MK).bytes_out == 100


def _child(code: str, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST",)}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_insecure_test_kdf_is_refused_outside_the_test_suite(tmp_path):
    code = ("import io, qeltrix as q; q.pack(b'x', io.BytesIO(), passphrase='pw'); print('packed')")
    r = _child(code, QELTRIX_INSECURE_TEST_KDF="1")
    assert r.returncode != 0 and "QELTRIX_INSECURE_TEST_KDF" in r.stderr and "packed" not in r.stdout
    src = tmp_path / "a"
    src.write_bytes(b"hello")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["QELTRIX_INSECURE_TEST_KDF"] = "1"
    r = subprocess.run([sys.executable, "-m", "qeltrix", "pack", str(src), str(tmp_path / "a.qltx"),
                        "--passphrase", "pw", "-q"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "test suite only" in r.stderr
    assert not (tmp_path / "a.qltx").exists()


def test_info_flags_a_weak_kdf():
    weak = io.BytesIO()
    qltx.pack(b"abc", weak, passphrase="pw")  # the test suite's cheap KDF
    assert "kdf_warning" in qltx.info(weak.getvalue())
    assert "kdf_warning" not in qltx.info(_blob())
    from qeltrix.crypto import KDF_ARGON2ID, KdfParams
    from qeltrix.writer import _pack_from_parts

    strong = _pack_from_parts(b"abc", rand=os.urandom, passphrase="pw",
                              kdf_params=KdfParams(KDF_ARGON2ID, os.urandom(16), 1, 8 * 1024, 1))
    assert "kdf_warning" not in qltx.info(strong)
