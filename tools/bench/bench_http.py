#!/usr/bin/env python3
"""HTTP servers side by side on loopback: SeekServer (``qeltrix serve``, decrypting a container,
default settings) next to nginx serving the plaintext and ``rclone serve http`` of an rclone
crypt remote holding the same plaintext (the issue's two peers; --no-rclone leaves it out), in
the same run, alternating; then the gateway.

    python tools/bench/bench_http.py                       # 1 GiB, as the README's figures
    python tools/bench/bench_http.py --size-mib 256 --duration 5 --json out.json
    python tools/bench/bench_http.py --only wrk            # get1, get8, wrk, gateway

- get1 / get8: whole-file GET with 1 and 8 concurrent curl clients to /dev/null; MB/s is the
  bytes of all clients over the wall time (10^6 bytes per second).
- wrk: random 4 KiB ranges (``Range: bytes=N-N+4095``, N uniform over the file) at 16
  connections, ``wrk -t2 -c16 -d<duration>s --latency -s range.lua URL``: requests/s, p50, p99.
- gateway: tools/bench/bench_gateway.py reflect and tunnel (same size).

Before measuring, a few ranges from each server are checked byte for byte. Each server's CPU
seconds (user + system, from /proc) are given beside each figure. The servers, wrk and curl
share the machine's cores, so the figures describe the whole machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from nginxserver import Nginx  # noqa: E402

import qeltrix  # noqa: E402

MiB = 1 << 20

LUA = """-- random 4 KiB ranges over a file of %(size)d bytes
local size = %(size)d
local path = "%(path)s"
request = function()
  local off = math.random(0, size - 4096)
  return wrk.format("GET", path, {["Range"] = "bytes=" .. off .. "-" .. (off + 4095)})
end
"""


def make_plain(path: Path, size: int) -> None:
    """Random-looking bytes, fast: a random MiB made unique per MiB by its index."""
    base = os.urandom(MiB)
    with open(path, "wb") as f:
        left, i = size, 0
        while left:
            chunk = (i.to_bytes(8, "big") + base[8:])[:min(left, MiB)]
            f.write(chunk)
            left -= len(chunk)
            i += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, name: str = "qeltrix serve") -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{name} did not start: {proc.stderr.read().decode()}")
            time.sleep(0.05)


RCLONE_PASSPHRASE = "bench-passphrase"  # the crypt remote's (a benchmark, not a secret)


def start_rclone(d: Path, plain: Path):
    """``rclone serve http`` of a crypt remote (over a local folder) holding the same plaintext:
    the issue's second peer. Returns (process, URL of the file)."""
    rd = d / "rclone"
    conf, store = rd / "rclone.conf", rd / "store"
    store.mkdir(parents=True, exist_ok=True)
    if not conf.exists():
        pw = subprocess.run(["rclone", "obscure", RCLONE_PASSPHRASE], check=True, capture_output=True,
                            text=True).stdout.strip()
        conf.write_text(f"[pcrypt]\ntype = crypt\nremote = {store}\npassword = {pw}\n")
    base = ["rclone", "--config", str(conf)]
    listing = subprocess.run(base + ["lsl", "pcrypt:"], capture_output=True, text=True).stdout.split()
    if str(plain.stat().st_size) not in listing[:1]:
        print("copying the plaintext into an rclone crypt remote ...", flush=True)
        subprocess.run(base + ["copyto", str(plain), "pcrypt:plain.bin"], check=True)
    port = free_port()
    proc = subprocess.Popen(base + ["serve", "http", "pcrypt:", "--addr", f"127.0.0.1:{port}", "--read-only"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port, proc, "rclone serve http")
    return proc, f"http://127.0.0.1:{port}/plain.bin"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (each with its finished, waited-for children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def nginx_pids(master: int) -> list[int]:
    try:
        with open(f"/proc/{master}/task/{master}/children") as f:
            return [master] + [int(x) for x in f.read().split()]
    except OSError:
        return [master]


def check_ranges(url: str, plain: Path, size: int, n: int = 8) -> None:
    rnd = random.Random(1)
    with open(plain, "rb") as f:
        for _ in range(n):
            a = rnd.randrange(0, size - 4096)
            req = urllib.request.Request(url, headers={"Range": f"bytes={a}-{a + 4095}"})
            with urllib.request.urlopen(req, timeout=30) as r:
                got = r.read()
                assert r.status == 206, r.status
            f.seek(a)
            assert got == f.read(4096), f"{url}: wrong bytes at {a}"


def curl_clients(url: str, clients: int, size: int) -> float:
    """Wall-clock MB/s of ``clients`` concurrent whole-file GETs."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", url],
                              stdout=subprocess.PIPE) for _ in range(clients)]
    got = []
    for p in procs:
        out, _ = p.communicate()
        got.append(int(out))
        assert p.returncode == 0
    dt = time.perf_counter() - t0
    assert all(g == size for g in got), got
    return clients * size / dt / 1e6


def run_wrk(url: str, script: Path, duration: int) -> dict:
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{duration}s", "--latency", "-s", str(script), url],
                         check=True, capture_output=True, text=True).stdout

    def ms(label):
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": ms("50%"), "p99_ms": ms("99%"), "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errs.group(1) if errs else "", "raw": out}


def measure(name: str, fn, pids: list[int]) -> tuple:
    """(what ``fn`` returns, CPU seconds the server spent meanwhile)."""
    c0 = cpu_seconds(pids)
    r = fn()
    return r, cpu_seconds(pids) - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each test, servers alternating; the "
                                                          "median is reported (default 3)")
    ap.add_argument("--only", default="get1,get8,wrk,gateway")
    ap.add_argument("--block-kib", type=int, default=None,
                    help="pack the container in blocks of this size (default: qeltrix's default, 1024)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", help="folder to keep the files in (made once, reused)")
    ap.add_argument("--no-rclone", action="store_true", help="leave out rclone serve http (a crypt remote)")
    a = ap.parse_args()
    only = set(a.only.split(","))
    for tool in ("curl", "wrk"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_http: {tool} is not installed")
    size = a.size_mib * MiB
    d = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="qeltrix-bench-http-"))
    results: dict = {"size_mib": a.size_mib, "block_kib": a.block_kib or 1024, "nginx": {}, "seekserver": {}}
    try:
        www = d / "www"
        www.mkdir(parents=True, exist_ok=True)
        plain = www / "plain.bin"
        box = d / (f"plain-{a.block_kib}k.qltx" if a.block_kib else "plain.qltx")
        key = d / "key"
        if not (plain.exists() and plain.stat().st_size == size and key.exists()):
            print(f"making {a.size_mib} MiB of plaintext ...", flush=True)
            make_plain(plain, size)
            key.write_bytes(qeltrix.random_master_key())
            box.unlink(missing_ok=True)
        if not box.exists():
            print("packing it (default settings but --block-kib) ...", flush=True)
            opts = {"block_size": a.block_kib << 10} if a.block_kib else {}
            qeltrix.pack(plain, box, key.read_bytes(), **opts)
        info = qeltrix.info(box)
        print(f"container: {info['container_size']} bytes, {info['total_blocks']} blocks of "
              f"{info['block_size']} bytes", flush=True)
        with Nginx(www, d / "nginx") as ng:
            port = free_port()
            rclone = None
            # -q: no access log (WARNING level), as nginx's is cheap and a busy server's is off
            srv = subprocess.Popen([sys.executable, "-m", "qeltrix", "serve", str(box), "--key-file", str(key),
                                    "--port", str(port), "-q"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                wait_port(port, srv)
                urls = {"seekserver": f"http://127.0.0.1:{port}/plain.bin", "nginx": f"{ng.url}/plain.bin"}
                pids = {"seekserver": [srv.pid], "nginx": nginx_pids(ng.proc.pid)}
                if not a.no_rclone and shutil.which("rclone"):
                    rclone, urls["rclone"] = start_rclone(d, plain)
                    pids["rclone"] = [rclone.pid]
                    results["rclone"] = {}
                results["seekserver_pid"] = srv.pid
                for who, url in urls.items():
                    check_ranges(url, plain, size)
                print(f"ranges checked byte for byte on {', '.join(urls)}", flush=True)
                ng.mark()
                script = d / "range.lua"
                for who, url in urls.items():
                    path = "/" + url.split("/", 3)[3]
                    (d / f"range-{who}.lua").write_text(LUA % {"size": size, "path": path})
                for test, clients in (("get1", 1), ("get8", 8)):
                    if test not in only:
                        continue
                    runs: dict = {who: [] for who in urls}
                    for _ in range(a.repeat):
                        for who, url in urls.items():
                            runs[who].append(measure(test, lambda: curl_clients(url, clients, size), pids[who]))
                        ng.mark()  # keep nginx's log small
                    for who, rs in runs.items():
                        mbps = statistics.median(r for r, _ in rs)
                        cpu = statistics.median(c for _, c in rs)
                        results[who][test] = {"MBps": round(mbps, 1), "runs": [round(r, 1) for r, _ in rs],
                                              "server_cpu_s": round(cpu, 2)}
                        print(f"{test:5} {who:10} {mbps:8.1f} MB/s  (median of {[round(r) for r, _ in rs]}; "
                              f"{clients} client(s) x {a.size_mib} MiB; server CPU {cpu:.1f} s per run)", flush=True)
                        if who == "seekserver" and test == "get1":
                            # The first whole GET hashes every block's plaintext; later ones find the
                            # blocks hash-checked already (same AEAD tags) and only decrypt them.
                            results[who]["get1_first"] = {"MBps": round(rs[0][0], 1), "vs_nginx_median":
                                                          round(rs[0][0] / statistics.median(r for r, _ in runs["nginx"]), 3)}
                            print(f"get1  {who:10} {rs[0][0]:8.1f} MB/s  first GET (every block hashed)", flush=True)
                if "wrk" in only:
                    runs = {who: [] for who in urls}
                    for _ in range(a.repeat):
                        for who, url in urls.items():
                            script = d / f"range-{who}.lua"
                            r, cpu = measure("wrk", lambda: run_wrk(url, script, a.duration), pids[who])
                            raw = r.pop("raw")
                            r["server_cpu_s"] = round(cpu, 2)
                            runs[who].append(r)
                            if r["non2xx"] or r["socket_errors"]:
                                print(raw)
                        ng.mark()
                    for who, rs in runs.items():
                        med = sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]
                        results[who]["wrk"] = {**med, "runs_rps": [round(r["rps"]) for r in rs]}
                        print(f"wrk   {who:10} {med['rps']:9.0f} req/s  p50 {med['p50_ms']:.3f} ms  p99 "
                              f"{med['p99_ms']:.3f} ms  (median run of {[round(r['rps']) for r in rs]}; non-2xx "
                              f"{sum(r['non2xx'] for r in rs)}; server CPU {med['server_cpu_s']:.1f} s per run)",
                              flush=True)
            finally:
                if rclone is not None:
                    rclone.terminate()
                    rclone.wait()
                    rclone.stderr.close()
                srv.send_signal(signal.SIGTERM)
                try:
                    srv.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    srv.kill()
                    srv.wait()
                srv.stderr.close()
        if "gateway" in only:
            results["gateway"] = {}
            for mode in ("reflect", "tunnel"):
                rs = []
                for _ in range(a.repeat):
                    out = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / "bench_gateway.py"), mode,
                                          "--size-mib", str(a.size_mib)], check=True, capture_output=True,
                                         text=True).stdout.strip()
                    rs.append(float(re.search(r"= ([\d.]+) MB/s", out).group(1)))
                results["gateway"][mode] = {"MBps": statistics.median(rs), "runs": rs}
                print(f"gateway {mode:7} {statistics.median(rs):8.1f} MB/s  (median of {rs}; {a.size_mib} MiB, "
                      f"tools/bench/bench_gateway.py {mode})", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
