#!/usr/bin/env python3
"""Benchmark reading a container over HTTP from a loopback nginx, next to curl in the same run.

    python tools/bench/bench_remote.py                    # 1 GiB container, 1 MiB blocks, 4 workers
    python tools/bench/bench_remote.py --size-mib 256 --repeat 3 --json out.json

Three operations, each timed in this process (the container is opened by each call, as a user's
call would), with the bytes nginx sent for it read from its access log ($bytes_sent: headers and
body): a 4 KiB seek (``seek_extract``), a 100 MiB range (``seek_extract``) and a full unpack to
/dev/null. Beside each, curl fetches the same number of raw bytes from the same nginx in one
Range request (``curl -r 0-N-1 -o /dev/null``; its time includes starting curl, ~5 ms). Figures
are medians of --repeat runs; MB/s is 2^20 bytes of plaintext per second.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from nginxserver import Nginx  # noqa: E402

from bench_http import make_plain  # noqa: E402  (same folder)

import qeltrix  # noqa: E402

MiB = 1 << 20


def make_container(d: Path, size: int, block_size: int, key: bytes) -> Path:
    src = d / "www" / "plain.bin"
    src.parent.mkdir(parents=True)
    make_plain(src, size)
    dst = d / "www" / "c.qltx"
    qeltrix.pack(src, dst, key, block_size=block_size, workers=2)
    src.unlink()  # nginx serves the container only
    return dst


def timed(fn, nginx: Nginx, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        nginx.mark()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        lines = nginx.mark()
        runs.append({"s": wall, "cpu_s": cpu, "requests": len(lines), "sent": sum(x.sent for x in lines),
                     "body": sum(x.body for x in lines), "plain": out})
    return {"s": statistics.median(r["s"] for r in runs), "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            **{k: runs[-1][k] for k in ("requests", "sent", "body", "plain")}}


def curl(url: str, nbytes: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-r", f"0-{nbytes - 1}", url], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--block-kib", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--range-mib", type=int, default=100)
    ap.add_argument("--dir", help="work folder (default: a temporary one, removed afterwards)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is needed")
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="qeltrix-bench-remote-"))
    key = qeltrix.random_master_key()
    size = args.size_mib * MiB
    try:
        t0 = time.perf_counter()
        path = make_container(work, size, args.block_kib * 1024, key)
        print(f"container: {path.stat().st_size} bytes ({args.size_mib} MiB plaintext, {args.block_kib} KiB blocks), "
              f"made in {time.perf_counter() - t0:.1f} s; workers {args.workers}; median of {args.repeat}")
        rng = random.Random(6)
        with Nginx(work / "www", work / "nginx") as nginx:
            url = f"{nginx.url}/c.qltx"
            rlen = min(args.range_mib * MiB, size)
            ops = {
                "4 KiB seek": lambda: len(qeltrix.seek_extract(url, rng.randrange(size - 4096), 4096, key)),
                f"{rlen >> 20} MiB range": lambda: len(qeltrix.seek_extract(
                    url, rng.randrange(size - rlen + 1), rlen, key, workers=args.workers)),
                "full unpack": lambda: qeltrix.unpack(url, "/dev/null", key, workers=args.workers).bytes_out,
            }
            results = {}
            for name, fn in ops.items():
                r = timed(fn, nginx, args.repeat)
                r["curl_s"] = curl(url, r["body"], args.repeat)
                results[name] = r
        print(f"\n{'operation':<16}{'requests':>9}{'bytes sent':>14}{'body':>14}{'qeltrix s':>11}{'CPU s':>8}"
              f"{'MB/s':>9}{'curl s':>9}{'curl MB/s':>10}")
        for name, r in results.items():
            mbs = r["plain"] / MiB / r["s"]
            cmbs = r["body"] / MiB / r["curl_s"]
            print(f"{name:<16}{r['requests']:>9}{r['sent']:>14,}{r['body']:>14,}{r['s']:>11.4f}{r['cpu_s']:>8.3f}"
                  f"{mbs:>9.1f}{r['curl_s']:>9.4f}{cmbs:>10.1f}")
        if args.json:
            Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
