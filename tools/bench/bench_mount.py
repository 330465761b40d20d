#!/usr/bin/env python3
"""Benchmark ``qeltrix mount``: sequential reads against ``qeltrix unpack`` and ``rclone mount``
of a crypt remote, and random 4 KiB preads against ``qeltrix.open`` in-process; same run.

    python tools/bench/bench_mount.py                   # 512 MiB, 1 MiB blocks, 3 rounds
    python tools/bench/bench_mount.py --size-mib 1024 --json out.json

Sequential: ``dd if=FILE of=/dev/null bs=1M`` through our mount and through ``rclone mount``
(``--read-only``, no VFS cache) of an rclone crypt remote holding the same plaintext, each file's
pages dropped from the page cache first (``posix_fadvise DONTNEED``), and ``qeltrix unpack
C /dev/null`` of the container (a new process each time, as a user runs it); rounds alternate,
medians are reported. Random: 2000 preads of 4 KiB at uniformly random offsets, the first pass
right after mounting (or opening) and with the file's pages dropped (cold), then the same
offsets again (warm), through the mount and through ``qeltrix.open`` (cache of 64 blocks, as
the mount's 64 MiB). Needs FUSE (fusermount3, mfusepy); rclone is left out when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import RCLONE_PASSPHRASE, make_plain  # noqa: E402  (same folder)

import qeltrix  # noqa: E402

MiB = 1 << 20


def wait_mounted(mp: Path, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while not os.path.ismount(mp):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not mount")
        time.sleep(0.05)


def unmount(mp: Path, proc: subprocess.Popen) -> None:
    subprocess.run(["fusermount3", "-u", str(mp)], check=False)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def mount_qeltrix(src: Path, mp: Path, key: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", "qeltrix", "mount", str(src), str(mp), "--key-file", str(key), "-q",
                          "--read-only"], stdin=subprocess.DEVNULL)
    wait_mounted(mp, p, "qeltrix mount")
    return p


def mount_rclone(d: Path, plain: Path, mp: Path) -> subprocess.Popen:
    rd = d / "rclone"
    conf, store = rd / "rclone.conf", rd / "store"
    store.mkdir(parents=True, exist_ok=True)
    pw = subprocess.run(["rclone", "obscure", RCLONE_PASSPHRASE], check=True, capture_output=True,
                        text=True).stdout.strip()
    conf.write_text(f"[pcrypt]\ntype = crypt\nremote = {store}\npassword = {pw}\n")
    base = ["rclone", "--config", str(conf)]
    subprocess.run(base + ["copyto", str(plain), "pcrypt:plain.bin"], check=True)
    p = subprocess.Popen(base + ["mount", "pcrypt:", str(mp), "--read-only"], stdin=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_mounted(mp, p, "rclone mount")
    return p


def drop_pages(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed_cmd(cmd) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def preads(read, offsets) -> list[float]:
    out = []
    for off in offsets:
        t0 = time.perf_counter()
        read(off)
        out.append(time.perf_counter() - t0)
    return out


def pct(xs, p) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--block-kib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--preads", type=int, default=2000)
    ap.add_argument("--json")
    a = ap.parse_args()
    size = a.size_mib * MiB
    res: dict = {"size_mib": a.size_mib, "block_kib": a.block_kib}
    with tempfile.TemporaryDirectory(prefix="qeltrix-bench-mount-") as td:
        d = Path(td)
        plain = d / "plain.bin"
        make_plain(plain, size)
        key = d / "k.key"
        key.write_bytes(qeltrix.random_master_key())
        src = d / "src"
        src.mkdir()
        container = src / "plain.bin.qltx"
        qeltrix.pack(str(plain), str(container), key.read_bytes(), block_size=a.block_kib * 1024, workers=2)
        mp, rmp = d / "mnt", d / "rmnt"
        mp.mkdir()
        rmp.mkdir()
        rclone = None
        q = mount_qeltrix(src, mp, key)
        try:
            if shutil.which("rclone"):
                rclone = mount_rclone(d, plain, rmp)
            seq: dict = {"mount": [], "unpack": [], "rclone": []}
            for _ in range(a.rounds):
                drop_pages(mp / "plain.bin")
                seq["mount"].append(timed_cmd(["dd", f"if={mp / 'plain.bin'}", "of=/dev/null", "bs=1M"]))
                seq["unpack"].append(timed_cmd([sys.executable, "-m", "qeltrix", "unpack", str(container), "/dev/null",
                                                "--key-file", str(key), "-q", "-f"]))
                if rclone is not None:
                    drop_pages(rmp / "plain.bin")
                    seq["rclone"].append(timed_cmd(["dd", f"if={rmp / 'plain.bin'}", "of=/dev/null", "bs=1M"]))
            res["sequential_MBps"] = {k: size / 1e6 / statistics.median(v) for k, v in seq.items() if v}
        finally:
            unmount(mp, q)
            if rclone is not None:
                unmount(rmp, rclone)

        rnd = random.Random(1)
        offsets = [rnd.randrange(0, size - 4096) for _ in range(a.preads)]
        q = mount_qeltrix(src, mp, key)  # a fresh mount: nothing cached
        try:
            drop_pages(mp / "plain.bin")
            fd = os.open(mp / "plain.bin", os.O_RDONLY)
            try:
                cold = preads(lambda off: os.pread(fd, 4096, off), offsets)
                warm = preads(lambda off: os.pread(fd, 4096, off), offsets)
            finally:
                os.close(fd)
        finally:
            unmount(mp, q)
        with qeltrix.open(str(container), key.read_bytes(), cache_blocks=64) as f:
            def read(off):
                f.seek(off)
                return f.read(4096)

            ocold = preads(read, offsets)
            owarm = preads(read, offsets)
        res["random_4k_ms"] = {name: {"p50": pct(xs, 50), "p99": pct(xs, 99)}
                               for name, xs in (("mount_cold", cold), ("mount_warm", warm),
                                                ("open_cold", ocold), ("open_warm", owarm))}
    s = res["sequential_MBps"]
    print(f"sequential {a.size_mib} MiB, {a.block_kib} KiB blocks (median of {a.rounds}, MB/s): "
          + ", ".join(f"{k} {v:.0f}" for k, v in s.items()))
    print(f"  mount / unpack = {s['mount'] / s['unpack']:.2f} x" +
          (f"; mount / rclone mount = {s['mount'] / s['rclone']:.2f} x" if "rclone" in s else ""))
    for k, v in res["random_4k_ms"].items():
        print(f"random 4 KiB pread {k:11}: p50 {v['p50']:.3f} ms, p99 {v['p99']:.3f} ms")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
