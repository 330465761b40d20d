"""No client chooses a KDF (issue 12, "Work an attacker chooses"): a decrypting gateway derives its
key once, at start-up, from a raw key or a passphrase with the operator's KDF parameters, and
refuses a stream whose header names other parameters without running a KDF."""

from __future__ import annotations

import os
import struct
import socket
import subprocess
import sys
import threading
import time

import pytest

import qeltrix as qltx
from qeltrix import _core
from qeltrix.crypto import KDF_ARGON2ID, ARGON2_MAX_M_KIB, ARGON2_MAX_P, ARGON2_MAX_T, KdfParams
from qeltrix.gateway import StartupKey, load_kdf_params, save_kdf_params

from test_abuse import Crowd, Served, reflect
from streams import decrypt_reply

BS = 4096


def _encrypt(data: bytes, **kw) -> tuple[bytes, KdfParams]:
    with qltx.GatewayServer(listen_port=0, block_size=BS, flush_after=0.05, **kw) as enc:
        return reflect(enc.port, data), enc.kdf_params


def _head_size(blob: bytes) -> int:
    """Bytes before block 0: the 6.1 header and keyring (or a 6.0 header)."""
    if _core.header_version(blob) == _core.VERSION_6_0:
        return _core.HEADER_SIZE
    return _core.decode_header61(blob[:_core.HEADER61_SIZE]).data_offset


def _max_cost_header(blob: bytes) -> bytes:
    """A stream's header (and keyring) claiming the most expensive Argon2id a reader accepts, with
    a fresh salt: in 6.0 the header's KDF fields, in 6.1 the passphrase slot of both copies."""
    if _core.header_version(blob) == _core.VERSION_6_0:
        h = _core.decode_header(blob[:_core.HEADER_SIZE])
        h.kdf_id, h.kdf_salt = KDF_ARGON2ID, os.urandom(16)
        h.kdf_t, h.kdf_m, h.kdf_p = ARGON2_MAX_T, ARGON2_MAX_M_KIB, ARGON2_MAX_P
        return _core.encode_header(h)
    h = _core.decode_header61(blob[:_core.HEADER61_SIZE])
    head = bytearray(blob[:h.data_offset])
    salt = os.urandom(16)
    for copy in (0, 1):
        at = _core.HEADER61_SIZE + copy * h.keyring_copy_size + _core.KEYRING_HEAD_SIZE
        for slot in range(h.keyring_slots):
            s = at + slot * _core.SLOT_SIZE
            if head[s] == _core.SLOT_ARGON2ID:
                head[s + 4:s + 20] = salt
                head[s + 20:s + 32] = struct.pack(">III", ARGON2_MAX_T, ARGON2_MAX_M_KIB, ARGON2_MAX_P)
    return bytes(head)


def test_decrypting_gateway_opens_only_its_configured_parameters(tmp_path):
    data = os.urandom(20_000)
    blob, params = _encrypt(data, passphrase="pw")
    other, other_params = _encrypt(data, passphrase="pw")  # same passphrase, another salt
    assert other_params != params
    with qltx.GatewayServer(passphrase="pw", decrypt=True, kdf_params=params, listen_port=0,
                            block_size=BS) as dec:
        assert decrypt_reply(dec.port, blob) == (data, False)
        out, reset = decrypt_reply(dec.port, other)
        assert out == b"" and reset
        out, reset = decrypt_reply(dec.port, _max_cost_header(blob) + blob[_head_size(blob):])
        assert out == b"" and reset
        assert decrypt_reply(dec.port, blob) == (data, False)


def test_startup_key_matches_without_a_kdf():
    params = KdfParams(KDF_ARGON2ID, os.urandom(16), 1, 64, 1)
    key = StartupKey(passphrase="pw", kdf_params=params)
    assert key.match(None, params) == StartupKey(passphrase="pw", kdf_params=params).match(None, params)
    with pytest.raises(qltx.WrongKeyError, match="refused without running a KDF"):
        key.match(None, params._replace(salt=os.urandom(16)))
    with pytest.raises(qltx.WrongKeyError, match="refused without running a KDF"):
        key.match(None, params._replace(m=ARGON2_MAX_M_KIB))
    with pytest.raises(qltx.WrongKeyError):
        StartupKey(os.urandom(32)).match(None, params)
    with pytest.raises(ValueError, match="KDF parameters"):
        StartupKey(passphrase="pw")
    with pytest.raises(ValueError):
        qltx.GatewayServer(passphrase="pw", decrypt=True)


def test_kdf_params_file_and_container_as_reference(tmp_path):
    data = os.urandom(5000)
    blob, params = _encrypt(data, passphrase="pw")
    path = tmp_path / "kdf.json"
    save_kdf_params(path, params)
    assert load_kdf_params(path) == params
    with pytest.raises(FileExistsError):
        save_kdf_params(path, params)
    (tmp_path / "ref.qltx").write_bytes(blob)
    assert load_kdf_params(tmp_path / "ref.qltx") == params
    (tmp_path / "junk").write_bytes(b"{not json")
    with pytest.raises(ValueError):
        load_kdf_params(tmp_path / "junk")


def test_cli_gateway_kdf_params(tmp_path):
    (tmp_path / "pw").write_text("secret\n")
    run = [sys.executable, "-m", "qeltrix", "gateway", "--port", "0", "--passphrase-file", str(tmp_path / "pw")]
    r = subprocess.run(run + ["--decrypt"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--kdf-params" in r.stderr
    (tmp_path / "k").write_bytes(os.urandom(32))
    r = subprocess.run([sys.executable, "-m", "qeltrix", "gateway", "--port", "0", "--key-file",
                        str(tmp_path / "k"), "--kdf-params", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "passphrase" in r.stderr
    # encrypting: writes the file, then stops on SIGTERM
    p = subprocess.Popen(run + ["--kdf-params", str(tmp_path / "kdf.json")], stderr=subprocess.PIPE, text=True)
    try:
        lines = [p.stderr.readline(), p.stderr.readline()]
        assert "wrote the KDF parameters" in lines[0] and "listening" in lines[1], lines
        assert load_kdf_params(tmp_path / "kdf.json").kdf_id == KDF_ARGON2ID
    finally:
        p.terminate()
        assert p.wait(30) == 0  # a graceful stop
        p.stderr.close()


@pytest.mark.slow
def test_64_connections_with_max_cost_headers_buy_no_kdf():
    """64 connections, each a header claiming Argon2id at the reader's caps (1 GiB, 16 passes,
    16 lanes) with its own salt: the gateway runs no KDF for any (its CPU time and RSS stay near
    idle; before, each one cost a 1 GiB derivation), and honest clients are served meanwhile."""
    data = os.urandom(30_000)
    params = KdfParams(KDF_ARGON2ID, os.urandom(16), 1, 64, 1)
    blob, _ = _encrypt(data, passphrase="pw", kdf_params=params)
    evil = _max_cost_header(blob) + os.urandom(2000)
    with Served("gateway", passphrase="pw", kdf_params=[params.kdf_id, params.salt.hex(), params.t, params.m,
                                                        params.p],
                decrypt=True, block_size=BS, workers=2, max_connections=80) as srv:
        cpu0 = _cpu_seconds(srv.p.pid)
        with Crowd() as crowd:
            crowd.connect(srv.port, 64)
            crowd.send_all(evil)
            for s in crowd.socks:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            served = []
            t = threading.Thread(target=lambda: served.append(decrypt_reply(srv.port, blob)))
            t.start()
            deadline = time.monotonic() + 30
            while crowd.closed_by_server() < len(crowd.socks) and time.monotonic() < deadline:
                time.sleep(0.05)
            t.join(30)
            assert crowd.closed_by_server() == len(crowd.socks)  # every one refused
        assert served == [(data, False)]
        cpu = _cpu_seconds(srv.p.pid) - cpu0
        srv.record("gateway --decrypt: 64 connections with max-cost KDF headers", cpu_s=round(cpu, 2))
        assert srv.peak_rss - srv.base_rss < 64 << 20  # one 1 GiB Argon2id would be 16x this
        assert cpu < 5.0  # one Argon2id at the caps is ~10 s of CPU; 64 of them, minutes


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
