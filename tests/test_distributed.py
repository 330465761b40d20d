"""qeltrix.distributed.pack: 1 GiB sealed by 2 Dask worker processes (a LocalCluster) into moto's
S3 (multipart parts, uploaded out of order) and into a local file (positional writes); a worker
killed mid-task leaves no object and no partial file; tasks carry no secret; the CLI's
--dask-local."""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

import qeltrix

from motoserver import BUCKET, CHILD_ENV, moto_s3
from speccheck import spec_check

distributed = pytest.importorskip("distributed")
fsspec = pytest.importorskip("fsspec")
qd = pytest.importorskip("qeltrix.distributed")

MiB = 1 << 20
GiB = 1 << 30
KEY = bytes(range(100, 132))


@pytest.fixture(scope="module", autouse=True)
def key_env():
    mp = pytest.MonkeyPatch()
    mp.setenv("QLTX_DIST_KEY", KEY.hex())
    yield
    mp.undo()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def client(key_env, s3):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cl, distributed.Client(cl) as c:
        yield c


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """1 GiB (and a few bytes: the last block is short); every MiB starts with its number, so a
    block in the wrong place cannot go unnoticed."""
    path = tmp_path_factory.mktemp("src") / "big.bin"
    chunk = bytearray(os.urandom(64 * MiB))
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for c in range(16):
            for m in range(64):
                chunk[m * MiB:m * MiB + 8] = (c * 64 + m).to_bytes(8, "big")
            f.write(chunk)
            h.update(chunk)
        f.write(b"the end")
        h.update(b"the end")
    return path, GiB + 7, h.hexdigest()


def unpacked_digest(src, tmp_path) -> str:
    out = tmp_path / f"out-{uuid.uuid4().hex}.bin"
    qeltrix.unpack(src, out, KEY)
    h = hashlib.sha256()
    with open(out, "rb") as f:
        while b := f.read(16 * MiB):
            h.update(b)
    out.unlink()
    return h.hexdigest()


def test_plan_respects_s3_limits():
    # 4 KiB blocks: a page (1,024 blocks) is 4 MiB, under S3's part minimum: tasks span pages
    plan = qd.plan_tasks(100 * MiB, 4096, 4464, 1024, task_bytes=MiB, min_part=qd.MIN_PART)
    lay = qd._Layout(100 * MiB, 4096, 4464, 1024)
    assert plan[0][0] == 0 and plan[-1][1] == lay.num_blocks
    assert all(a[1] == b[0] for a, b in zip(plan, plan[1:]))
    assert all(lay.range_end(b) - lay.part_start(a) >= qd.MIN_PART for a, b in plan)
    many = qd.plan_tasks(1 << 40, 1 << 20, 4464, 1024, task_bytes=8 * MiB, min_part=qd.MIN_PART)
    assert len(many) <= qd.MAX_PARTS - 1


def test_pack_1gib_to_local_file(client, source, tmp_path):
    src, size, digest = source
    dst = tmp_path / "big.qltx"
    r = qd.pack(src, dst, client=client, key="env:QLTX_DIST_KEY")
    assert r.bytes_in == size and r.total_blocks == 1025
    assert [p.name for p in tmp_path.iterdir()] == ["big.qltx"]
    spec_check(dst, r)
    assert unpacked_digest(dst, tmp_path) == digest
    assert qeltrix.seek_extract(dst, 700 * MiB - 3, 6, KEY)[3:] == (700).to_bytes(8, "big")[:3]
    with open(dst, "rb") as f:  # streaming unpack (front to back, as from a pipe)
        r2 = qeltrix.unpack(_NoSeek(f), tmp_path / "s.bin", KEY)
    assert r2.bytes_out == size
    (tmp_path / "s.bin").unlink()


class _NoSeek:
    def __init__(self, f):
        self.read = f.read


def test_pack_1gib_to_s3_parts_out_of_order(client, source, s3, tmp_path):
    src, size, digest = source
    url = f"s3://{BUCKET}/dist/{uuid.uuid4().hex}.qltx"
    order = []
    r = qd.pack(src, url, client=client, key="env:QLTX_DIST_KEY", on_task=order.append, _reverse=True)
    assert sorted(order) == list(range(len(order))) and order != sorted(order)  # done out of order
    assert r.bytes_in == size
    # fetched whole, in one GET: moto reads the whole object for every ranged GET
    local = tmp_path / "got.qltx"
    with fsspec.filesystem("s3").open(url, "rb", block_size=r.bytes_out) as f, open(local, "wb") as out:
        out.write(f.read())
    assert local.stat().st_size == r.bytes_out
    assert unpacked_digest(local, tmp_path) == digest


def test_tasks_carry_no_secret(client, tmp_path):
    src = tmp_path / "s.bin"
    src.write_bytes(os.urandom(3 * MiB))
    seen = []

    real = client.submit

    def spy(fn, *args, **kw):  # what goes to the scheduler, serialized as Dask does
        seen.append(pickle.dumps((fn, args)))
        return real(fn, *args, **kw)

    client.submit = spy
    try:
        qd.pack(src, tmp_path / "s.qltx", client=client, key="env:QLTX_DIST_KEY", task_bytes=MiB)
    finally:
        del client.submit
    assert len(seen) >= 3
    for blob in seen:
        for form in (KEY, KEY.hex().encode(), KEY.hex().upper().encode(), base64.b64encode(KEY)):
            assert form not in blob
    results = client.gather(client.submit(lambda: 1))  # the cluster still works
    assert results == 1


def _kill_a_worker_mid_task(client, pack):
    pids = client.run(os.getpid)
    box = {}

    def run():
        try:
            box["result"] = pack()
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline and t.is_alive():
        running = client.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing])
        for w, keys in running.items():
            # a task that has started: it has claimed its Event (named as its key, less "-seal")
            for k in keys:
                if k.startswith("qeltrix-pack") and distributed.Event(k[:-len("-seal")], client=client).is_set():
                    victim = w
                    break
            if victim:
                break
        else:
            time.sleep(0.01)
    assert victim is not None, "no pack task was seen running"
    os.kill(pids[victim], signal.SIGKILL)
    t.join(120)
    assert not t.is_alive()
    client.wait_for_workers(2, timeout=60)
    return box


def test_killed_worker_leaves_no_partial_file(client, source, tmp_path):
    src, _, _ = source
    dst = tmp_path / "killed.qltx"
    box = _kill_a_worker_mid_task(client, lambda: qd.pack(src, dst, client=client, key="env:QLTX_DIST_KEY"))
    assert "error" in box, "the pack completed although a worker was killed"
    assert list(tmp_path.iterdir()) == []


def test_killed_worker_leaves_no_object(client, source, s3):
    src, _, _ = source
    key = f"dist/killed-{uuid.uuid4().hex}.qltx"
    box = _kill_a_worker_mid_task(client, lambda: qd.pack(src, f"s3://{BUCKET}/{key}", client=client,
                                                          key="env:QLTX_DIST_KEY"))
    assert "error" in box, "the pack completed although a worker was killed"
    fs = fsspec.filesystem("s3")
    assert not fs.exists(f"{BUCKET}/{key}")
    uploads = fs.call_s3("list_multipart_uploads", Bucket=BUCKET).get("Uploads", [])
    assert [u for u in uploads if u["Key"] == key] == []


def test_cli_dask_local(tmp_path):
    data = os.urandom(150 * MiB)
    (tmp_path / "in.bin").write_bytes(data)
    (tmp_path / "k").write_bytes(KEY)
    env = dict(os.environ, **CHILD_ENV)
    p = subprocess.run([sys.executable, "-m", "qeltrix", "pack", "in.bin", "out.qltx", "--key-file", "k",
                        "--dask-local", "2", "-q"], cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    spec_check(tmp_path / "out.qltx")
    p = subprocess.run([sys.executable, "-m", "qeltrix", "unpack", "out.qltx", "back.bin", "--key-file", "k", "-q"],
                       cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert p.returncode == 0 and (tmp_path / "back.bin").read_bytes() == data, p.stderr
    p = subprocess.run([sys.executable, "-m", "qeltrix", "pack", "in.bin", "o2.qltx", "--passphrase", "x",
                        "--dask-local", "2"], cwd=tmp_path, env=env, capture_output=True, timeout=300)
    assert p.returncode == 2 and b"Traceback" not in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
