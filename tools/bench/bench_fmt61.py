#!/usr/bin/env python3
"""Format 6.1 at scale (issues 10 and 11): a container of 2^18 blocks (1 GiB of 4 KiB blocks).

    python tools/bench/bench_fmt61.py [--dir DIR] [--json out.json] [--only seek,open,rss,rekey,s3]

- seek: a 4 KiB read over HTTP from a loopback nginx (``qeltrix.seek_extract(url, ...)``, the
  container opened by the call, as a user's call would); bytes counted in nginx's access log
  ($bytes_sent: headers and body). Beside it a 6.0 container of 2^14 blocks (made by the writer's
  private deterministic packer, single-threaded: 2^18 would take too long), whose open reads its
  whole footer of 56 B a block, so its figure scales linearly to 2^18 blocks.
- open: ``qeltrix.reader.Container(open_random_access(path), key)`` then close, median of N.
- rss: ``qeltrix pack --block-size 4`` of 2^12 and of 2^18 blocks as a whole process, peak RSS
  from /usr/bin/time.
- rekey: ``qeltrix.rekey(path, key, add_passphrase=...)`` in a child process: bytes it wrote
  (wchar and write_bytes of /proc/self/io, before and after) and its time, beside one Argon2id
  derivation at the default cost timed in the same child.
- s3: the same rekey on a 1 GiB object in moto's S3 server (tests/motoserver.py's server), reached
  through a counting TCP proxy: bytes each way between the rekeying process and the server.
- small: in-process pack of 2^12 blocks of 4 KiB by worker count (1, 2, 4).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

import prepare as prep  # noqa: E402

MiB = 1 << 20
BLOCK = 4096
BIG_MIB = 1024          # 2^18 blocks of 4 KiB
SMALL_MIB = 16          # 2^12 blocks of 4 KiB
V60_BLOCKS = 1 << 14    # the 6.0 comparison container (64 MiB)
V60_FOOTER_ENTRY = 56   # bytes per block in 6.0's flat footer


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def qcmd() -> str:
    return " ".join(map(shlex.quote, prep.qeltrix_cmd()))


def rss_and_time(cmd: str) -> tuple[float, float]:
    """(peak RSS MiB, wall s) of one shell command, from /usr/bin/time."""
    p = subprocess.run(["/usr/bin/time", "-f", "%M %e", "sh", "-c", cmd], capture_output=True, text=True,
                       check=True)
    rss, el = p.stderr.strip().splitlines()[-1].split()
    return int(rss) / 1024, float(el)


class Fmt61:
    def __init__(self, d: str, keyfile: str, runs: int = 3):
        self.d = d
        self.www = os.path.join(d, "www61")
        os.makedirs(self.www, exist_ok=True)
        self.keyfile = keyfile
        self.key = open(keyfile, "rb").read()
        self.runs = runs
        self.big = os.path.join(self.www, "c4k-2e18.qltx")
        self.small = os.path.join(d, "c4k-2e12.qltx")
        self.v60 = os.path.join(self.www, "c4k-v60-2e14.qltx")
        self.res: dict = {}

    # -- inputs ------------------------------------------------------------------------------
    def pack_cmd(self, size_mib: int, dst: str) -> str:
        return (f"{qcmd()} pack {prep.data_path(self.d, size_mib)} {dst} --block-size 4 "
                f"--key-file {self.keyfile} -q -f")

    def make(self) -> None:
        for mib in (SMALL_MIB, BIG_MIB):
            prep.make_data(prep.data_path(self.d, mib), mib)
        if not os.path.exists(self.big):
            log("  packing the 2^18-block container")
            subprocess.run(["sh", "-c", self.pack_cmd(BIG_MIB, self.big)], check=True)
        if not os.path.exists(self.v60):
            log("  packing the 6.0 container of 2^14 blocks (single-threaded)")
            import qeltrix.writer as w

            with open(prep.data_path(self.d, BIG_MIB), "rb") as f:
                data = f.read(V60_BLOCKS * BLOCK)
            blob = w._pack_from_parts(data, self.key, rand=os.urandom, block_size=BLOCK, version=6)
            with open(self.v60 + ".part", "wb") as f:
                f.write(blob)
            os.replace(self.v60 + ".part", self.v60)

    # -- groups ------------------------------------------------------------------------------
    def rss(self) -> None:
        """Writer peak RSS, 2^12 vs 2^18 blocks (whole process, to a file as a user would)."""
        out = {}
        for name, mib, dst in (("2^12", SMALL_MIB, self.small), ("2^18", BIG_MIB, self.big + ".tmp")):
            cmd = self.pack_cmd(mib, dst)
            runs = [rss_and_time(cmd) for _ in range(self.runs)]
            out[name] = {"cmd": cmd, "rss_mib": statistics.median(r[0] for r in runs),
                         "rss_all": [r[0] for r in runs], "s": statistics.median(r[1] for r in runs)}
            log(f"  pack {name} blocks of 4 KiB: peak RSS {out[name]['rss_mib']:.1f} MiB, {out[name]['s']:.1f} s")
        os.unlink(self.big + ".tmp")
        out["ratio"] = out["2^18"]["rss_mib"] / out["2^12"]["rss_mib"]
        self.res["writer_rss"] = out

    def open_time(self, n: int = 50) -> None:
        from qeltrix.sources import open_random_access
        from qeltrix.reader import Container

        out = {}
        for label, path in (("6.1, 2^18 blocks", self.big), ("6.0, 2^14 blocks", self.v60)):
            with open(path, "rb") as f:  # page cache warm, as every other input
                f.seek(max(0, os.path.getsize(path) - 64 * MiB))
                while f.read(8 * MiB):
                    pass
            lat = []
            for _ in range(n):
                t0 = time.perf_counter()
                c = Container(open_random_access(path), self.key)
                lat.append((time.perf_counter() - t0) * 1000)
                c.close()
            lat.sort()
            out[label] = {"p50_ms": statistics.median(lat), "min_ms": lat[0], "max_ms": lat[-1], "n": n}
            log(f"  open {label}: p50 {out[label]['p50_ms']:.2f} ms (min {lat[0]:.2f}, max {lat[-1]:.2f})")
        out["cmd"] = "qeltrix.reader.Container(qeltrix.sources.open_random_access(path), key); c.close()"
        self.res["open"] = out

    def seek(self, n: int = 10) -> None:
        import qeltrix
        from nginxserver import Nginx

        out = {}
        rng = random.Random(61)
        with Nginx(self.www, os.path.join(self.d, "nginx61")) as nginx:
            for label, path, blocks in (("6.1, 2^18 blocks", self.big, 1 << 18),
                                        ("6.0, 2^14 blocks", self.v60, V60_BLOCKS)):
                url = f"{nginx.url}/{os.path.basename(path)}"
                size = blocks * BLOCK
                src = prep.data_path(self.d, BIG_MIB)
                runs = []
                with open(src, "rb") as f:
                    for _ in range(n):
                        off = rng.randrange(size - BLOCK)
                        f.seek(off)
                        want = f.read(BLOCK)
                        nginx.mark()
                        t0 = time.perf_counter()
                        got = qeltrix.seek_extract(url, off, BLOCK, self.key)
                        el = time.perf_counter() - t0
                        lines = nginx.mark()
                        assert got == want, "wrong bytes"
                        runs.append({"s": el, "requests": len(lines), "sent": sum(x.sent for x in lines),
                                     "body": sum(x.body for x in lines)})
                r = {k: statistics.median(x[k] for x in runs) for k in ("s", "requests", "sent", "body")}
                r["sent_max"] = max(x["sent"] for x in runs)
                r["n"] = n
                if blocks != 1 << 18:  # 6.0 reads its whole flat footer: scale it to 2^18 blocks
                    r["sent_scaled_2e18"] = r["sent"] + V60_FOOTER_ENTRY * ((1 << 18) - blocks)
                out[label] = r
                log(f"  remote 4 KiB seek {label}: {r['sent']:,.0f} B sent (max {r['sent_max']:,}), "
                    f"{r['requests']:.0f} requests, {r['s'] * 1000:.1f} ms")
        out["goal_bytes"] = 256 * 1024 + 2 * BLOCK
        out["cmd"] = "qeltrix.seek_extract('http://127.0.0.1:PORT/c.qltx', random offset, 4096, key)"
        self.res["remote_seek"] = out

    def rekey(self) -> None:
        """Local rekey in a child (its own /proc/self/io), beside one default Argon2id."""
        child = r"""
import os, sys, time, json
import qeltrix
from qeltrix.crypto import new_kdf_params, derive_master_key
path, key = sys.argv[1], bytes.fromhex(sys.argv[2])
def io():
    d = dict(l.split(": ") for l in open("/proc/self/io").read().splitlines())
    return int(d["wchar"]), int(d["write_bytes"])
extra = os.urandom(32)
w0 = io(); t0 = time.perf_counter()
qeltrix.rekey(path, key, add_master_key=extra)
t_raw = time.perf_counter() - t0; w1 = io()
t0 = time.perf_counter()
qeltrix.rekey(path, key, add_passphrase="bench rekey passphrase")
t_pass = time.perf_counter() - t0; w2 = io()
p = new_kdf_params()
t0 = time.perf_counter(); derive_master_key("bench rekey passphrase", p); t_kdf = time.perf_counter() - t0
qeltrix.rekey(path, key, remove_master_key=extra, remove_passphrase="bench rekey passphrase")  # back as it was
print(json.dumps({"raw_s": t_raw, "raw_wchar": w1[0] - w0[0], "raw_write_bytes": w1[1] - w0[1],
                  "pass_s": t_pass, "pass_wchar": w2[0] - w1[0], "pass_write_bytes": w2[1] - w1[1],
                  "kdf_s": t_kdf, "kdf": [p.t, p.m, p.p]}))
"""
        runs = []
        for _ in range(self.runs):
            p = subprocess.run([sys.executable, "-c", child, self.big, self.key.hex()], capture_output=True,
                               text=True, check=True)
            runs.append(json.loads(p.stdout))
        r = {k: statistics.median(x[k] for x in runs) for k in runs[0] if k != "kdf"}
        r["kdf"] = runs[0]["kdf"]
        r["runs"] = runs
        r["size"] = os.path.getsize(self.big)
        r["cmd"] = "qeltrix.rekey(path, key, add_master_key=K) / qeltrix.rekey(path, key, add_passphrase=P)"
        # strace's count of pwrite64 bytes for one rekey (a cross-check of wchar)
        r["strace_pwrite_bytes"] = self._strace_rekey()
        self.res["rekey_local"] = r
        log(f"  local rekey (1 GiB): raw key slot {r['raw_wchar']:,.0f} B written in {r['raw_s'] * 1000:.1f} ms; "
            f"passphrase slot {r['pass_wchar']:,.0f} B in {r['pass_s'] * 1000:.0f} ms; one Argon2id "
            f"{r['kdf_s'] * 1000:.0f} ms; strace pwrite64 {r['strace_pwrite_bytes']}")

    def _strace_rekey(self):
        import shutil

        if not shutil.which("strace"):
            return None
        trace = os.path.join(self.d, "rekey.strace")
        extra = os.urandom(32).hex()
        code = ("import qeltrix,sys; k=bytes.fromhex(sys.argv[2]); e=bytes.fromhex(sys.argv[3]); "
                "qeltrix.rekey(sys.argv[1], k, add_master_key=e); print('---', flush=True); "
                "qeltrix.rekey(sys.argv[1], k, remove_master_key=e)")
        subprocess.run(["strace", "-f", "-e", "trace=pwrite64,write", "-o", trace, sys.executable, "-c", code,
                        self.big, self.key.hex(), extra], check=True, capture_output=True)
        total = 0
        for line in open(trace):
            if "write(1," in line and "---" in line:
                break
            if "pwrite64(" in line and "= " in line:
                try:
                    total += int(line.rsplit("= ", 1)[1].split()[0])
                except ValueError:
                    pass
        os.unlink(trace)
        return total

    def s3(self) -> None:
        """Rekey of a 1 GiB object on moto, through a counting proxy."""
        import fsspec

        port = _free_port()
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        mlog = open(os.path.join(self.d, "moto61.log"), "wb")
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdin=subprocess.DEVNULL, stdout=mlog, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_port(port, proc)
            endpoint = f"http://127.0.0.1:{port}"
            fs = fsspec.filesystem("s3", endpoint_url=endpoint, key="testing", secret="testing",
                                   skip_instance_cache=True)
            fs.call_s3("create_bucket", Bucket="bench")
            t0 = time.perf_counter()
            fs.put(self.big, "bench/c.qltx")
            log(f"  uploaded the 1 GiB container to moto in {time.perf_counter() - t0:.1f} s")
            proxy = CountingProxy(port)
            cenv = dict(os.environ, FSSPEC_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}", FSSPEC_S3_KEY="testing",
                        FSSPEC_S3_SECRET="testing", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
            code = ("import qeltrix,sys,time; k=bytes.fromhex(sys.argv[1]); t=time.perf_counter(); "
                    "qeltrix.rekey('s3://bench/c.qltx', k, add_passphrase='bench s3 passphrase'); "
                    "print(time.perf_counter()-t)")
            proxy.reset()
            p = subprocess.run([sys.executable, "-c", code, self.key.hex()], env=cenv, capture_output=True, text=True,
                               check=True)
            el = float(p.stdout.split()[-1])
            up, down = proxy.totals()
            proxy.close()
            info = fs.info("bench/c.qltx")
            r = {"s": el, "sent_to_server": up, "received_from_server": down, "object_size": info["size"],
                 "goal_bytes": 6 * MiB,
                 "cmd": "FSSPEC_S3_ENDPOINT_URL=http://proxy qeltrix.rekey('s3://bench/c.qltx', key, add_passphrase=P)"}
            self.res["rekey_s3"] = r
            log(f"  S3 rekey (1 GiB object): {up:,} B to the server, {down:,} B from it, {el:.1f} s")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            mlog.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)


class CountingProxy:
    """A TCP relay on 127.0.0.1 in front of ``target_port`` that counts the bytes each way."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.up = self.down = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.up = self.down = 0

    def totals(self) -> tuple[int, int]:
        time.sleep(0.2)  # let the relay threads drain what the closed connections left
        with self.lock:
            return self.up, self.down

    def _accept(self) -> None:
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, False), daemon=True).start()

    def _pipe(self, a, b, up: bool) -> None:
        try:
            while True:
                data = a.recv(1 << 16)
                if not data:
                    break
                with self.lock:
                    if up:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                b.sendall(data)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        self.sock.close()


def small_blocks(self) -> None:
    """In-process pack of 2^12 blocks of 4 KiB (data-16.bin) to /dev/null by worker count, in a
    child each (bench_core.child, timed inside it): the per-block path at small blocks."""
    import bench_core

    src = prep.data_path(self.d, SMALL_MIB)
    out = {}
    for w in (1, 2, 4):
        el = statistics.median(bench_core.child("pack", src, os.devnull, self.key, "aes", w, BLOCK)[0]
                               for _ in range(self.runs))
        out[str(w)] = {"mbs": SMALL_MIB / el, "us_per_block": el / (SMALL_MIB * MiB // BLOCK) * 1e6}
        log(f"  pack of 4 KiB blocks, workers={w}: {out[str(w)]['mbs']:.0f} MB/s "
            f"({out[str(w)]['us_per_block']:.1f} us a block)")
    out["cmd"] = "qeltrix.pack('data-16.bin', '/dev/null', key, block_size=4096, workers=W)"
    self.res["small_blocks"] = out


Fmt61.small_blocks = small_blocks


def run(d: str, keyfile: str, only: set[str], runs: int = 3) -> dict:
    b = Fmt61(d, keyfile, runs)
    b.make()
    if "rss" in only:
        b.rss()
    if "open" in only:
        b.open_time()
    if "seek" in only:
        b.seek()
    if "rekey" in only:
        b.rekey()
    if "s3" in only:
        b.s3()
    if "small" in only:
        b.small_blocks()
    return b.res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=prep.DEFAULT_DIR)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="rss,open,seek,rekey,s3,small")
    ap.add_argument("--json")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    keys = prep.make_keys(args.dir)
    res = run(args.dir, keys["qeltrix_key"], set(args.only.split(",")), args.runs)
    print(json.dumps(res, indent=1, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
