"""Keys as people hold them: recipients, identities, passphrases and raw keys in one keyring;
``rekey`` rewrites only the keyring, in place and crash-safely; ``keys`` lists the slots.

Keys come from the real ``age-keygen`` where a test is about age's keys (tests/test_recipients.py
holds the construction itself against the real ``age``)."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

import qeltrix as qltx
from qeltrix.errors import WrongKeyError
from qeltrix.recipients import X25519Identity
from qeltrix.rekey import keys, rekey, rotate

BS = 4096
PAYLOAD_FROM = None  # set per container: bytes after the keyring never change in a rekey


def cli(*args, env=None, input=None):
    e = dict(os.environ)
    e.pop("QELTRIX_PASSPHRASE", None)
    e.update(env or {})
    r = subprocess.run([sys.executable, "-m", "qeltrix", *map(str, args)], capture_output=True,
                       env=e, input=input, timeout=120)
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r  # stdout stays bytes (plaintext)


def keygen(tmp_path, name):
    tool = shutil.which("age-keygen")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("age-keygen is not installed (see .ci/run)")
        pytest.skip("age-keygen is not installed")
    path = tmp_path / f"{name}.txt"
    r = subprocess.run([tool, "-o", str(path)], capture_output=True, text=True, check=True, timeout=30)
    return path, r.stderr.strip().removeprefix("Public key: ")


def opens(path, **keys_) -> bool:
    try:
        return qltx.seek_extract(path, 0, 10, **keys_) is not None
    except WrongKeyError:
        return False


def data_offset(path) -> int:
    from qeltrix import _core

    with open(path, "rb") as f:
        return _core.decode_header61(f.read(256)).data_offset


def test_age_keygen_keys_and_several_recipients(tmp_path):
    (a_file, a_pub), (b_file, b_pub), (c_file, _c_pub) = (keygen(tmp_path, n) for n in "abc")
    data = os.urandom(20000)
    (tmp_path / "in.bin").write_bytes(data)
    rfile = tmp_path / "recipients.txt"
    rfile.write_text(f"# bob\n{b_pub}\n\n")
    r = cli("pack", tmp_path / "in.bin", tmp_path / "x.qltx", "-r", a_pub, "-R", rfile, "-q")
    assert r.returncode == 0, r.stderr
    for ident in (a_file, b_file):
        r = cli("unpack", tmp_path / "x.qltx", tmp_path / "out.bin", "-i", ident, "-f", "-q")
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "out.bin").read_bytes() == data
    r = cli("unpack", tmp_path / "x.qltx", tmp_path / "no.bin", "-i", c_file)
    assert r.returncode == 3 and "no identity or passphrase opens this container" in r.stderr
    assert not (tmp_path / "no.bin").exists()
    # $QELTRIX_IDENTITY, and seek/verify take identities too
    r = cli("seek", tmp_path / "x.qltx", "--offset", 5, "--length", 7, env={"QELTRIX_IDENTITY": str(b_file)})
    assert r.returncode == 0 and r.stdout == data[5:12], r.stderr
    r = cli("verify", tmp_path / "x.qltx", "-i", a_file)
    assert r.returncode == 0 and b"every MAC" in r.stdout


def test_bad_recipient_and_identity_files_name_file_and_line(tmp_path):
    (tmp_path / "in.bin").write_bytes(b"x")
    bad = tmp_path / "r.txt"
    bad.write_text("# ok\nage1notarecipient\n")
    r = cli("pack", tmp_path / "in.bin", tmp_path / "x.qltx", "-R", bad)
    assert r.returncode == 2 and "r.txt:2" in r.stderr and "Traceback" not in r.stderr
    r = cli("pack", tmp_path / "in.bin", tmp_path / "x.qltx", "-r", "age1xyz")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    ids = tmp_path / "i.txt"
    ids.write_text("AGE-SECRET-KEY-1NOPE\n")
    r = cli("unpack", tmp_path / "x.qltx", "-i", ids)
    assert r.returncode == 2 and "i.txt:1" in r.stderr


def test_rekey_add_remove_change(tmp_path, mk):
    alice, bob = X25519Identity.generate(), X25519Identity.generate()
    data = os.urandom(50 * BS)
    path = tmp_path / "r.qltx"
    qltx.pack(data, path, mk, block_size=BS)
    before = path.read_bytes()
    start = data_offset(path)

    r = rekey(path, mk, add_recipients=[alice.recipient], add_passphrase="old pass")
    assert (r.added, r.removed, r.slots) == (2, 0, 3) and r.bytes_written <= 64 * 1024
    assert opens(path, identities=[alice]) and opens(path, passphrase="old pass") and opens(path, master_key=mk)
    assert not opens(path, identities=[bob])

    rekey(path, identities=[alice], add_recipients=[str(bob.recipient)], remove_master_key=mk)
    assert opens(path, identities=[bob]) and not opens(path, master_key=mk)

    # change the passphrase: add the new one, remove the old one
    rekey(path, passphrase="old pass", add_passphrase="new pass", remove_passphrase="old pass")
    assert opens(path, passphrase="new pass") and not opens(path, passphrase="old pass")

    rekey(path, identities=[bob], remove_recipients=[alice.recipient])
    assert not opens(path, identities=[alice]) and opens(path, identities=[bob])

    after = path.read_bytes()
    assert after[:256] == before[:256] and after[start:] == before[start:]  # header and payload untouched
    assert qltx.unpack(path, io.BytesIO(), identities=[bob]).integrity_ok

    rep = keys(path, identities=[bob])
    assert rep.opened and sorted(s.kind for s in rep.slots) == ["argon2id", "x25519"]
    assert [s.recipient for s in rep.slots if s.kind == "x25519"] == [str(bob.recipient)]
    rep = keys(path)
    assert not rep.opened and rep.free == 14 and [s.recipient for s in rep.slots] == [None, None]


def test_rekey_refusals(tmp_path, mk):
    path = tmp_path / "r.qltx"
    qltx.pack(b"abc", path, mk, keyring_slots=2)
    with pytest.raises(ValueError, match="last key slot"):
        rekey(path, mk, remove_master_key=mk)
    rekey(path, mk, add_passphrase="p")
    with pytest.raises(ValueError, match="keyring-slots"):
        rekey(path, mk, add_recipients=[X25519Identity.generate().recipient])
    with pytest.raises(WrongKeyError):
        rekey(path, os.urandom(32), add_passphrase="q")
    with pytest.raises(ValueError, match="nothing to change"):
        rekey(path, mk)


def test_rekey_cli_and_keys_listing(tmp_path, mk):
    (tmp_path / "k").write_bytes(mk)
    (tmp_path / "pw").write_text("hunter two\n")
    (tmp_path / "in.bin").write_bytes(b"hello" * 1000)
    assert cli("pack", tmp_path / "in.bin", tmp_path / "x.qltx", "--key-file", tmp_path / "k", "-q").returncode == 0
    ident = X25519Identity.generate()
    (tmp_path / "id.txt").write_text(ident.encode() + "\n")
    r = cli("rekey", tmp_path / "x.qltx", "--key-file", tmp_path / "k", "--add-recipient", str(ident.recipient),
            "--add-passphrase", env={"QELTRIX_NEW_PASSPHRASE": "hunter two"})
    assert r.returncode == 0, r.stderr
    r = cli("keys", tmp_path / "x.qltx")
    assert r.returncode == 0 and all(k in r.stdout for k in (b"raw", b"x25519", b"argon2id")), r.stdout
    assert str(ident.recipient).encode() not in r.stdout
    r = cli("keys", tmp_path / "x.qltx", "-i", tmp_path / "id.txt")
    assert str(ident.recipient).encode() in r.stdout
    r = cli("rekey", tmp_path / "x.qltx", "-i", tmp_path / "id.txt", "--remove-key-file", tmp_path / "k")
    assert r.returncode == 0, r.stderr
    r = cli("unpack", tmp_path / "x.qltx", "-", "--key-file", tmp_path / "k")
    assert r.returncode == 3
    r = cli("unpack", tmp_path / "x.qltx", "-", "--passphrase-file", tmp_path / "pw")
    assert r.returncode == 0 and r.stdout == b"hello" * 1000


def test_rotate_makes_a_new_file_secret(tmp_path, mk):
    data = os.urandom(30 * BS)
    path = tmp_path / "r.qltx"
    qltx.pack(data, path, mk, block_size=BS, name="orig.bin")
    old_id = qltx.info(path)["container_id"]
    new = os.urandom(32)
    rotate(path, mk, new_master_key=new)
    assert qltx.info(path)["container_id"] != old_id
    assert not opens(path, master_key=mk)
    out = io.BytesIO()
    r = qltx.unpack(path, out, new)
    assert out.getvalue() == data and r.name == "orig.bin"


def test_short_writes_leave_old_or_new(tmp_path, mk):
    """A rekey whose writes stop short at any byte: the container opens with the old set or the new."""
    new = os.urandom(32)
    path = tmp_path / "c.qltx"
    qltx.pack(os.urandom(3 * BS), path, mk, block_size=BS)
    pristine = path.read_bytes()
    from qeltrix.rekey import _write_at

    seen = set()
    for cut in range(0, 2 * 2104, 97):
        path.write_bytes(pristine)
        written = [0]

        def short(fd, offset, data, cut=cut):
            take = max(0, min(len(data), cut - written[0]))
            _write_at(fd, offset, data[:take])
            written[0] += take
            if take < len(data):
                raise OSError("disk full (injected)")

        with pytest.raises(OSError) if cut < 2 * 2104 else _nothing():
            rekey(path, mk, add_master_key=new, remove_master_key=mk, _write=short)
        old, fresh = opens(path, master_key=mk), opens(path, master_key=new)
        assert old or fresh, cut
        seen.add((bool(old), bool(fresh)))
    # the cuts fell on both sides of the switch: some left the old key set, some the new
    assert (True, False) in seen and (False, True) in seen, seen


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


KILLER = """
import sys
from qeltrix.errors import WrongKeyError
from qeltrix.rekey import rekey
path, k1, k2 = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
print("ready", flush=True)
while True:  # swap the only key back and forth until killed
    try:
        rekey(path, k1, add_master_key=k2, remove_master_key=k1)
    except WrongKeyError:
        rekey(path, k2, add_master_key=k1, remove_master_key=k2)
"""


def test_kill_9_at_random_instants_during_rekey(tmp_path, mk):
    k2 = os.urandom(32)
    path = tmp_path / "k.qltx"
    qltx.pack(os.urandom(3 * BS), path, mk, block_size=BS)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    rng = random.Random(1234)
    for _ in range(12):
        with subprocess.Popen([sys.executable, str(script), str(path), mk.hex(), k2.hex()],
                              stdout=subprocess.PIPE) as p:
            assert p.stdout.readline().strip() == b"ready"
            time.sleep(rng.uniform(0.0, 0.3))  # a random instant of the rekey loop
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
        assert opens(path, master_key=mk) or opens(path, master_key=k2)


class CountingProxy:
    """A TCP relay on 127.0.0.1 in front of a server, counting the bytes each way."""

    def __init__(self, port: int):
        import socket
        import threading

        self.target = port
        self.up = self.down = 0
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        import socket
        import threading

        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            s = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(c, s, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, "down"), daemon=True).start()

    def _pump(self, a, b, way):
        try:
            while chunk := a.recv(1 << 16):
                with self._lock:
                    setattr(self, way, getattr(self, way) + len(chunk))
                b.sendall(chunk)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(2)  # the other direction's pump sees the end and closes its side
            except OSError:
                pass
            a.close()

    def reset(self):
        with self._lock:
            self.up = self.down = 0

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def test_s3_rekey_moves_only_the_head(tmp_path, mk):
    """A rekey of an object in S3 (moto): one multipart upload, the new header and keyring in its
    5 MiB first part, the rest copied server-side: the payload is neither downloaded nor uploaded."""
    import fsspec
    from motoserver import BUCKET, moto_s3

    data = os.urandom(24 << 20)
    url = f"s3://{BUCKET}/rekey.qltx"
    with moto_s3(tmp_path) as endpoint:
        proxy = CountingProxy(int(endpoint.rsplit(":", 1)[1]))
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setitem(fsspec.config.conf["s3"], "endpoint_url", f"http://127.0.0.1:{proxy.port}")
                qltx.pack(data, url, mk)
                before = fsspec.filesystem("s3").cat_file(url)
                proxy.reset()
                r = rekey(url, mk, add_passphrase="a new way in")
                up, down = proxy.up, proxy.down
                after = fsspec.filesystem("s3").cat_file(url)
                assert qltx.seek_extract(url, 20 << 20, 1000, passphrase="a new way in") == data[20 << 20:(20 << 20) + 1000]
            start = data_offset_bytes(before)
            assert after[:256] == before[:256] and after[start:] == before[start:] and after != before
            assert r.added == 1 and r.slots == 2
            assert up <= 6 << 20 and down <= 6 << 20, (up, down)
            with pytest.raises(ValueError, match="read-only"):
                rekey("https://example.invalid/x.qltx", mk, add_passphrase="x")
        finally:
            proxy.close()


def data_offset_bytes(blob: bytes) -> int:
    from qeltrix import _core

    return _core.decode_header61(blob[:256]).data_offset
