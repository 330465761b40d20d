"""``qeltrix mount``: real programs (cmp, sqlite3, ffprobe/ffmpeg, unzip, tar, grep) on a real
FUSE mount of containers, from a folder, an nginx-served folder and a moto S3 bucket; write-once
new files; damaged blocks, wrong keys, kill -9. Every mount is unmounted by a finalizer. Skipped
where FUSE is missing, except under CI (which installs fuse3: see .ci/run)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest

import qeltrix
from nginxserver import Nginx, require_nginx

MiB = 1 << 20
BS = 64 << 10  # small blocks: many of them in small files


def _fuse_missing() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if not shutil.which("fusermount3"):
        return "fusermount3 is missing (Debian: fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as e:
        return f"mfusepy or libfuse is missing: {e}"
    return None


@pytest.fixture(scope="module", autouse=True)
def need_fuse():
    why = _fuse_missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI must install it: see .ci/run)")
        pytest.skip(why)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (CI must install it: see .ci/run)")
        pytest.skip(f"{tool} is not installed")
    return path


class Mounted:
    def __init__(self, proc, mountpoint, log):
        self.proc = proc
        self.mp = str(mountpoint)
        self.log_path = log

    def path(self, *parts) -> str:
        return os.path.join(self.mp, *parts)

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def unmount(self) -> None:
        """fusermount3 -u, then wait for the mount process to end by itself."""
        subprocess.run(["fusermount3", "-u", self.mp], check=True, timeout=30)
        self.proc.wait(timeout=30)


def _cli(*args, env=None, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "qeltrix", *map(str, args)], env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)


@pytest.fixture
def mounter(tmp_path):
    """``mount(source, key_file, *options, env=None) -> Mounted``, waiting until it is mounted;
    every mount is unmounted and its process ended afterwards, whatever happened."""
    made = []

    def mount(source, key_file, *options, env=None, expect_fail=False):
        mp = tmp_path / f"mnt{len(made)}"
        mp.mkdir()
        log = tmp_path / f"mount{len(made)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "qeltrix", "mount", str(source), str(mp),
                                     "--key-file", str(key_file), *options],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        m = Mounted(proc, mp, log)
        made.append(m)
        deadline = time.monotonic() + 60
        while not os.path.ismount(mp):
            if proc.poll() is not None:
                if expect_fail:
                    return m
                pytest.fail(f"the mount process ended ({proc.returncode}): {m.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"not mounted after 60 s: {m.log()}")
            time.sleep(0.05)
        return m

    yield mount
    for m in made:
        if os.path.ismount(m.mp):
            subprocess.run(["fusermount3", "-u", "-z", m.mp], timeout=30)
        if m.proc.poll() is None:
            m.proc.terminate()
            try:
                m.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait()


# -- the plaintexts and their containers ----------------------------------------------------------

def _plain_files(d) -> dict:
    """name -> bytes of every plaintext (made with the programs that will read them back)."""
    files = {}
    files["random.bin"] = os.urandom(3 * MiB + 12345)
    db = os.path.join(d, "db.sqlite")
    con = sqlite3.connect(db)
    con.execute("create table t (id integer primary key, v integer, s text)")
    con.executemany("insert into t values (?, ?, ?)", ((i, i * i % 1000, f"row {i}") for i in range(60000)))
    con.execute("create index tv on t(v)")
    con.commit()
    con.close()
    with open(db, "rb") as f:
        files["db.sqlite"] = f.read()
    zpath = os.path.join(d, "arch.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(20):
            z.writestr(f"member{i:02}.txt", (f"line {i}\n" * (2000 * (i + 1))).encode())
    tpath = os.path.join(d, "arch.tar")
    with tarfile.open(tpath, "w") as t:
        for i in range(10):
            info = tarfile.TarInfo(f"dir/file{i}.bin")
            data = os.urandom(100_000 + i)
            info.size = len(data)
            import io

            t.addfile(info, io.BytesIO(data))
    for name, path in (("arch.zip", zpath), ("arch.tar", tpath)):
        with open(path, "rb") as f:
            files[name] = f.read()
    return files


def _video(d) -> bytes | None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    out = os.path.join(d, "clip.mkv")
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=10:size=320x240:rate=25",
                    "-c:v", "mpeg4", "-g", "25", "-q:v", "5", out], check=True, timeout=120)
    with open(out, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A folder of containers (and one plain file, skipped), the plaintexts beside it."""
    base = tmp_path_factory.mktemp("corpus")
    plain, src = base / "plain", base / "src"
    plain.mkdir()
    (src / "sub").mkdir(parents=True)
    key = qeltrix.random_master_key()
    key_file = base / "k.key"
    key_file.write_bytes(key)
    files = _plain_files(plain)
    video = _video(plain)
    if video is not None:
        files["clip.mkv"] = video
    files["sub/a.txt"] = "".join(f"alpha {i}\nbeta {i}\n" for i in range(50000)).encode()
    files["sub/b.txt"] = "".join(f"beta {i}\n" for i in range(30000)).encode()
    stored_mtime = 1_600_000_000
    for rel, data in files.items():
        p = plain / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (stored_mtime, stored_mtime))
        qeltrix.pack(str(p), str(src / (rel.replace(".", "_") + ".qltx")), key, block_size=BS)
    # two containers that hold the same name, and one that holds none
    (plain / "same.txt").write_bytes(b"first\n")
    qeltrix.pack(str(plain / "same.txt"), str(src / "one.qltx"), key, block_size=BS)
    other = b"second, longer\n"
    qeltrix.pack(other, str(src / "two.qltx"), key, block_size=BS, name="same.txt")
    qeltrix.pack(b"no name\n", str(src / "noname.qltx"), key, block_size=BS)
    (src / "notes.md").write_text("not a container\n")
    return {"base": base, "plain": plain, "src": src, "key": key, "key_file": key_file, "files": files,
            "other": other, "mtime": stored_mtime}


def _sha(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


# -- reading ------------------------------------------------------------------------------------

def test_every_file_compares_equal_with_names_sizes_and_mtimes(corpus, mounter):
    m = mounter(corpus["src"], corpus["key_file"])
    names = sorted(os.listdir(m.mp))
    expected = sorted([r for r in corpus["files"] if "/" not in r] + ["sub", "same.txt", "same [two.qltx].txt",
                                                                         "noname"])
    assert names == expected
    assert "notes.md" not in names
    for rel, data in corpus["files"].items():
        p = m.path(rel)
        st = os.stat(p)
        assert st.st_size == len(data), rel
        assert int(st.st_mtime) == corpus["mtime"], rel
        assert not st.st_mode & 0o222, rel  # existing files are read-only
        subprocess.run(["cmp", str(corpus["plain"] / rel), p], check=True, timeout=60)
    with open(m.path("same.txt"), "rb") as f:
        assert f.read() == b"first\n"
    with open(m.path("same [two.qltx].txt"), "rb") as f:
        assert f.read() == corpus["other"]
    with open(m.path("noname"), "rb") as f:
        assert f.read() == b"no name\n"
    assert "is taken in its folder" in m.log()


def test_pread_anywhere(corpus, mounter):
    m = mounter(corpus["src"], corpus["key_file"])
    data = corpus["files"]["random.bin"]
    import random

    rnd = random.Random(7)
    fd = os.open(m.path("random.bin"), os.O_RDONLY)
    try:
        for _ in range(300):
            off = rnd.randrange(0, len(data) + 100)
            n = rnd.choice([1, 4096, BS - 1, BS + 1, 3 * BS, 200_000])
            assert os.pread(fd, n, off) == data[off:off + n]
    finally:
        os.close(fd)


def test_sqlite3_queries_a_packed_database(corpus, mounter):
    sqlite = _need("sqlite3")
    m = mounter(corpus["src"], corpus["key_file"])
    q = "select count(*), sum(v), max(s) from t where v between 100 and 200;"
    want = subprocess.run([sqlite, str(corpus["plain"] / "db.sqlite"), q], capture_output=True, text=True,
                          check=True).stdout
    got = subprocess.run([sqlite, "-readonly", m.path("db.sqlite"), q], capture_output=True, text=True,
                         check=True, timeout=60)
    assert got.stdout == want and want.strip()
    one = subprocess.run([sqlite, "-readonly", m.path("db.sqlite"), "select s from t where id = 45678;"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert one.stdout == "row 45678\n"


def test_ffmpeg_seeks_into_a_packed_video_and_decodes_a_frame(corpus, mounter):
    ffmpeg, ffprobe = _need("ffmpeg"), _need("ffprobe")
    m = mounter(corpus["src"], corpus["key_file"])

    def probe(p):
        return subprocess.run([ffprobe, "-v", "error", "-show_entries", "format=duration:stream=codec_name,width",
                               "-of", "compact", p], capture_output=True, text=True, check=True, timeout=60).stdout

    def frame(p):
        return subprocess.run([ffmpeg, "-v", "error", "-ss", "6.2", "-i", p, "-frames:v", "1", "-f", "rawvideo",
                               "-pix_fmt", "rgb24", "-"], capture_output=True, check=True, timeout=60).stdout

    plain = str(corpus["plain"] / "clip.mkv")
    assert probe(m.path("clip.mkv")) == probe(plain)
    got = frame(m.path("clip.mkv"))
    assert len(got) == 320 * 240 * 3
    assert got == frame(plain)


def test_unzip_and_tar_list_packed_archives(corpus, mounter):
    unzip, tar = _need("unzip"), _need("tar")
    m = mounter(corpus["src"], corpus["key_file"])
    z = subprocess.run([unzip, "-l", m.path("arch.zip")], capture_output=True, text=True, check=True, timeout=60)
    assert z.stdout.count("member") == 20
    t = subprocess.run([unzip, "-p", m.path("arch.zip"), "member07.txt"], capture_output=True, check=True, timeout=60)
    assert t.stdout == b"line 7\n" * 16000
    t = subprocess.run([tar, "tf", m.path("arch.tar")], capture_output=True, text=True, check=True, timeout=60)
    assert t.stdout.split() == [f"dir/file{i}.bin" for i in range(10)]


def test_grep_counts_across_a_folder(corpus, mounter):
    m = mounter(corpus["src"], corpus["key_file"])
    r = subprocess.run(["grep", "-c", "-r", "beta 2", m.path("sub")], capture_output=True, text=True, timeout=60)
    counts = dict(line.rsplit(":", 1) for line in r.stdout.split())
    want_a = sum(1 for line in corpus["files"]["sub/a.txt"].splitlines() if b"beta 2" in line)
    want_b = sum(1 for line in corpus["files"]["sub/b.txt"].splitlines() if b"beta 2" in line)
    assert counts == {m.path("sub", "a.txt"): str(want_a), m.path("sub", "b.txt"): str(want_b)}


_READER = r"""
import os, random, sys
path, plain, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(plain, "rb") as f:
    data = f.read()
rnd = random.Random(seed)
fd = os.open(path, os.O_RDONLY)
for _ in range(400):
    off = rnd.randrange(len(data))
    n = rnd.choice([512, 4096, 70000, 300000])
    if os.pread(fd, n, off) != data[off:off + n]:
        sys.exit(f"mismatch at {off}+{n}")
print("ok")
"""


def test_concurrent_readers_in_several_processes(corpus, mounter):
    m = mounter(corpus["src"], corpus["key_file"], "--cache-mib", "1")  # small: blocks come and go
    procs = [subprocess.Popen([sys.executable, "-c", _READER, m.path(name), str(corpus["plain"] / name), str(seed)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed, name in enumerate(["random.bin", "random.bin", "db.sqlite", "random.bin", "arch.tar", "db.sqlite"])]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out == "ok\n", err


def test_a_replaced_container_is_read_anew(tmp_path, mounter, mk):
    src = tmp_path / "src"
    src.mkdir()
    key_file = tmp_path / "k.key"
    key_file.write_bytes(mk)
    qeltrix.pack(b"old contents\n" * 1000, str(src / "f.qltx"), mk, name="f.txt")
    m = mounter(src, key_file)
    with open(m.path("f.txt"), "rb") as f:
        assert f.read() == b"old contents\n" * 1000
    new = b"new contents, longer\n" * 1000
    qeltrix.pack(new, str(src / "f.qltx"), mk, name="f.txt")
    # open sees the change (another container id and size) and drops the kernel's pages; the
    # kernel may keep the old size for its attribute timeout (1 s)
    deadline = time.monotonic() + 30
    while True:
        with open(m.path("f.txt"), "rb") as f:
            got = f.read()
        if got == new or time.monotonic() > deadline:
            break
        assert new.startswith(got[:len(b"new")]), got[:40]  # never the old bytes
        time.sleep(0.05)
    assert got == new
    # the replaced container was closed once no handle needed it: one descriptor for f.qltx
    fds = [os.readlink(f"/proc/{m.proc.pid}/fd/{n}") for n in os.listdir(f"/proc/{m.proc.pid}/fd")]
    assert sum("f.qltx" in t for t in fds) == 1, fds


# -- write-once ---------------------------------------------------------------------------------

def test_cp_into_the_mount_then_unpack_with_the_cli(tmp_path, mounter, mk):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    key_file = tmp_path / "k.key"
    key_file.write_bytes(mk)
    plain = tmp_path / "input.bin"
    plain.write_bytes(os.urandom(5 * MiB + 77))
    m = mounter(src, key_file, "--block-size", "256")
    subprocess.run(["cp", str(plain), m.path("sub", "copied.bin")], check=True, timeout=120)
    assert os.path.getsize(m.path("sub", "copied.bin")) == plain.stat().st_size
    subprocess.run(["cmp", str(plain), m.path("sub", "copied.bin")], check=True, timeout=60)
    with pytest.raises(OSError) as e:  # it is there now: write-once
        open(m.path("sub", "copied.bin"), "r+b")
    assert e.value.errno == errno.EPERM
    m.unmount()
    assert sorted(os.listdir(src / "sub")) == ["copied.bin.qltx"]
    out = tmp_path / "out.bin"
    r = _cli("unpack", src / "sub" / "copied.bin.qltx", out, "--key-file", key_file, "-q")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == plain.read_bytes()
    assert qeltrix.info(str(src / "sub" / "copied.bin.qltx"))["block_size"] == 256 << 10


def test_what_write_once_refuses(tmp_path, mounter, corpus):
    src = tmp_path / "src"
    shutil.copytree(corpus["src"], src)
    m = mounter(src, corpus["key_file"])
    existing = m.path("random.bin")
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_TRUNC):
        with pytest.raises(OSError) as e:
            os.open(existing, flags)
        assert e.value.errno == errno.EPERM
    for call in (lambda: os.truncate(existing, 10), lambda: os.unlink(existing),
                 lambda: os.rename(existing, m.path("other.bin")), lambda: os.mkdir(m.path("newdir"))):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EPERM
    fd = os.open(m.path("new.bin"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        assert os.write(fd, b"x" * 100_000) == 100_000
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"y" * 10, 5)  # a random write
        assert e.value.errno == errno.EPERM
        with pytest.raises(OSError) as e:
            os.ftruncate(fd, 10)
        assert e.value.errno == errno.EPERM
        assert os.write(fd, b"z" * 10) == 10  # the sequential write goes on
    finally:
        os.close(fd)
    with open(m.path("new.bin"), "rb") as f:
        assert f.read() == b"x" * 100_000 + b"z" * 10
    with pytest.raises(OSError) as e:
        os.open(m.path("new.bin"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    assert e.value.errno == errno.EEXIST
    ro = mounter(src, corpus["key_file"], "--read-only")
    with pytest.raises(OSError) as e:
        open(ro.path("another.bin"), "wb")
    assert e.value.errno == errno.EROFS


_WRITER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
for _ in range(8):
    os.write(fd, os.urandom(1 << 20))
print("written", flush=True)
sys.stdin.read()
"""


def test_kill_9_during_a_write_leaves_no_container(tmp_path, mounter, mk):
    src = tmp_path / "src"
    src.mkdir()
    key_file = tmp_path / "k.key"
    key_file.write_bytes(mk)
    m = mounter(src, key_file)
    w = subprocess.Popen([sys.executable, "-c", _WRITER, m.path("big.bin")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert w.stdout.readline() == "written\n"
        m.proc.send_signal(signal.SIGKILL)
        m.proc.wait(timeout=30)
    finally:
        w.stdin.close()
        w.wait(timeout=30)
        w.stdout.close()
    r = _cli("umount", m.mp)
    assert r.returncode == 0, r.stderr
    assert not os.path.ismount(m.mp)
    left = os.listdir(src)
    assert "big.bin.qltx" not in left
    assert all(n.startswith(".") and n.endswith(".part") for n in left), left


# -- errors -------------------------------------------------------------------------------------

def test_a_damaged_block_gives_eio_on_its_range_only(tmp_path, mounter, mk):
    src = tmp_path / "src"
    src.mkdir()
    key_file = tmp_path / "k.key"
    key_file.write_bytes(mk)
    data = os.urandom(40 * BS)
    path = src / "d.qltx"
    qeltrix.pack(data, str(path), mk, block_size=BS, name="d.bin")
    from qeltrix.sources import open_random_access
    from qeltrix.reader import Container

    with Container(open_random_access(str(path)), mk) as c:
        e = c.index[20]
        where = e.block_offset + e.block_size // 2
    raw = bytearray(path.read_bytes())
    raw[where] ^= 1
    path.write_bytes(bytes(raw))
    m = mounter(src, key_file)
    fd = os.open(m.path("d.bin"), os.O_RDONLY)
    try:
        assert os.pread(fd, 19 * BS, 0) == data[:19 * BS]
        assert os.pread(fd, 19 * BS, 21 * BS) == data[21 * BS:]
        for _ in range(2):
            with pytest.raises(OSError) as err:
                os.pread(fd, 100, 20 * BS + 5)
            assert err.value.errno == errno.EIO
        assert os.pread(fd, 100, 19 * BS + 5) == data[19 * BS + 5:19 * BS + 105]
        assert os.pread(fd, 100, 21 * BS + 5) == data[21 * BS + 5:21 * BS + 105]
    finally:
        os.close(fd)
    lines = [line for line in m.log().splitlines() if "is damaged" in line]
    assert len(lines) == 1 and "d.qltx" in lines[0] and "block 20" in lines[0], m.log()
    plain = tmp_path / "d.bin"
    plain.write_bytes(data)
    r = subprocess.run(["cmp", str(plain), m.path("d.bin")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Input/output error" in r.stderr  # a read error, not different bytes


def test_wrong_key_fails_the_mount_with_exit_3(corpus, mounter, tmp_path):
    other = tmp_path / "other.key"
    other.write_bytes(qeltrix.random_master_key())
    m = mounter(corpus["src"], other, expect_fail=True)
    assert m.proc.wait(timeout=60) == 3
    assert not os.path.ismount(m.mp)
    assert "wrong key" in m.log()
    assert str(corpus["key"]) not in m.log()


def test_passphrase_on_the_command_line_is_refused(corpus, tmp_path):
    mp = tmp_path / "mp"
    mp.mkdir()
    r = _cli("mount", corpus["src"], mp, "--passphrase", "secret words")
    assert r.returncode == 2 and "process list" in r.stderr
    assert "secret words" not in r.stderr


def test_daemon_then_umount_and_unmount_after_kill_9(corpus, tmp_path):
    mp = tmp_path / "mp"
    mp.mkdir()
    r = _cli("mount", corpus["src"], mp, "--key-file", corpus["key_file"], "--daemon", timeout=60)
    try:
        assert r.returncode == 0, r.stderr
        assert os.path.ismount(mp)
        pid = int(r.stderr.split("(pid ")[1].split(")")[0])
        with open(mp / "random.bin", "rb") as f:
            assert f.read() == corpus["files"]["random.bin"]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert corpus["key"] not in f.read()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    break
            time.sleep(0.05)
        with pytest.raises(OSError) as e:
            os.stat(mp / "random.bin")
        assert e.value.errno in (errno.ENOTCONN, errno.ECONNABORTED)  # the kernel's word for a dead server
        u = _cli("umount", mp)
        assert u.returncode == 0, u.stderr
        assert not os.path.ismount(mp)
    finally:
        if os.path.ismount(mp):
            subprocess.run(["fusermount3", "-u", "-z", str(mp)], timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_unmounts_cleanly(corpus, mounter, sig):
    m = mounter(corpus["src"], corpus["key_file"])
    m.proc.send_signal(sig)
    assert m.proc.wait(timeout=30) == 0
    assert not os.path.ismount(m.mp)


# -- remote sources -----------------------------------------------------------------------------

def test_an_nginx_served_folder(corpus, mounter, tmp_path_factory):
    require_nginx()
    with Nginx(corpus["src"], tmp_path_factory.mktemp("nginx"), autoindex=True) as n:
        m = mounter(n.url + "/", corpus["key_file"])
        for rel in corpus["files"]:
            subprocess.run(["cmp", str(corpus["plain"] / rel), m.path(rel)], check=True, timeout=60)
        r = subprocess.run(["grep", "-c", "-r", "beta 2", m.path("sub")], capture_output=True, text=True, timeout=60)
        assert len(r.stdout.split()) == 2
        procs = [subprocess.Popen([sys.executable, "-c", _READER, m.path(name), str(corpus["plain"] / name), str(seed)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for seed, name in enumerate(["random.bin", "db.sqlite", "random.bin"])]
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0 and out == "ok\n", err
        if shutil.which("sqlite3"):
            r = subprocess.run(["sqlite3", "-readonly", m.path("db.sqlite"), "select s from t where id = 31337;"],
                               capture_output=True, text=True, check=True, timeout=60)
            assert r.stdout == "row 31337\n"
        with pytest.raises(OSError) as e:
            open(m.path("new.bin"), "wb")
        assert e.value.errno == errno.EROFS
        # one container by its URL; then the server goes away: EIO, not a hang
        one = mounter(n.url + "/random_bin.qltx", corpus["key_file"], "--cache-mib", "1")
        fd = os.open(one.path("random.bin"), os.O_RDONLY)
        try:
            assert os.pread(fd, 1000, 0) == corpus["files"]["random.bin"][:1000]
            n.stop()
            t0 = time.monotonic()
            with pytest.raises(OSError) as e:
                os.pread(fd, 1000, 3 * MiB // 2)
            assert e.value.errno == errno.EIO
            assert time.monotonic() - t0 < 120
        finally:
            os.close(fd)


def test_a_moto_s3_prefix_read_and_write_once(corpus, mounter, tmp_path_factory):
    from motoserver import BUCKET, CHILD_ENV, moto_s3

    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        prefix = f"s3://{BUCKET}/mnt/"
        for rel in ("random.bin", "db.sqlite", "sub/a.txt"):
            qeltrix.pack(str(corpus["plain"] / rel), prefix + rel.replace(".", "_") + ".qltx", corpus["key"],
                         block_size=BS)
        env = dict(os.environ, FSSPEC_S3_ENDPOINT_URL=endpoint, **CHILD_ENV)
        m = mounter(prefix, corpus["key_file"], env=env)
        assert sorted(os.listdir(m.mp)) == ["db.sqlite", "random.bin", "sub"]
        for rel in ("random.bin", "db.sqlite", "sub/a.txt"):
            subprocess.run(["cmp", str(corpus["plain"] / rel), m.path(rel)], check=True, timeout=60)
        if shutil.which("sqlite3"):
            r = subprocess.run(["sqlite3", "-readonly", m.path("db.sqlite"), "select count(*) from t;"],
                               capture_output=True, text=True, check=True, timeout=60)
            assert r.stdout == "60000\n"
        new = tmp_path_factory.mktemp("new") / "upload.bin"
        new.write_bytes(os.urandom(7 * MiB + 5))
        subprocess.run(["cp", str(new), m.path("sub", "upload.bin")], check=True, timeout=120)
        subprocess.run(["cmp", str(new), m.path("sub", "upload.bin")], check=True, timeout=60)
        m.unmount()
        out = tmp_path_factory.mktemp("out") / "upload.bin"
        r = _cli("unpack", prefix + "sub/upload.bin.qltx", out, "--key-file", corpus["key_file"], "-q", env=env)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == new.read_bytes()


def test_passphrase_containers_and_a_folder_with_another_key(tmp_path, mounter, mk):
    src = tmp_path / "src"
    src.mkdir()
    pw = tmp_path / "pw.txt"
    pw.write_text("correct horse\n")
    qeltrix.pack(b"under the passphrase\n" * 100, str(src / "p.qltx"), passphrase="correct horse", name="p.txt")
    qeltrix.pack(b"under a key\n", str(src / "k.qltx"), mk, name="k.txt")
    mp = tmp_path / "mp"
    mp.mkdir()
    log = tmp_path / "mount.log"
    proc = subprocess.Popen([sys.executable, "-m", "qeltrix", "mount", str(src), str(mp), "--passphrase-file", str(pw),
                             "--log-file", str(log)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    m = Mounted(proc, mp, log)
    try:
        deadline = time.monotonic() + 60
        while not os.path.ismount(mp):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert os.listdir(mp) == ["p.txt"]  # the container under another key is skipped, with a line
        with open(mp / "p.txt", "rb") as f:
            assert f.read() == b"under the passphrase\n" * 100
        with open(mp / "new.txt", "wb") as f:  # new files are packed under the same passphrase
            f.write(b"written through the mount\n")
        m.unmount()
        text = log.read_text()
        assert "skipping" in text and "k.qltx" in text and "correct horse" not in text
        r = _cli("unpack", src / "new.txt.qltx", "-", "--passphrase-file", pw, "-q")
        assert r.returncode == 0 and r.stdout == "written through the mount\n", r.stderr
    finally:
        if os.path.ismount(mp):
            subprocess.run(["fusermount3", "-u", "-z", str(mp)], timeout=30)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_mount_point_and_umount_of_a_folder_that_is_not_mounted(corpus, tmp_path):
    r = _cli("mount", corpus["src"], tmp_path / "missing", "--key-file", corpus["key_file"])
    assert r.returncode == 5 and "mount point" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "plain").mkdir()
    r = _cli("umount", tmp_path / "plain")
    assert r.returncode == 5 and r.stderr.startswith("qeltrix: ") and "Traceback" not in r.stderr


def test_a_silent_server_gives_eio_after_the_timeout_not_a_hang(corpus, mounter, tmp_path):
    from faultserver import FaultServer

    data = corpus["files"]["random.bin"]
    blob = (corpus["src"] / "random_bin.qltx").read_bytes()
    with FaultServer(blob) as srv:
        m = mounter(srv.url, corpus["key_file"], "--timeout", "1", "--cache-mib", "1")
        fd = os.open(m.path("random.bin"), os.O_RDONLY)
        try:
            assert os.pread(fd, 1000, 0) == data[:1000]
            srv.stall, srv.stall_s = 1000, 8.0  # every answer: headers, then silence
            t0 = time.monotonic()
            with pytest.raises(OSError) as e:
                os.pread(fd, 1000, 2 * MiB)
            assert e.value.errno == errno.EIO
            assert time.monotonic() - t0 < 60  # 3 tries of 1 s each (the kernel may ask twice)
            srv.stall = 0
            assert os.pread(fd, 1000, 2 * MiB + 100) == data[2 * MiB + 100:2 * MiB + 1100]  # and recovers
        finally:
            os.close(fd)
