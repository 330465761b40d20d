#!/usr/bin/env python3
"""Benchmark qltx:: (fsspec) and the Dask parallel pack against their plaintext / one-process peers.

    python tools/bench/bench_fsspec.py                 # 256 MiB, under a minute on 2 cores
    python tools/bench/bench_fsspec.py --big           # the issue's 1 GiB sizes
    python tools/bench/bench_fsspec.py --json out.json

Three figures, each measured against its peer in the same run:

1. Column projection: ``pyarrow.parquet.read_table(path, filesystem=fs, columns=[one])`` of a
   parquet file of 8 float64 columns, ``fs`` being ``qltx::http://`` (the container) or fsspec's
   ``http://`` (the plaintext file, its default read-ahead cache), both from the same loopback nginx; bytes fetched are the bodies nginx sent
   (its access log). Goal: qltx ≤ 1.1 × plain. Also shown: the column's own compressed bytes.
2. Sequential read: the whole file read in 8 MiB reads through ``fs.open``, ``qltx::`` over each
   target vs the target's own filesystem reading the plaintext, alternating: ``http://`` (the same
   loopback nginx), ``file://``, ``memory://`` (both copies in this process) and ``s3://`` (moto's
   server on loopback, tests/motoserver.py, a 64 MiB object: moto copies the whole object for
   each ranged GET); ``--targets`` picks some. Also shown: CPU seconds of this process per GiB.
   Goal: ≥ 0.8 ×.
3. Parallel pack: ``qeltrix.distributed.pack`` with a LocalCluster of 2 worker processes (one
   thread each; started beforehand, not timed) vs ``qeltrix.pack`` in this process (4 threads),
   the same source to a local file. Goal: ≥ 0.9 × (2 cores: it cannot scale here).
Figures are medians of --repeat runs; MB/s is 2^20 bytes of plaintext per second.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
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
KEY = os.urandom(32)


def make_parquet(path: Path, size: int) -> None:
    import numpy as np
    import pandas as pd

    rows = size // 64  # 8 float64 columns
    rng = np.random.default_rng(1)
    df = pd.DataFrame({f"c{k}": rng.random(rows) for k in range(8)})
    df.to_parquet(path, compression=None, index=False)


def median_runs(fn, repeat: int):
    runs = [fn() for _ in range(repeat)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def projection(nginx: Nginx, plain: str, cont: str, repeat: int) -> dict:
    import fsspec
    import pyarrow.parquet as pq

    so = {"qltx": {"key": "env:QLTX_BENCH_KEY"}}

    def one(url, options):
        def run():
            nginx.mark()
            t0 = time.perf_counter()
            fs, path = fsspec.core.url_to_fs(url, **options)
            table = pq.read_table(path, filesystem=fs, columns=["c3"])
            s = time.perf_counter() - t0
            lines = nginx.mark()
            assert table.num_rows > 0
            return {"s": s, "bytes": sum(x.body for x in lines), "requests": len(lines)}
        return median_runs(run, repeat)

    q = one(f"qltx::{nginx.url}/{cont}", so)
    p = one(f"{nginx.url}/{plain}", {})
    md = pq.ParquetFile(nginx.root / plain).metadata
    col = sum(md.row_group(g).column(3).total_compressed_size for g in range(md.num_row_groups))
    return {"qltx": q, "plain": p, "column_bytes": col, "ratio_bytes": q["bytes"] / p["bytes"]}


TARGETS = ("http", "file", "memory", "s3")


def read_through(url: str, options: dict, size: int, read_bytes: int) -> tuple[float, float]:
    """Seconds (wall, and CPU of this process) to read ``url`` front to back through ``fs.open``
    in reads of ``read_bytes``."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **options)
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with fs.open(path, "rb") as f:
        while b := f.read(read_bytes):
            n += len(b)
    s, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert n == size, (n, size)
    return s, cpu


def sequential(targets: dict, repeat: int, read_bytes: int = 8 * MiB) -> dict:
    """For each target (``name: (base URL, plaintext name, container name, size)``): the
    container through ``qltx::`` vs the plaintext through the target's own filesystem,
    alternating (qltx, plain) ``repeat`` times; the ratio is the median of the pairs' ratios.
    ``cpu_s_per_GiB``: CPU seconds of this process (all threads) per GiB read."""
    so = {"qltx": {"key": "env:QLTX_BENCH_KEY"}}
    out = {}
    for name, (base, plain, cont, size) in targets.items():
        pairs = []
        for _ in range(repeat):
            pairs.append((read_through(f"qltx::{base}/{cont}", so, size, read_bytes),
                          read_through(f"{base}/{plain}", {}, size, read_bytes)))
        gib = size / (1 << 30)
        out[name] = {"MiB": size // MiB,
                     "qltx_MBps": size / MiB / statistics.median(q[0] for q, _ in pairs),
                     "plain_MBps": size / MiB / statistics.median(p[0] for _, p in pairs),
                     "ratio": statistics.median(p[0] / q[0] for q, p in pairs),
                     "qltx_cpu_s_per_GiB": statistics.median(q[1] for q, _ in pairs) / gib,
                     "plain_cpu_s_per_GiB": statistics.median(p[1] for _, p in pairs) / gib}
        print(json.dumps({"sequential": {name: out[name]}}), flush=True)
    return out


@contextlib.contextmanager
def s3_bucket(workdir: Path, files: dict):
    """moto's S3 server (tests/motoserver.py) holding ``files`` ({name: local path}); yields the
    bucket's base URL (fsspec's s3 options point at the server meanwhile)."""
    import fsspec

    from motoserver import BUCKET, moto_s3

    with moto_s3(str(workdir)):
        fs = fsspec.filesystem("s3")
        for name, path in files.items():
            fs.put_file(str(path), f"{BUCKET}/{name}")
        yield f"s3://{BUCKET}"


@contextlib.contextmanager
def memory_copy(files: dict):
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/bench-{os.getpid()}"
    for name, path in files.items():
        fs.pipe_file(f"{root}/{name}", Path(path).read_bytes())
    try:
        yield f"memory://{root}"
    finally:
        fs.rm(root, recursive=True)


def parallel_pack(src: Path, d: Path, size: int, repeat: int, threads: int = 1) -> dict:
    import distributed

    import qeltrix.distributed as qd

    with distributed.LocalCluster(n_workers=2, threads_per_worker=threads, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cl, distributed.Client(cl) as client:
        def dask_run():
            t0 = time.perf_counter()
            qd.pack(src, d / "dask.qltx", client=client, key="env:QLTX_BENCH_KEY")
            s = time.perf_counter() - t0
            return {"s": s, "MBps": size / MiB / s}

        def one_run():
            t0 = time.perf_counter()
            qeltrix.pack(src, d / "one.qltx", KEY, workers=4)
            s = time.perf_counter() - t0
            return {"s": s, "MBps": size / MiB / s}

        q = median_runs(dask_run, repeat)
        p = median_runs(one_run, repeat)
    return {"dask_2_workers": q, "one_process": p, "ratio": q["MBps"] / p["MBps"]}


#: moto's S3 server copies the whole object for each ranged GET: a smaller object keeps the run
#: under a minute.
S3_BYTES = 64 * MiB


def seq_targets(args, d: Path, www: Path, nginx: Nginx) -> dict:
    targets = [t for t in args.targets.split(",") if t]
    bad = set(targets) - set(TARGETS)
    if bad:
        raise SystemExit(f"unknown targets: {', '.join(sorted(bad))}")
    n = (www / "t.parquet").stat().st_size
    files = {"t.parquet": www / "t.parquet", "t.parquet.qltx": www / "t.parquet.qltx"}
    with contextlib.ExitStack() as stack:
        plan = {}
        for t in targets:
            if t == "http":
                plan[t] = (nginx.url, "t.parquet", "t.parquet.qltx", n)
            elif t == "file":
                plan[t] = (f"file://{www}", "t.parquet", "t.parquet.qltx", n)
            elif t == "memory":
                plan[t] = (stack.enter_context(memory_copy(files)), "t.parquet", "t.parquet.qltx", n)
            else:
                small = min(n, S3_BYTES)
                make_plain(d / "s.bin", small)
                qeltrix.pack(d / "s.bin", d / "s.bin.qltx", KEY)
                base = stack.enter_context(s3_bucket(d, {"s.bin": d / "s.bin", "s.bin.qltx": d / "s.bin.qltx"}))
                plan[t] = (base, "s.bin", "s.bin.qltx", small)
        return sequential(plan, args.repeat)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", action="store_true", help="1 GiB files (default 256 MiB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("projection", "sequential", "pack"))
    ap.add_argument("--targets", default=",".join(TARGETS),
                    help=f"sequential read: comma-separated targets among {', '.join(TARGETS)} (default: all)")
    ap.add_argument("--worker-threads", type=int, default=1, help="threads per Dask worker process (default 1)")
    ap.add_argument("--dir", help="work folder (default: a temporary one, removed afterwards)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    size = (1024 if args.big else 256) * MiB
    os.environ["QLTX_BENCH_KEY"] = KEY.hex()
    results: dict = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        d = Path(tmp)
        www = d / "www"
        www.mkdir()
        if args.only in (None, "projection", "sequential"):
            make_parquet(www / "t.parquet", size)
            qeltrix.pack(www / "t.parquet", www / "t.parquet.qltx", KEY)
            with Nginx(www, d / "nginx") as nginx:
                if args.only in (None, "projection"):
                    results["projection"] = projection(nginx, "t.parquet", "t.parquet.qltx", args.repeat)
                    print(json.dumps({"projection": results["projection"]}), flush=True)
                if args.only in (None, "sequential"):
                    results["sequential"] = seq_targets(args, d, www, nginx)
        if args.only in (None, "pack"):
            src = d / "src.bin"
            make_plain(src, size)
            results["pack"] = parallel_pack(src, d, size, args.repeat, args.worker_threads)
            print(json.dumps({"pack": results["pack"]}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
