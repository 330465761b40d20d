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
2. Sequential read: the whole file read in 8 MiB reads through ``fs.open`` of ``qltx::http://``
   vs ``http://`` (same nginx). Goal: ≥ 0.8 ×.
3. Parallel pack: ``qeltrix.distributed.pack`` with a LocalCluster of 2 worker processes (one
   thread each; started beforehand, not timed) vs ``qeltrix.pack`` in this process (4 threads),
   the same source to a local file. Goal: ≥ 0.9 × (2 cores: it cannot scale here).
Figures are medians of --repeat runs; MB/s is 2^20 bytes of plaintext per second.
"""

from __future__ import annotations

import argparse
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


def sequential(nginx: Nginx, plain: str, cont: str, size: int, repeat: int) -> dict:
    import fsspec

    def one(url, options):
        def run():
            fs, path = fsspec.core.url_to_fs(url, **options)
            t0 = time.perf_counter()
            n = 0
            with fs.open(path, "rb") as f:
                while b := f.read(8 * MiB):
                    n += len(b)
            s = time.perf_counter() - t0
            assert n == size
            return {"s": s, "MBps": size / MiB / s}
        return median_runs(run, repeat)

    q = one(f"qltx::{nginx.url}/{cont}", {"qltx": {"key": "env:QLTX_BENCH_KEY"}})
    p = one(f"{nginx.url}/{plain}", {})
    return {"qltx": q, "plain": p, "ratio": q["MBps"] / p["MBps"]}


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", action="store_true", help="1 GiB files (default 256 MiB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("projection", "sequential", "pack"))
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
                    n = (www / "t.parquet").stat().st_size
                    results["sequential"] = sequential(nginx, "t.parquet", "t.parquet.qltx", n, args.repeat)
                    print(json.dumps({"sequential": results["sequential"]}), flush=True)
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
