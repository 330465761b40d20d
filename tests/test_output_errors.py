"""Every output error names the output the user typed and the reason, never the temporary file
it is written through (``.<name>.<random>.part``), and leaves nothing behind: for each command
that writes, for paths and ``file://`` URLs, for a missing folder, a file where a folder should
be, a folder given as the output, permission denied, a full disk and the file size limit."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile

import pytest

EXIT_IO = 5
PASS = "correct horse battery"


def run(cwd, *args, preexec=None, user=None):
    env = dict(os.environ, QELTRIX_PASSPHRASE=PASS)
    ids = {} if user is None else {"user": user, "group": user, "extra_groups": []}
    return subprocess.run([sys.executable, "-m", "qeltrix", *map(str, args)], cwd=cwd, env=env, input=b"",
                          capture_output=True, timeout=120, preexec_fn=preexec, **ids)


def check(p, shown: str, reason: str):
    """One line, exit 5, naming ``shown`` and ``reason``, no temporary name."""
    err = p.stderr.decode()
    assert b"Traceback" not in p.stderr, err
    assert p.returncode == EXIT_IO, (p.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0] == f"qeltrix: {shown}: {reason}", lines[0]
    assert ".part" not in err and ".qeltrix-unpack" not in err


def leftovers(d) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.endswith(".part") or n.startswith(".qeltrix"))


@pytest.fixture
def work(tmp_path):
    (tmp_path / "in.bin").write_bytes(os.urandom(300_000))
    assert run(tmp_path, "pack", "-q", "--block-size", "64", "in.bin", "c.qltx").returncode == 0
    return tmp_path


# (command line with OUT where the output goes)
WRITERS = [
    ("pack", "-q", "in.bin", "OUT"),
    ("unpack", "-q", "c.qltx", "OUT"),
    ("unpack", "-q", "--stream", "c.qltx", "OUT"),
    ("seek", "-q", "c.qltx", "--offset", "5", "--length", "299000", "-o", "OUT"),
    ("keygen", "-q", "OUT"),
]
IDS = ["pack", "unpack", "unpack-stream", "seek", "keygen"]


@pytest.mark.parametrize("argv", WRITERS, ids=IDS)
def test_missing_folder(work, argv):
    p = run(work, *[("missing-dir/out.x" if a == "OUT" else a) for a in argv])
    check(p, "missing-dir/out.x", "directory missing-dir does not exist")


@pytest.mark.parametrize("argv", WRITERS, ids=IDS)
def test_a_file_where_a_folder_should_be(work, argv):
    p = run(work, *[("in.bin/out.x" if a == "OUT" else a) for a in argv])
    check(p, "in.bin/out.x", "in.bin is not a directory")


@pytest.mark.parametrize("argv", WRITERS[:4], ids=IDS[:4])
def test_a_folder_as_the_output(work, argv):
    (work / "sub").mkdir()
    p = run(work, *[("sub" if a == "OUT" else a) for a in argv])
    check(p, "sub", "is a directory (give a file name)")
    assert os.listdir(work / "sub") == []


@pytest.mark.parametrize("argv", WRITERS[:3], ids=IDS[:3])
def test_file_urls(work, argv):
    url = (work / "missing-dir" / "out.x").as_uri()
    p = run(work, *[(url if a == "OUT" else a) for a in argv])
    check(p, url, f"directory {work / 'missing-dir'} does not exist")


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))


@pytest.mark.parametrize("argv", WRITERS[:4], ids=IDS[:4])
def test_file_size_limit(work, argv):
    p = run(work, *[("out.x" if a == "OUT" else a) for a in argv], preexec=_limit_file_size)
    check(p, "out.x", "file too large (file size limit)")
    assert not (work / "out.x").exists() and leftovers(work) == []


@pytest.mark.parametrize("argv", WRITERS, ids=IDS)
def test_permission_denied(work, argv):
    """As an unprivileged user (root writes anywhere: the test then runs the command as nobody)."""
    d = tempfile.mkdtemp(prefix="qltx-perm-")
    try:
        os.chmod(d, 0o755)
        for n in ("in.bin", "c.qltx"):
            shutil.copy(work / n, d)
            os.chmod(os.path.join(d, n), 0o644)
        ro = os.path.join(d, "ro")
        os.mkdir(ro)
        os.chmod(ro, 0o555)
        user = None
        if os.geteuid() == 0:
            user = 65534
            try:
                ok = run(d, "--version", user=user).returncode == 0
            except OSError:
                ok = False
            if not ok:
                pytest.skip("user nobody cannot run this Python and the installed qeltrix here")
        p = run(d, *[("ro/out.x" if a == "OUT" else a) for a in argv], user=user)
        check(p, "ro/out.x", "permission denied (cannot write in ro)")
        assert os.listdir(ro) == []
    finally:
        shutil.rmtree(d)


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    p = subprocess.run(["unshare", "-rm", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d"],
                       capture_output=True)
    return p.returncode == 0


@pytest.mark.parametrize("argv", WRITERS[:4], ids=IDS[:4])
def test_disk_full(work, argv):
    """A 128 KiB tmpfs in a private mount namespace (unshare): the 300 kB output does not fit."""
    if not _can_mount_tmpfs():
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    (work / "small").mkdir()
    line = [sys.executable, "-m", "qeltrix", *[("small/out.x" if a == "OUT" else a) for a in argv]]
    script = 'mount -t tmpfs -o size=128k tmpfs small || exit 99; "$@"; rc=$?; ls -A small >&2; exit $rc'
    env = dict(os.environ, QELTRIX_PASSPHRASE=PASS)
    p = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *line], cwd=work, env=env, input=b"",
                       capture_output=True, timeout=120)
    assert p.returncode != 99, p.stderr
    # what ls printed after the error line: nothing (no output, no temporary file)
    check(p, "small/out.x", "disk full")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    from motoserver import moto_s3

    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.mark.parametrize("argv", WRITERS[:3], ids=IDS[:3])
def test_s3_missing_bucket(work, s3, argv):
    from motoserver import CHILD_ENV

    url = "s3://no-such-bucket/out.qltx"
    env = dict(os.environ, QELTRIX_PASSPHRASE=PASS, FSSPEC_S3_ENDPOINT_URL=s3, **CHILD_ENV)
    p = subprocess.run([sys.executable, "-m", "qeltrix", *[(url if a == "OUT" else a) for a in argv]], cwd=work,
                       env=env, input=b"", capture_output=True, timeout=120)
    check(p, url, "bucket or folder s3://no-such-bucket does not exist")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("argv", WRITERS[1:4], ids=IDS[1:4])
def test_a_full_device(work, argv):
    """A device is written straight (no temporary file): its errors name it too. (Not pack:
    /dev/full is seekable, and pack's header patch writes through the file object itself.)"""
    p = run(work, *[("/dev/full" if a == "OUT" else a) for a in argv])
    check(p, "/dev/full", "disk full")
