"""StreamPacker and the seed's API as written in its description."""

from __future__ import annotations

import io
import os
import time

import pytest

from speccheck import spec_check


def test_seed_example_runs_as_written(tmp_path, monkeypatch):
    import qeltrix_v6 as qltx
    from qeltrix_v6.crypto import CIPHER_AES256_GCM, CIPHER_CHACHA20_POLY1305, random_master_key
    from qeltrix_v6.gateway import StreamPacker

    mk = random_master_key()
    raw_data = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "input.bin").write_bytes(raw_data)
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    result = qltx.pack("input.bin", "output.qltx", mk, block_size=1024 * 1024, cipher_id=CIPHER_AES256_GCM,
                       workers=4)
    # elapsed_s is the duration of the call, in seconds: within what the caller measured around it
    assert result.total_blocks == 4 and 0 < result.elapsed_s <= time.perf_counter() - t0
    spec_check("output.qltx", result, patched=True)
    result = qltx.unpack("output.qltx", "recovered.bin", mk, workers=4)
    assert result.integrity_ok
    assert (tmp_path / "recovered.bin").read_bytes() == raw_data
    data = qltx.seek_extract("output.qltx", seek_offset=1_000_000, seek_len=500_000, master_key=mk)
    assert data == raw_data[1_000_000:1_500_000]

    packer = StreamPacker(mk, block_size=256 * 1024, cipher_id=CIPHER_CHACHA20_POLY1305)
    out = io.BytesIO()
    r = packer.pack_stream(io.BytesIO(raw_data), out.write, total_size=len(raw_data))
    spec_check(out.getvalue(), r, patched=False)
    assert packer.patch_header(out, total_size=len(raw_data))
    container = out.getvalue()
    spec_check(container, r, patched=True)
    assert qltx.seek_extract(container, 5, 300_000, mk) == raw_data[5:300_005]
    assert qltx.info(container)["cipher"] == "ChaCha20-Poly1305"


def test_stream_packer_sources_and_checks(mk):
    from qeltrix import StreamPacker, unpack

    data = os.urandom(100_000)
    p = StreamPacker(mk, block_size=4096, workers=2)
    src = io.BytesIO(data)
    chunks = []
    r = p.pack_stream(src.read, chunks.append)  # a callable source, a callable sink
    blob = b"".join(bytes(c) for c in chunks)
    spec_check(blob, r, patched=False)
    out = io.BytesIO()
    unpack(blob, out, mk)
    assert out.getvalue() == data
    with pytest.raises(ValueError, match="total_size"):
        p.pack_stream(io.BytesIO(data), io.BytesIO().write, total_size=len(data) + 1)
    with pytest.raises(ValueError, match="total_size"):
        p.pack_stream(io.BytesIO(data), io.BytesIO().write, total_size=len(data) - 1)
    with pytest.raises(ValueError, match="total_size"):
        p.pack_stream(io.BytesIO(data), io.BytesIO().write)
        p.patch_header(io.BytesIO(), total_size=5)
    with pytest.raises(ValueError):
        StreamPacker(mk).patch_header(io.BytesIO())


def test_each_pack_has_its_own_container_id(mk):
    from qeltrix import StreamPacker

    p = StreamPacker(mk, block_size=4096)
    a, b = io.BytesIO(), io.BytesIO()
    ra = p.pack_stream(io.BytesIO(b"x" * 10), a)
    rb = p.pack_stream(io.BytesIO(b"x" * 10), b)
    assert ra.container_id != rb.container_id and a.getvalue() != b.getvalue()
