"""The README's deployment, measured: nginx terminating TLS in front of two ``qeltrix serve``
instances (the README's configuration, as tests/test_deploy_nginx.py runs it) against the same
nginx serving the plaintext over the same TLS settings, in the same run, alternating.

    python tools/bench/bench_deploy.py [--size-mib 256] [--repeat 3] [--duration 5] [--block-kib 1024] [--quiet]

- whole-file GET, one client: ``curl --http1.1 -o /dev/null https://...`` (MB/s, median);
- random 4 KiB ranges at 16 connections: ``wrk -t2 -c16 -d<duration>s --latency -s range.lua``
  over HTTPS (requests/s, p50, p99; median).
Prints the ratios qeltrix / plaintext. One short run (well under a minute at the defaults).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import LUA, make_plain, run_wrk  # noqa: E402
from nginxserver import Nginx  # noqa: E402
from tlsproxy import Instance, conf_for, make_cert  # noqa: E402

import qeltrix  # noqa: E402

MiB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curl_get(url: str, cert: Path, size: int) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "--http1.1", "--cacert", str(cert), "-o", "/dev/null",
                          "-w", "%{size_download}", url], check=True, capture_output=True, text=True).stdout
    dt = time.perf_counter() - t0
    assert int(out) == size, out
    return size / dt / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--block-kib", type=int, default=1024, help="container block size (default 1024)")
    ap.add_argument("--quiet", action="store_true", help="instances run with -q (no access log; nginx logs)")
    a = ap.parse_args()
    size = a.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="qeltrix-bench-deploy-") as td:
        d = Path(td)
        cert, key, _ = make_cert(d)
        plain_root = d / "plain"
        plain_root.mkdir()
        make_plain(plain_root / "data.bin", size)
        media = d / "media"
        media.mkdir()
        mk = qeltrix.random_master_key()
        (d / "media.key").write_bytes(mk)
        qeltrix.pack(str(plain_root / "data.bin"), str(media / "data.qltx"), mk, name="data.bin",
                     block_size=a.block_kib << 10)
        instances = [Instance(media, d / "media.key", quiet=a.quiet) for _ in range(2)]
        plain_port = free_port()

        def servers(port: int) -> str:
            return conf_for(port, [i.port for i in instances], cert, key) + f"""
server {{
    listen 127.0.0.1:{plain_port} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {plain_root};
}}
"""

        nginx = Nginx(d, d / "nginx", servers=servers)
        try:
            nginx.start()
            urls = {"qeltrix": f"https://127.0.0.1:{nginx.port}/data.bin",
                    "plaintext": f"https://127.0.0.1:{plain_port}/data.bin"}
            for who, url in urls.items():
                (d / f"range-{who}.lua").write_text(LUA % {"size": size, "path": "/data.bin"})
                curl_get(url, cert, size)  # warm: page cache, first hash of every block on one instance
            gets = {w: [] for w in urls}
            ranges = {w: [] for w in urls}
            for _ in range(a.repeat):
                for who, url in urls.items():
                    gets[who].append(curl_get(url, cert, size))
            for who, url in urls.items():
                r = run_wrk(url, d / f"range-{who}.lua", a.duration)
                assert r["non2xx"] == 0 and not r["socket_errors"], r
                ranges[who].append(r)
        finally:
            nginx.stop()
            for i in instances:
                i.stop()
    res = {}
    for who in urls:
        res[who] = {"get_MBps": statistics.median(gets[who]), "get_runs": [round(x) for x in gets[who]],
                    "ranges_rps": statistics.median(r["rps"] for r in ranges[who]),
                    "p50_ms": statistics.median(r["p50_ms"] for r in ranges[who]),
                    "p99_ms": statistics.median(r["p99_ms"] for r in ranges[who])}
    q, p = res["qeltrix"], res["plaintext"]
    res["ratio_get"] = q["get_MBps"] / p["get_MBps"]
    res["ratio_ranges"] = q["ranges_rps"] / p["ranges_rps"]
    for who in urls:
        r = res[who]
        print(f"{who:10} whole GET {r['get_MBps']:7.0f} MB/s (runs {r['get_runs']})   4 KiB ranges "
              f"{r['ranges_rps']:8.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms")
    print(f"ratio qeltrix/plaintext: whole GET {res['ratio_get']:.2f} (goal >= 0.8), "
          f"4 KiB ranges {res['ratio_ranges']:.2f} (goal >= 0.5)")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
