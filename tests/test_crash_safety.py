"""Crash safety: kill -9 at random moments, and a full disk, never leave partial output under the
output's name, never touch the input, and a rerun succeeds."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest

SIZE = 48 << 20


def _cli(args, cwd, **kw):
    env = dict(os.environ, QELTRIX_PASSPHRASE="crash test passphrase")
    return subprocess.Popen([sys.executable, "-m", "qeltrix", *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("crash")
    with open(d / "in.bin", "wb") as f:
        for _ in range(SIZE >> 20):
            f.write(os.urandom(1 << 20))
    p = _cli(["pack", "in.bin", "c.qltx", "--block-size", "256"], d)
    p.communicate(timeout=120)
    assert p.returncode == 0
    return d


def _assert_complete(work, op, out, expected, trial):
    if op == "pack":
        q = _cli(["unpack", out.name, "-"], work)
        data, _ = q.communicate(timeout=120)
        assert q.returncode == 0 and hashlib.sha256(data).hexdigest() == expected, f"trial {trial}: partial container"
    else:
        assert _sha(out) == expected, f"trial {trial}: partial plaintext under {out.name}"


@pytest.mark.parametrize("op", ["pack", "unpack", "stream"])
def test_kill_9_at_random_moments(work, op):
    rng = random.Random(op)
    src = "in.bin" if op == "pack" else "c.qltx"
    src_hash = _sha(work / src)
    expected = _sha(work / "in.bin")
    args = {"pack": ["pack", "in.bin", "out.qltx", "--force"],
            "unpack": ["unpack", "c.qltx", "out.bin", "--force"],
            "stream": ["unpack", "c.qltx", "out.bin", "--stream", "--force"]}[op]
    out = work / args[2]
    for trial in range(6):
        if out.exists():
            out.unlink()
        p = _cli(args, work)
        time.sleep(rng.uniform(0.05, 0.6))
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        # Either nothing stands under the output's name, or the whole, verified output does (the
        # kill came after the rename).
        if out.exists():
            _assert_complete(work, op, out, expected, trial)
        assert _sha(work / src) == src_hash  # the input is never modified
    p = _cli(args, work)
    p.communicate(timeout=120)
    assert p.returncode == 0
    if op == "pack":
        q = _cli(["unpack", "out.qltx", "check.bin", "--force"], work)
        q.communicate(timeout=120)
        assert _sha(work / "check.bin") == expected
    else:
        assert _sha(out) == expected
    for f in work.iterdir():  # leftovers of killed runs are hidden temporary files, never the output
        if f.name.endswith(".part"):
            f.unlink()


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs for the disk-full test: {r.stderr.decode().strip()}")
        pytest.skip("cannot mount a tmpfs (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("op", ["pack", "unpack"])
def test_disk_full(work, tiny_disk, op):
    out = str(tiny_disk / ("x.qltx" if op == "pack" else "x.bin"))
    args = ["pack", "in.bin", out] if op == "pack" else ["unpack", "c.qltx", out]
    p = _cli(args, work)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 5, err
    lines = err.decode().strip().splitlines()
    assert lines == [f"qeltrix: {out}: disk full"], lines  # the output as given, not its temporary file
    assert os.listdir(tiny_disk) == []  # neither the output nor a temporary file is left
