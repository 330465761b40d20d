"""Pack then unpack gives the input back, for every size, cipher, source kind and worker count."""

from __future__ import annotations

import io
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qeltrix as qltx
from qeltrix import _core
from streams import Unseekable, UnseekableSink
from speccheck import spec_check

BS = 4096
SIZES = [0, 1, BS - 1, BS, BS + 1, 2 * BS - 1, 2 * BS, 2 * BS + 1, 7 * BS + 123]
CIPHERS = [qltx.CIPHER_AES256_GCM, qltx.CIPHER_CHACHA20_POLY1305]


def pack_bytes(data: bytes, mk, **kw) -> tuple[bytes, qltx.PackResult]:
    out = io.BytesIO()
    r = qltx.pack(data, out, mk, **kw)
    blob = out.getvalue()
    spec_check(blob, r, patched=True)
    return blob, r


def unpack_bytes(blob: bytes, mk, **kw) -> bytes:
    out = io.BytesIO()
    qltx.unpack(blob, out, mk, **kw)
    return out.getvalue()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("permute", [False, True])
def test_roundtrip_sizes(mk, size, cipher, permute):
    data = os.urandom(size)
    blob, r = pack_bytes(data, mk, block_size=BS, cipher_id=cipher, permute=permute)
    assert r.total_blocks == -(-size // BS)
    assert r.bytes_in == size
    assert unpack_bytes(blob, mk) == data
    assert unpack_bytes(blob, mk, verify=False) == data


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_roundtrip_workers(mk, workers):
    data = os.urandom(37 * BS + 5)
    blob, r = pack_bytes(data, mk, block_size=BS, workers=workers)
    assert unpack_bytes(blob, mk, workers=workers) == data


def test_paths_and_stored_name(tmp_path, mk, monkeypatch):
    data = os.urandom(3 * BS + 17)
    src = tmp_path / "report.pdf"
    src.write_bytes(data)
    r = qltx.pack(str(src), str(tmp_path / "c.qltx"), mk, block_size=BS)
    spec_check(tmp_path / "c.qltx", r, patched=True)
    u = qltx.unpack(str(tmp_path / "c.qltx"), str(tmp_path / "out.bin"), mk)
    assert (tmp_path / "out.bin").read_bytes() == data
    assert u.integrity_ok and u.total_blocks == 4 and u.name == "report.pdf"
    # No output name: the stored name, in the current folder, never over an existing file.
    work = tmp_path / "restore"
    work.mkdir()
    monkeypatch.chdir(work)
    qltx.unpack(str(tmp_path / "c.qltx"), None, mk, overwrite=False)
    assert (work / "report.pdf").read_bytes() == data
    with pytest.raises(FileExistsError):
        qltx.unpack(str(tmp_path / "c.qltx"), None, mk, overwrite=False)
    assert sorted(os.listdir(work)) == ["report.pdf"]  # no temporary file left behind


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "fileobj", "path", "pipe", "unseekable"])
def test_source_kinds(tmp_path, mk, kind):
    data = os.urandom(5 * BS + 3)
    if kind == "bytes":
        src = data
    elif kind == "bytearray":
        src = bytearray(data)
    elif kind == "memoryview":
        src = memoryview(data)
    elif kind == "fileobj":
        src = io.BytesIO(data)
    elif kind == "path":
        (tmp_path / "in").write_bytes(data)
        src = str(tmp_path / "in")
    elif kind == "unseekable":
        src = Unseekable(data, 777)
    else:
        rfd, wfd = os.pipe()

        def feed():
            with os.fdopen(wfd, "wb") as w:
                for i in range(0, len(data), 1000):
                    w.write(data[i:i + 1000])

        threading.Thread(target=feed, daemon=True).start()
        src = os.fdopen(rfd, "rb")
    try:
        blob, r = pack_bytes(src, mk, block_size=BS)
    finally:
        if kind in ("pipe", "fileobj"):
            src.close()
    assert unpack_bytes(blob, mk) == data


def test_pipe_output_keeps_streamed_header_and_reads_from_its_end(mk):
    """A container written to a pipe has no patched header; readers find the footer through the
    trailer, and a one-pass stream reader reads it too."""
    data = os.urandom(9 * BS + 1)
    out = UnseekableSink()
    r = qltx.pack(data, out, mk, block_size=BS)
    blob = out.getvalue()
    spec_check(blob, r, patched=False)
    assert not r.header_patched
    assert unpack_bytes(blob, mk) == data
    assert unpack_bytes(Unseekable(blob), mk) == data
    assert qltx.seek_extract(blob, 5 * BS - 3, 10, mk) == data[5 * BS - 3:5 * BS + 7]
    assert qltx.info(blob)["header_patched"] is False


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=5 * 4096 + 100), bs=st.sampled_from([4096, 8192]),
       cipher=st.sampled_from(CIPHERS), permute=st.booleans(), workers=st.integers(1, 3))
def test_roundtrip_property(data, bs, cipher, permute, workers):
    mk = qltx.random_master_key()
    blob, _ = pack_bytes(data, mk, block_size=bs, cipher_id=cipher, permute=permute, workers=workers)
    assert unpack_bytes(blob, mk, workers=workers) == data
    assert unpack_bytes(Unseekable(blob), mk) == data


def test_passphrase_roundtrip(mk):
    data = os.urandom(2 * BS)
    out = io.BytesIO()
    qltx.pack(data, out, passphrase="correct horse", block_size=BS)
    blob = out.getvalue()
    spec_check(blob)
    assert qltx.info(blob)["kdf"] == "argon2id"
    res = io.BytesIO()
    qltx.unpack(blob, res, passphrase="correct horse")
    assert res.getvalue() == data
    with pytest.raises(qltx.WrongKeyError, match="wrong key or passphrase"):
        qltx.unpack(blob, io.BytesIO(), passphrase="wrong horse")
    with pytest.raises(qltx.WrongKeyError):
        qltx.unpack(blob, io.BytesIO(), mk)


def test_wrong_key_is_reported_as_such(mk):
    blob, _ = pack_bytes(os.urandom(BS * 2), mk, block_size=BS)
    for fn in (lambda k: qltx.unpack(blob, io.BytesIO(), k), lambda k: qltx.seek_extract(blob, 0, 10, k),
               lambda k: qltx.unpack(Unseekable(blob), io.BytesIO(), k)):
        with pytest.raises(qltx.WrongKeyError, match="no identity or passphrase opens this container"):
            fn(qltx.random_master_key())


def test_misuse_raises_value_or_type_error(mk):
    with pytest.raises(ValueError):
        qltx.pack(b"x", io.BytesIO(), mk, block_size=1000)
    with pytest.raises(ValueError):
        qltx.pack(b"x", io.BytesIO(), mk, cipher_id=9)
    with pytest.raises(ValueError):
        qltx.pack(b"x", io.BytesIO(), b"short")
    with pytest.raises(TypeError):
        qltx.pack(b"x", io.BytesIO(), "a str key")
    with pytest.raises(ValueError):
        qltx.pack(b"x", io.BytesIO(), mk, workers=0)
    with pytest.raises(ValueError):
        qltx.pack(b"x", io.BytesIO())  # nobody could open it
    with pytest.raises(TypeError):
        qltx.pack(12345, io.BytesIO(), mk)


def test_not_a_container(mk):
    for blob in (b"", b"hello", b"PK\x03\x04" + bytes(600), bytes(1000)):
        with pytest.raises(qltx.QeltrixError):
            qltx.unpack(blob, io.BytesIO(), mk)
    with pytest.raises(qltx.NotAContainerError):
        qltx.unpack(b"PK\x03\x04" + bytes(600), io.BytesIO(), mk)


def test_device_output_is_written_in_place(tmp_path, mk):
    """/dev/null (any non-regular file) is written to directly, never replaced by a rename."""
    import stat

    blob, _ = pack_bytes(os.urandom(3 * BS), mk, block_size=BS)
    (tmp_path / "c.qltx").write_bytes(blob)
    qltx.pack(str(tmp_path / "c.qltx"), os.devnull, mk)
    qltx.unpack(str(tmp_path / "c.qltx"), os.devnull, mk)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_cut_stream_releases_every_authenticated_block_then_fails(mk):
    data = os.urandom(20 * BS)
    blob, _ = pack_bytes(data, mk, block_size=BS)
    cut = _core.decode_header61(blob[:256]).data_offset + 12 * (BS + 220) + 100  # inside block 12
    out = io.BytesIO()
    with pytest.raises(qltx.TruncatedError):
        qltx.unpack(Unseekable(blob[:cut]), out, mk, workers=4)
    assert out.getvalue() == data[:12 * BS]
