#!/usr/bin/env python3
"""The whole benchmark in one command: Qeltrix and its peers back to back, against the crypto
ceiling measured in the same run; writes docs/benchmarks.md, docs/benchmarks.json and PNG charts.

    sh tools/bench/setup.sh                       # once: peers from the registries, inputs, keys
    python tools/bench/run_all.py                 # 1 GiB, 5 runs per figure (about 15 minutes)
    python tools/bench/run_all.py --quick         # 256 MiB, 3 runs, sweeps capped at 256 MiB

CLI tools (qeltrix, age, gpg, crypt4gh, rclone) are timed with hyperfine (median of --runs after
a warm-up run; inputs in the page cache); libraries (qeltrix.pack/unpack, tink) in a child
process each, timed inside it, which also reports its peak RSS. Output to /dev/null is the
stable figure; output to a file is given beside it (on these VMs writing a GiB into the page
cache costs 0.5 to 4 s, depending on what the hypervisor did with free pages). MB/s = 2^20 B/s.
Before each group the run waits (up to --max-wait s) until other processes use under
--max-busy cores (sampled from /proc/stat for 2 s while the run is idle; the 1-minute load
average would count the run's own previous measurement), and records it: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import bench_core  # noqa: E402  (the ceiling and the in-process pack/unpack child)
import prepare as prep  # noqa: E402

MiB = 1 << 20
SEEK_OFFSET = 123_456_789  # the CLI seek's fixed, unaligned offset (inside every size >= 128 MiB)
SEEK_LEN = 4096


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def others_busy(seconds: float = 2.0) -> float:
    """Cores kept busy by other processes: /proc/stat sampled over ``seconds`` while this run
    is idle. (The 1-minute load average would also count this run's previous measurement.)"""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return sum(v), v[3] + v[4]

    try:
        t1, i1 = snap()
        time.sleep(seconds)
        t2, i2 = snap()
    except OSError:
        return os.getloadavg()[0]
    return (os.cpu_count() or 1) * (1 - (i2 - i1) / max(1, t2 - t1))


def wait_quiet(max_busy: float, max_wait: float) -> tuple[float, float]:
    """Wait (up to max_wait s) until other processes use less than max_busy cores; returns
    (cores busy, 1-minute load average)."""
    t0 = time.monotonic()
    while True:
        busy = others_busy()
        if busy < max_busy or time.monotonic() - t0 >= max_wait:
            if busy >= max_busy:
                log(f"  others still use {busy:.2f} cores after {max_wait:.0f}s: measuring anyway")
            return busy, os.getloadavg()[0]
        time.sleep(3)


class Bench:
    def __init__(self, args):
        self.a = args
        self.d = args.dir
        self.res: dict = {"tools": [], "library": [], "sweeps": {}, "seek": {}, "loads": []}
        self.tmpjson = os.path.join(self.d, "hyperfine.json")

    def load(self, what: str) -> None:
        # After one wait in vain (someone else keeps the machine busy), later waits are short.
        last = self.res["loads"][-1] if self.res["loads"] else None
        wait = self.a.max_wait if last is None or last[1] < self.a.max_busy else min(self.a.max_wait, 20)
        busy, load = wait_quiet(self.a.max_busy, wait)
        self.res["loads"].append((what, round(busy, 2), round(load, 2)))
        log(f"[{what}] other processes: {busy:.2f} cores busy (load average {load:.2f})")

    # -- timing primitives -------------------------------------------------------------------
    def hyperfine(self, cmd: str, prepare: str | None = None, runs: int | None = None) -> dict:
        runs = runs or self.a.runs
        hf = ["hyperfine", "--style", "none", "--runs", str(runs), "--warmup", "1", "--export-json", self.tmpjson]
        if prepare:
            hf += ["--prepare", prepare]
        subprocess.run(hf + [cmd], check=True, stdout=subprocess.DEVNULL)
        with open(self.tmpjson) as f:
            r = json.load(f)["results"][0]
        return {"median_s": r["median"], "min_s": r["min"], "max_s": r["max"], "runs": len(r["times"]),
                "user_s": r["user"], "system_s": r["system"]}

    @staticmethod
    def rss_of(cmd: str) -> float | None:
        """Peak RSS (MiB) of one run of a shell command, from /usr/bin/time."""
        if not os.path.exists("/usr/bin/time"):
            return None
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "sh", "-c", cmd], capture_output=True, text=True)
        try:
            return int(p.stderr.strip().splitlines()[-1]) / 1024
        except (ValueError, IndexError):
            return None

    def lib(self, fn, runs: int | None = None) -> dict:
        """fn() -> (elapsed_s, rss_mib); median of runs (after one warm-up)."""
        fn()
        out = [fn() for _ in range(runs or self.a.runs)]
        return {"median_s": statistics.median(o[0] for o in out), "min_s": min(o[0] for o in out),
                "rss_mib": max(o[1] for o in out), "runs": len(out)}

    # -- groups ------------------------------------------------------------------------------
    def ceilings(self, tag: str) -> None:
        self.load(f"ceiling {tag}")
        th = os.cpu_count() or 2
        secs = 1.0 if self.a.quick else 2.0
        c = self.res.setdefault("ceiling", {})
        for cipher in ("aes", "chacha"):
            for hashes in (1, 2):
                key = f"{cipher}_{'design' if hashes == 2 else 'sha_aead'}"
                c.setdefault(key, []).extend(bench_core.ceiling(cipher, th, secs, hashes) for _ in range(3))
        c["threads"] = th

    def ceiling(self, cipher: str, design: bool = False) -> float:
        return statistics.median(self.res["ceiling"][f"{cipher}_{'design' if design else 'sha_aead'}"])

    def tools(self, keys: dict, enc: dict) -> None:
        d, size = self.d, self.a.size_mib
        src = prep.data_path(d, size)
        out = os.path.join(d, "out.tmp")
        rm = f"rm -f {out}"
        q = " ".join(map(shlex.quote, prep.qeltrix_cmd()))
        qk = f"--key-file {keys['qeltrix_key']} -q"
        c4 = os.path.join(os.path.dirname(sys.executable), "crypt4gh")
        gpg = " ".join(prep.GPG)
        rc = f"rclone --config {keys['rclone_conf']}"
        self.res["tools"] = []  # a re-run (--merge) replaces the group's rows
        rows = [
            # tool, op, command to /dev/null, command to a file (None: not possible)
            ("qeltrix (CLI, AES-256-GCM)", "encrypt", f"{q} pack {src} /dev/null {qk}", f"{q} pack {src} {out} {qk} -f"),
            ("qeltrix (CLI, AES-256-GCM)", "decrypt", f"{q} unpack {enc['qeltrix_aes']} /dev/null {qk}",
             f"{q} unpack {enc['qeltrix_aes']} {out} {qk} -f"),
            ("qeltrix (CLI, ChaCha20-Poly1305)", "encrypt", f"{q} pack {src} /dev/null --cipher chacha {qk}",
             f"{q} pack {src} {out} --cipher chacha {qk} -f"),
            ("qeltrix (CLI, ChaCha20-Poly1305)", "decrypt", f"{q} unpack {enc['qeltrix_chacha']} /dev/null {qk}",
             f"{q} unpack {enc['qeltrix_chacha']} {out} {qk} -f"),
        ]
        if "age" in enc:
            pub = open(keys["age_pub"]).read().strip()
            rows += [("age 1.1 (X25519)", "encrypt", f"age -r {pub} {src} > /dev/null", f"age -r {pub} -o {out} {src}"),
                     ("age 1.1 (X25519)", "decrypt", f"age -d -i {keys['age_key']} {enc['age']} > /dev/null",
                      f"age -d -i {keys['age_key']} -o {out} {enc['age']}")]
        if "gpg" in enc:
            rows += [("gpg 2.2 (AES256, symmetric)", "encrypt",
                      f"{gpg} --symmetric --cipher-algo AES256 --compress-algo none -o /dev/null {src}",
                      f"{gpg} --symmetric --cipher-algo AES256 --compress-algo none -o {out} {src}"),
                     ("gpg 2.2 (AES256, symmetric)", "decrypt", f"{gpg} -o /dev/null -d {enc['gpg']}",
                      f"{gpg} -o {out} -d {enc['gpg']}")]
        if "crypt4gh" in enc:
            rows += [("crypt4gh 1.8 (CLI)", "encrypt", f"{c4} encrypt --recipient_pk {keys['c4gh_pub']} < {src} > /dev/null",
                      f"{c4} encrypt --recipient_pk {keys['c4gh_pub']} < {src} > {out}"),
                     ("crypt4gh 1.8 (CLI)", "decrypt", f"{c4} decrypt --sk {keys['c4gh_sec']} < {enc['crypt4gh']} > /dev/null",
                      f"{c4} decrypt --sk {keys['c4gh_sec']} < {enc['crypt4gh']} > {out}")]
        if "rclone" in enc:
            rows += [("rclone 1.60 crypt", "encrypt", None, f"{rc} copyto {src} pcrypt:bench-copy.bin"),
                     ("rclone 1.60 crypt", "decrypt", f"{rc} cat {enc['rclone']} > /dev/null",
                      f"{rc} cat {enc['rclone']} > {out}")]
        for tool, op, null_cmd, file_cmd in rows:
            self.load(f"{tool} {op}")
            row = {"tool": tool, "op": op, "kind": "cli", "cmd_null": null_cmd, "cmd_file": file_cmd}
            if null_cmd:
                row["null"] = self.hyperfine(null_cmd)
                row["rss_mib"] = self.rss_of(null_cmd)
            if file_cmd:
                prepare = rm
                if "copyto" in file_cmd:
                    prepare = f"{rc} deletefile pcrypt:bench-copy.bin 2>/dev/null || true"
                row["file"] = self.hyperfine(file_cmd, prepare=prepare)
                if not null_cmd:
                    row["rss_mib"] = self.rss_of(file_cmd)
            self._mbs(row)
            self.res["tools"].append(row)
            log(f"  {tool} {op}: {row.get('null_mbs') or 0:.0f} MB/s to /dev/null, {row.get('file_mbs') or 0:.0f} to a file")
        if os.path.exists(out):
            os.unlink(out)

    def _mbs(self, row: dict) -> None:
        for k in ("null", "file"):
            if k in row:
                row[f"{k}_mbs"] = self.a.size_mib / row[k]["median_s"]

    def library(self, keys: dict, enc: dict) -> None:
        d, size = self.d, self.a.size_mib
        src = prep.data_path(d, size)
        out = os.path.join(d, "out.tmp")
        key = open(keys["qeltrix_key"], "rb").read()
        bs = 1 << 20
        rows = []
        self.res["library"] = []  # a re-run (--merge) replaces the group's rows
        for cipher, cont in (("aes", enc["qeltrix_aes"]), ("chacha", enc["qeltrix_chacha"])):
            name = "AES-256-GCM" if cipher == "aes" else "ChaCha20-Poly1305"
            rows += [(f"qeltrix.pack ({name})", "encrypt", cipher, "pack", src),
                     (f"qeltrix.unpack ({name})", "decrypt", cipher, "unpack", cont)]
        for tool, op, cipher, qop, s in rows:
            self.load(tool)
            row = {"tool": tool, "op": op, "kind": "library", "cipher": cipher,
                   "cmd_null": f"qeltrix.{qop}({os.path.basename(s)!r}, '/dev/null', key, workers=4, block 1 MiB)"}
            for k, dst in (("null", os.devnull), ("file", out)):
                row[k] = self.lib(lambda: bench_core.child(qop, s, dst, key, cipher, 4, bs))
            row["rss_mib"] = max(row["null"]["rss_mib"], row["file"]["rss_mib"])
            self._mbs(row)
            self.res["library"].append(row)
            log(f"  {tool}: {row['null_mbs']:.0f} MB/s to /dev/null, rss {row['rss_mib']:.1f} MiB")
        if "tink" in enc:
            tk = os.path.join(HERE, "peer_tink.py")
            for op, s in (("enc", src), ("dec", enc["tink"])):
                self.load(f"tink {op}")
                row = {"tool": "tink 1.16 Python (AES256_GCM_HKDF_1MB)", "op": "encrypt" if op == "enc" else "decrypt",
                       "kind": "library", "cmd_null": f"{sys.executable} {tk} {op} KEYSET {os.path.basename(s)} /dev/null"}
                for k, dst in (("null", os.devnull), ("file", out)):
                    def one(op=op, s=s, dst=dst):
                        p = subprocess.run([sys.executable, tk, op, keys["tink_keyset"], s, dst], check=True,
                                           capture_output=True, text=True)
                        el, rss = p.stdout.split()
                        return float(el), float(rss)
                    row[k] = self.lib(one)
                row["rss_mib"] = row["null"]["rss_mib"]
                self._mbs(row)
                self.res["library"].append(row)
                log(f"  tink {op}: {row['null_mbs']:.0f} MB/s")
        if os.path.exists(out):
            os.unlink(out)

    def h2h(self, keys: dict, enc: dict) -> None:
        """Head to head for the targets: Qeltrix and its reference alternate within each round
        (ceiling, Qeltrix library, age CLI vs Qeltrix CLI), so a change in the load of a shared
        machine hits both sides of each ratio."""
        d, size = self.d, self.a.size_mib
        src = prep.data_path(d, size)
        key = open(keys["qeltrix_key"], "rb").read()
        th = os.cpu_count() or 2
        q = " ".join(map(shlex.quote, prep.qeltrix_cmd()))
        qk = f"--key-file {keys['qeltrix_key']} -q"

        def sh(cmd):
            t0 = time.perf_counter()
            subprocess.run(["sh", "-c", cmd], check=True)
            return time.perf_counter() - t0

        out = []
        for cipher, cont in (("aes", enc["qeltrix_aes"]), ("chacha", enc["qeltrix_chacha"])):
            for op in ("pack", "unpack"):
                s_ = src if op == "pack" else cont
                name = f"qeltrix.{op} {'AES-256-GCM' if cipher == 'aes' else 'ChaCha20-Poly1305'} vs ceiling"
                self.load(name)
                bench_core.child(op, s_, os.devnull, key, cipher, 4, 1 << 20)  # warm-up
                rounds = []
                for _ in range(self.a.runs):
                    c1 = bench_core.ceiling(cipher, th, 1.0)
                    el, rss = bench_core.child(op, s_, os.devnull, key, cipher, 4, 1 << 20)
                    c2 = bench_core.ceiling(cipher, th, 1.0, hashes=2)
                    rounds.append((size / el, c1, c2, rss))
                r = {"name": name, "kind": "ceiling", "cipher": cipher, "op": op,
                     "mbs": statistics.median(x[0] for x in rounds), "ceiling_mbs": statistics.median(x[1] for x in rounds),
                     "design_mbs": statistics.median(x[2] for x in rounds), "rss_mib": max(x[3] for x in rounds),
                     "ratio": statistics.median(x[0] / x[1] for x in rounds),
                     "design_ratio": statistics.median(x[0] / x[2] for x in rounds), "rounds": rounds}
                out.append(r)
                log(f"  {name}: {r['mbs']:.0f} MB/s = {r['ratio']:.2f} x ceiling {r['ceiling_mbs']:.0f}, "
                    f"{r['design_ratio']:.2f} x design ceiling {r['design_mbs']:.0f}")
        if "age" in enc:
            # issue 10's figure is on 512 MiB: inputs of that size, whatever the run's size
            am = self.a.age_mib
            prep.make_data(prep.data_path(d, am), am)
            aenc = prep.encrypted_inputs(d, am, keys, only=("qeltrix_aes", "age"))
            asrc = prep.data_path(d, am)
            pub = open(keys["age_pub"]).read().strip()
            for op, qcmd, acmd in (
                    ("encrypt", f"{q} pack {asrc} /dev/null {qk}", f"age -r {pub} {asrc} > /dev/null"),
                    ("decrypt", f"{q} unpack {aenc['qeltrix_aes']} /dev/null {qk}",
                     f"age -d -i {keys['age_key']} {aenc['age']} > /dev/null")):
                name = f"qeltrix CLI vs age {op}"
                self.load(name)
                sh(qcmd), sh(acmd)  # warm-up
                rounds = [(am / sh(qcmd), am / sh(acmd)) for _ in range(self.a.runs)]
                r = {"name": name, "kind": "age", "op": op, "cmd": qcmd, "peer_cmd": acmd, "size_mib": am,
                     "mbs": statistics.median(x[0] for x in rounds), "peer_mbs": statistics.median(x[1] for x in rounds),
                     "ratio": statistics.median(x[0] / x[1] for x in rounds), "rounds": rounds}
                out.append(r)
                log(f"  {name}: {r['mbs']:.0f} vs {r['peer_mbs']:.0f} MB/s = {r['ratio']:.2f} x")
        self.res["h2h"] = out

    def sweeps(self, keys: dict) -> None:
        key = open(keys["qeltrix_key"], "rb").read()
        d = self.d
        runs = max(1, self.a.runs - 2)
        cont = os.path.join(d, "sweep.qltx")

        def point(size_mib, bs, workers):
            src = prep.data_path(d, size_mib)
            bench_core.child("pack", src, cont, key, "aes", workers, bs)  # the container unpack reads
            p = self.lib(lambda: bench_core.child("pack", src, os.devnull, key, "aes", workers, bs), runs)
            u = self.lib(lambda: bench_core.child("unpack", cont, os.devnull, key, "aes", workers, bs), runs)
            r = {"size_mib": size_mib, "block_kib": bs // 1024, "workers": workers,
                 "pack_mbs": size_mib / p["median_s"], "unpack_mbs": size_mib / u["median_s"],
                 "pack_rss_mib": p["rss_mib"], "unpack_rss_mib": u["rss_mib"]}
            log(f"  {size_mib} MiB, {bs >> 10} KiB blocks, {workers} workers: pack {r['pack_mbs']:.0f}, "
                f"unpack {r['unpack_mbs']:.0f} MB/s; rss {r['pack_rss_mib']:.0f}/{r['unpack_rss_mib']:.0f} MiB")
            return r

        sw = self.res["sweeps"]
        self.load("sweep: file size")
        sw["size"] = [point(s, 1 << 20, 4) for s in self.a.sweep_sizes]
        self.load("sweep: block size")
        base = min(self.a.size_mib, 256 if self.a.quick else 1024)
        sw["block"] = [point(base, kib * 1024, 4) for kib in (64, 256, 1024, 4096, 16384)]
        self.load("sweep: workers")
        sw["workers"] = [point(base, 1 << 20, w) for w in (1, 2, 4)]
        os.unlink(cont)

    def seek(self, keys: dict, enc: dict) -> None:
        """Random 4 KiB reads in one process (container opened once), 1 MiB and 64 KiB blocks."""
        import qeltrix
        from qeltrix.sources import open_random_access
        from qeltrix.reader import Container

        key = open(keys["qeltrix_key"], "rb").read()
        size = self.a.size_mib * MiB
        src = prep.data_path(self.d, self.a.size_mib)
        c64 = os.path.join(self.d, f"data-{self.a.size_mib}.b64.qltx")
        if not os.path.exists(c64):
            qeltrix.pack(src, c64, key, block_size=64 << 10)
        rng = random.Random(6)
        offsets = [rng.randrange(0, size - SEEK_LEN) for _ in range(self.a.seeks)]
        with open(src, "rb") as f:
            expect = {o: (f.seek(o), f.read(SEEK_LEN))[1] for o in offsets[:20]}
        for label, path in (("1 MiB blocks", enc["qeltrix_aes"]), ("64 KiB blocks", c64)):
            with open(path, "rb") as f:  # in the page cache, as every other input (reads, not disk)
                while f.read(8 * MiB):
                    pass
            self.load(f"seek {label}")
            r = {}
            with Container(open_random_access(path), key) as c:
                for o, want in expect.items():
                    assert c.read_range(o, SEEK_LEN) == want
                lat = []
                for o in offsets:
                    t0 = time.perf_counter()
                    c.read_range(o, SEEK_LEN)
                    lat.append((time.perf_counter() - t0) * 1000)
            r["read_range"] = _pcts(lat)
            with qeltrix.open(path, key) as f:
                lat = []
                for o in offsets:
                    t0 = time.perf_counter()
                    f.seek(o)
                    f.read(SEEK_LEN)
                    lat.append((time.perf_counter() - t0) * 1000)
                r["qeltrix.open"] = _pcts(lat)
                lat = []  # the same 4 KiB again: served from its decrypted-block cache
                for o in offsets[:50]:
                    f.seek(o)
                    f.read(SEEK_LEN)
                    t0 = time.perf_counter()
                    f.seek(o)
                    f.read(SEEK_LEN)
                    lat.append((time.perf_counter() - t0) * 1000)
                r["qeltrix.open, repeated read"] = _pcts(lat)
            self.res["seek"][label] = r
            log(f"  {label}: read_range p50 {r['read_range']['p50_ms']:.3f} ms, qeltrix.open p50 "
                f"{r['qeltrix.open']['p50_ms']:.3f} ms")

    def seek_cli(self, keys: dict, enc: dict) -> None:
        """One process per 4 KiB read: qeltrix seek vs rclone cat --offset vs crypt4gh --range."""
        q = " ".join(map(shlex.quote, prep.qeltrix_cmd()))
        c4 = os.path.join(os.path.dirname(sys.executable), "crypt4gh")
        o, n = SEEK_OFFSET, SEEK_LEN
        with open(prep.data_path(self.d, self.a.size_mib), "rb") as f:
            f.seek(o)
            want = f.read(n)
        rows = [("qeltrix seek", f"{q} seek {enc['qeltrix_aes']} --offset {o} --length {n} "
                                 f"--key-file {keys['qeltrix_key']}")]
        if "rclone" in enc:
            rows.append(("rclone cat --offset", f"rclone --config {keys['rclone_conf']} cat --offset {o} "
                                                f"--count {n} {enc['rclone']}"))
        if "crypt4gh" in enc:
            rows.append(("crypt4gh decrypt --range", f"{c4} decrypt --sk {keys['c4gh_sec']} --range {o}-{o + n} "
                                                     f"< {enc['crypt4gh']}"))
        out = []
        for tool, cmd in rows:
            self.load(tool)
            got = subprocess.run(["sh", "-c", cmd], capture_output=True).stdout
            r = self.hyperfine(cmd + " > /dev/null", runs=max(10, 4 * self.a.runs))
            r.update(tool=tool, cmd=cmd + " > /dev/null", correct=got == want, rss_mib=self.rss_of(cmd + " > /dev/null"))
            out.append(r)
            log(f"  {tool}: {r['median_s'] * 1000:.1f} ms (output {'correct' if r['correct'] else 'WRONG'})")
        self.res["seek_cli"] = out


    def cobblestone(self, keys: dict, enc: dict) -> None:
        """cryptography.cobblestone (a one-thread streaming AEAD) beside qeltrix: its cost to
        /dev/null and to a file, and qeltrix.pack with --block-hash blake3 against it in
        alternation (rounds: qeltrix on every core, qeltrix on one worker, cobblestone)."""
        try:
            import cryptography.cobblestone  # noqa: F401
        except ImportError:
            log("  cryptography.cobblestone is missing (cryptography >= 50): skipped")
            return
        d, size = self.d, self.a.size_mib
        src = prep.data_path(d, size)
        out = os.path.join(d, "out.tmp")
        key = open(keys["qeltrix_key"], "rb").read()
        cb = os.path.join(HERE, "peer_cobblestone.py")
        ccont = os.path.join(d, f"data-{size}.cobblestone")
        if not os.path.exists(ccont):
            subprocess.run([sys.executable, cb, "enc", keys["qeltrix_key"], src, ccont + ".part"], check=True,
                           capture_output=True)
            os.replace(ccont + ".part", ccont)

        def peer(op, s, dst):
            p = subprocess.run([sys.executable, cb, op, keys["qeltrix_key"], s, dst], check=True,
                               capture_output=True, text=True)
            el, rss = p.stdout.split()
            return float(el), float(rss)

        rows = []
        for op, s in (("enc", src), ("dec", ccont)):
            self.load(f"cobblestone {op}")
            row = {"tool": "cryptography.cobblestone (Cobblestone256, 1 thread)",
                   "op": "encrypt" if op == "enc" else "decrypt", "kind": "library",
                   "cmd_null": f"{sys.executable} {cb} {op} KEYFILE {os.path.basename(s)} /dev/null"}
            for k, dst in (("null", os.devnull), ("file", out)):
                row[k] = self.lib(lambda op=op, s=s, dst=dst: peer(op, s, dst))
            row["rss_mib"] = max(row["null"]["rss_mib"], row["file"]["rss_mib"])
            self._mbs(row)
            rows.append(row)
            log(f"  cobblestone {op}: {row['null_mbs']:.0f} MB/s to /dev/null, {row['file_mbs']:.0f} to a file")
        th = os.cpu_count() or 2
        self.load("qeltrix.pack --block-hash blake3 vs cobblestone")
        bench_core.child("pack", src, os.devnull, key, "aes", th, 1 << 20, "blake3")  # warm-up
        rounds = []
        for _ in range(self.a.runs):
            q_all = size / bench_core.child("pack", src, os.devnull, key, "aes", th, 1 << 20, "blake3")[0]
            q_one = size / bench_core.child("pack", src, os.devnull, key, "aes", 1, 1 << 20, "blake3")[0]
            c_one = size / peer("enc", src, os.devnull)[0]
            ceil = bench_core.ceiling("aes", th, 1.0, hashes=1, block_hash="blake3")
            rounds.append((q_all, q_one, c_one, ceil))
        h = {"rounds": rounds, "threads": th,
             "qeltrix_mbs": statistics.median(x[0] for x in rounds),
             "qeltrix_1w_mbs": statistics.median(x[1] for x in rounds),
             "cobblestone_mbs": statistics.median(x[2] for x in rounds),
             "ceiling_mbs": statistics.median(x[3] for x in rounds),
             "ratio": statistics.median(x[0] / x[2] for x in rounds),
             "ratio_1w": statistics.median(x[1] / x[2] for x in rounds),
             "cmd": f"qeltrix.pack(src, '/dev/null', key, block_hash='blake3', workers={th}) (and workers=1)",
             "peer_cmd": f"python tools/bench/peer_cobblestone.py enc KEYFILE data-{size}.bin /dev/null"}
        log(f"  qeltrix.pack blake3: {h['qeltrix_mbs']:.0f} MB/s ({th} workers), {h['qeltrix_1w_mbs']:.0f} (1 worker); "
            f"cobblestone {h['cobblestone_mbs']:.0f}: {h['ratio']:.2f} x / {h['ratio_1w']:.2f} x")
        self.res["cobblestone"] = {"rows": rows, "blake3": h}
        # also in the table and chart of every tool (a re-run replaces its rows)
        self.res["library"] = [r for r in self.res["library"] if not r["tool"].startswith("cryptography.cobblestone")]
        self.res["library"] += rows
        if os.path.exists(out):
            os.unlink(out)

    def fmt61(self, keys: dict) -> None:
        """Format 6.1 at 2^18 blocks: remote seek bytes, open time, writer RSS, rekey (bench_fmt61)."""
        import bench_fmt61

        self.load("format 6.1 at 2^18 blocks")
        self.res.setdefault("fmt61", {}).update(bench_fmt61.run(self.d, keys["qeltrix_key"], set(self.a.fmt61.split(",")),
                                                 runs=min(3, self.a.runs)))


    def net(self, keys: dict, enc: dict) -> None:
        """The gateway, pipes and remote unpack against their peers (bench_net.py, issue 15)."""
        import bench_net

        out = self.res.setdefault("net", {})
        for g in ("gateway", "pipes", "remote"):
            self.load(f"net: {g}")
            out[g] = bench_net.GROUPS[g](self.d, self.a.size_mib, self.a.runs, keys, enc)

    def why(self, keys: dict) -> None:
        """What the pack ratios are made of: each primitive's cost on one thread (the bound
        that follows for pack on every core), and the CLI with --block-hash blake3 against age
        encrypt in alternation (what the faster plaintext hash gives)."""
        self.load("primitive costs")
        th = os.cpu_count() or 2
        costs = [bench_core.primitive_costs(1.0) for _ in range(3)]
        c = {k: statistics.median(x[k] for x in costs) for k in costs[0]}
        sha = max(v for k, v in c.items() if k.startswith("sha256"))  # the faster of hashlib and the lanes
        bound = {bh: th / (1 / (sha if bh == "sha256" else c[bh]) + 1 / c["aes-256-gcm"] + 1 / c["blake3"])
                 for bh in ("sha256", "blake3")}
        out = {"one_thread_mbs": c, "threads": th, "pack_bound_mbs": bound}
        log("  one thread: " + ", ".join(f"{k} {v:.0f}" for k, v in c.items()) + " MB/s; pack bound "
            + ", ".join(f"{k} {v:.0f}" for k, v in bound.items()))
        if os.path.exists(keys["age_pub"]):
            am = self.a.age_mib
            prep.make_data(prep.data_path(self.d, am), am)
            asrc = prep.data_path(self.d, am)
            q = " ".join(map(shlex.quote, prep.qeltrix_cmd()))
            pub = open(keys["age_pub"]).read().strip()
            qcmd = f"{q} pack {asrc} /dev/null --block-hash blake3 --key-file {keys['qeltrix_key']} -q"
            acmd = f"age -r {pub} {asrc} > /dev/null"

            def sh(cmd):
                t0 = time.perf_counter()
                subprocess.run(["sh", "-c", cmd], check=True)
                return time.perf_counter() - t0

            self.load("qeltrix CLI --block-hash blake3 vs age encrypt")
            sh(qcmd), sh(acmd)
            rounds = [(am / sh(qcmd), am / sh(acmd)) for _ in range(self.a.runs)]
            out["cli_blake3_vs_age"] = {"cmd": qcmd, "peer_cmd": acmd, "size_mib": am, "rounds": rounds,
                                        "mbs": statistics.median(x[0] for x in rounds),
                                        "peer_mbs": statistics.median(x[1] for x in rounds),
                                        "ratio": statistics.median(x[0] / x[1] for x in rounds)}
            r = out["cli_blake3_vs_age"]
            prev = self.res.get("why", {}).get("cli_blake3_vs_age")  # a merged re-run keeps the earlier ratios
            if prev:
                r["earlier_ratios"] = prev.get("earlier_ratios", []) + [round(prev["ratio"], 3)]
            log(f"  qeltrix pack --block-hash blake3 vs age: {r['mbs']:.0f} vs {r['peer_mbs']:.0f} MB/s = {r['ratio']:.2f} x")
        one = os.path.join(self.d, "data-1.bin")
        prep.make_data(one, 1)
        q = " ".join(map(shlex.quote, prep.qeltrix_cmd()))
        starts = [("qeltrix pack of 1 MiB", f"{q} pack {one} /dev/null --key-file {keys['qeltrix_key']} -q"),
                  ("python -c pass (this interpreter)", f"{shlex.quote(sys.executable)} -c pass")]
        if os.path.exists(keys["age_pub"]):
            starts.append(("age -r of 1 MiB", f"age -r {open(keys['age_pub']).read().strip()} {one} > /dev/null"))
        self.load("start-up")
        out["startup"] = [dict(self.hyperfine(cmd, runs=10), what=what, cmd=cmd) for what, cmd in starts]
        log("  start-up: " + ", ".join(f"{x['what']} {x['median_s'] * 1000:.0f} ms" for x in out["startup"]))
        self.res["why"] = out


def _pcts(lat: list[float]) -> dict:
    lat = sorted(lat)
    return {"p50_ms": statistics.median(lat), "p99_ms": lat[max(0, int(len(lat) * 0.99) - 1)], "n": len(lat)}


def machine() -> dict:
    m = {"python": platform.python_version(), "cpus": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import cryptography

        m["cryptography"] = cryptography.__version__
        from cryptography.hazmat.backends.openssl.backend import backend

        m["openssl"] = backend.openssl_version_text()
    except Exception:  # noqa: BLE001 - informational only
        pass
    try:
        m["commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True).stdout.strip()
    except OSError:
        pass
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=None, help="main file size (default 1024; --quick 256)")
    ap.add_argument("--quick", action="store_true", help="256 MiB, 3 runs, sweeps up to 256 MiB")
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (default 5; --quick 3)")
    ap.add_argument("--dir", default=prep.DEFAULT_DIR, help="inputs, keys and scratch outputs")
    ap.add_argument("--max-busy", type=float, default=0.35,
                    help="cores other processes may keep busy before a measurement (sampled for 2 s)")
    ap.add_argument("--max-wait", type=float, default=120.0,
                    help="seconds to wait for the load to drop (20 after a wait in vain)")
    ap.add_argument("--age-mib", type=int, default=512, help="file size of the qeltrix CLI vs age head to head")
    ap.add_argument("--seeks", type=int, default=200, help="random reads per in-process seek figure")
    ap.add_argument("--only", default="h2h,tools,library,sweeps,seek,seek_cli,cobblestone,fmt61,net,why",
                    help="comma-separated groups to run (default: all)")
    ap.add_argument("--fmt61", default="rss,open,seek,rekey,s3,small", help="the fmt61 group's parts")
    ap.add_argument("--merge", metavar="JSON", help="start from these saved results (re-run only --only's groups)")
    ap.add_argument("--out-md", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--out-json", default=os.path.join(ROOT, "docs", "benchmarks.json"))
    ap.add_argument("--img-dir", default=os.path.join(ROOT, "docs", "img"))
    args = ap.parse_args()
    args.size_mib = args.size_mib or (256 if args.quick else 1024)
    args.runs = args.runs or (3 if args.quick else 5)
    args.sweep_sizes = [s for s in (1, 16, 256, 1024, 4096) if s <= (256 if args.quick else 4096)]
    only = set(args.only.split(","))

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are cached
    os.environ["GNUPGHOME"] = os.path.join(args.dir, "gnupg")
    log(f"preparing inputs in {args.dir}")
    keys, enc = prep.prepare(args.dir, args.size_mib, args.sweep_sizes if "sweeps" in only else ())
    b = Bench(args)
    if args.merge:
        with open(args.merge) as f:
            b.res = json.load(f)
        b.res.setdefault("full_run_commit", b.res["machine"].get("commit"))
        b.res.setdefault("merged_groups", []).append(sorted(only))
    b.res["machine"] = machine()
    b.res["config"] = {"size_mib": args.size_mib, "runs": args.runs, "quick": args.quick,
                       "sweep_sizes": args.sweep_sizes, "max_busy": args.max_busy}
    t0 = time.time()
    if not args.merge:
        b.ceilings("start")
    if "h2h" in only:
        b.h2h(keys, enc)
    if "tools" in only:
        b.tools(keys, enc)
    if "library" in only:
        b.library(keys, enc)
    if "sweeps" in only:
        b.sweeps(keys)
    if "seek" in only:
        b.seek(keys, enc)
    if "seek_cli" in only:
        b.seek_cli(keys, enc)
    if "cobblestone" in only:
        b.cobblestone(keys, enc)
    if "fmt61" in only:
        b.fmt61(keys)
    if "net" in only:
        b.net(keys, enc)
    if "why" in only:
        b.why(keys)
    if not args.merge:
        b.ceilings("end")
        b.res["elapsed_s"] = time.time() - t0
    else:
        b.res["elapsed_s"] = b.res.get("elapsed_s", 0) + time.time() - t0
    os.makedirs(os.path.dirname(args.out_json), exist_ok=True)
    with open(args.out_json, "w") as f:
        json.dump(b.res, f, indent=1)
    import report

    report.write(b.res, args.out_md, args.img_dir)
    log(f"wrote {args.out_md}, {args.out_json} and charts in {args.img_dir} ({b.res['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
