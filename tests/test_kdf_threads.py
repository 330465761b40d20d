"""Passphrase work from many threads at once finishes (library, gateway, server).

Reproduction of the deadlock this guards against (cryptography 50.0.2 with its OpenSSL 4.0.3, on
a 2-core machine)::

    import os, threading
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
    def f():
        Argon2id(salt=os.urandom(16), length=32, iterations=3, lanes=4,
                 memory_cost=65536).derive(b"pw")
    ts = [threading.Thread(target=f) for _ in range(2)]
    [t.start() for t in ts]; [t.join() for t in ts]      # never returns

Both derivations wait in OpenSSL's Argon2 thread pool (``ossl_crypto_thread_start`` under
``kdf_argon2_derive``), which ``cryptography`` caps at the number of cores, for threads the other
holds. Our default passphrase KDF is exactly that (Argon2id, t=3, 64 MiB, 4 lanes), so before the
process-wide KDF gate a decrypting gateway hung at its second simultaneous connection, and so did
any program opening passphrase containers from two threads.

Each scenario runs in a child process with the real default costs (the suite's
``QELTRIX_INSECURE_TEST_KDF`` uses one lane, which does not deadlock) and a deadline: a hang is a
failure, not a stuck test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

DEADLINE_S = 120  # 8 threads x 2 derivations x ~0.2 s each, serialised, with a wide margin

PRELUDE = """
import os, socket, sys, threading
os.environ.pop("QELTRIX_INSECURE_TEST_KDF", None)
import qeltrix as qltx
from qeltrix.crypto import ARGON2_DEFAULT

def run_threads(n, fn):
    errors, threads = [], []
    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # reported below
            errors.append(repr(e))
    for i in range(n):
        t = threading.Thread(target=wrap, args=(i,), daemon=True)
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
"""


def run_child(tmp_path, body: str) -> None:
    script = tmp_path / "child.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k != "QELTRIX_INSECURE_TEST_KDF"}
    try:
        r = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                           timeout=DEADLINE_S, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"passphrase work from 8 threads did not finish in {DEADLINE_S} s (deadlock)")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "OK" in r.stdout, r.stdout


def test_library_threads_pack_and_unpack_passphrase_containers(tmp_path):
    run_child(tmp_path, """
    import struct
    from qeltrix import _core
    from qeltrix.sources import open_random_access
    from qeltrix.keyring import decode_copies
    from qeltrix.reader import read_layout
    d = sys.argv[1]
    def one(i):
        data = os.urandom(5000 + i)
        src = os.path.join(d, f"in{i}")
        with open(src, "wb") as f:
            f.write(data)
        out = os.path.join(d, f"c{i}.qltx")
        qltx.pack(src, out, passphrase=f"pw{i}", block_size=4096)
        with open_random_access(out) as ra:
            layout = read_layout(ra)
        slot_type, body = decode_copies(layout.header, layout.keyring)[0].slots[0]
        assert slot_type == _core.SLOT_ARGON2ID
        assert struct.unpack(">III", body[16:28]) == ARGON2_DEFAULT, "the real default costs"
        assert qltx.seek_extract(out, 100, 50, passphrase=f"pw{i}") == data[100:150]
    run_threads(8, one)
    print("OK")
    """)


def test_decrypting_gateway_serves_eight_passphrase_connections_at_once(tmp_path):
    run_child(tmp_path, """
    from qeltrix.gateway import GatewayServer
    data = [os.urandom(9000 + i) for i in range(8)]
    # Eight streams from an encrypting gateway (one salt): the decrypting gateway derives its key
    # once, at start-up, from the same parameters (it never derives for a connection).
    enc = GatewayServer(passphrase="secret", listen_port=0, workers=4, flush_after=0.05)
    enc.start()
    blobs = []
    for i in range(8):
        with socket.create_connection(("127.0.0.1", enc.port), timeout=DEADLINE) as s:
            s.sendall(data[i])
            s.shutdown(socket.SHUT_WR)
            got = bytearray()
            while chunk := s.recv(1 << 16):
                got += chunk
        blobs.append(bytes(got))
    enc.stop(timeout=5)
    gw = GatewayServer(passphrase="secret", listen_port=0, decrypt=True, workers=4, kdf_params=enc.kdf_params)
    gw.start()
    go = threading.Barrier(8)
    def one(i):
        with socket.create_connection(("127.0.0.1", gw.port), timeout=DEADLINE) as s:
            go.wait()
            s.sendall(blobs[i])
            s.shutdown(socket.SHUT_WR)
            got = bytearray()
            while chunk := s.recv(1 << 16):
                got += chunk
        assert bytes(got) == data[i], (i, len(got))
    run_threads(8, one)
    gw.stop(timeout=5)
    print("OK")
    """.replace("DEADLINE", str(DEADLINE_S // 2)))


def test_servers_open_passphrase_containers_from_eight_threads(tmp_path):
    run_child(tmp_path, """
    from qeltrix.server import SeekServer
    import urllib.request
    d = sys.argv[1]
    paths = []
    for i in range(8):
        out = os.path.join(d, f"c{i}.qltx")
        qltx.pack(bytes([i]) * 10000, out, passphrase="secret", block_size=4096)
        paths.append(out)
    def one(i):
        with SeekServer(paths[i], port=0, passphrase="secret") as srv:
            url = srv.url.rstrip("/") + srv.paths[0]
            req = urllib.request.Request(url, headers={"Range": "bytes=10-19"})
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.read() == bytes([i]) * 10
    run_threads(8, one)
    print("OK")
    """)
