#!/usr/bin/env python3
"""The network and pipe paths against their peers, alternating within each round (issue 15):

    python tools/bench/bench_net.py gateway   # reflect, two-gateway tunnel, in-process pack, stunnel pair
    python tools/bench/bench_net.py pipes     # cat | qeltrix pack - - | qeltrix unpack - -  vs  age -r | age -d
    python tools/bench/bench_net.py remote    # qeltrix unpack http://... vs curl vs rclone cat (crypt over http)
    python tools/bench/bench_net.py all --size-mib 1024 --rounds 3 --json out.json

Inputs, keys and the peers' encrypted copies come from tools/bench/prepare.py (sh tools/bench/setup.sh
installs the peers: age, rclone, nginx, stunnel4). Each round runs Qeltrix and its peers back to back
so a change in the load of a shared machine hits both sides of a ratio; figures are medians of the
rounds, MB/s = 2^20 B/s of plaintext.

gateway: ``bench_gateway.py`` in a child process for each mode (reflect, tunnel, stunnel): random
bytes from a client, through the path, hashed by the sink (the tunnel's and stunnel's sinks must get
the bytes sent). The stunnel peer is two Debian stunnel4 instances (client mode, then server mode;
TLS 1.3, TLS_AES_256_GCM_SHA384) forwarding over loopback. The in-process pack is
``qeltrix.pack(src, '/dev/null', key, workers=4)`` in a child process (bench_core.child).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import bench_core  # noqa: E402
import prepare as prep  # noqa: E402

MiB = 1 << 20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sh(cmd: str) -> float:
    """Wall time of a shell pipeline (fails the run if any stage fails: pipefail via bash)."""
    t0 = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def gateway_child(mode: str, size_mib: int, extra=()) -> float:
    p = subprocess.run([sys.executable, os.path.join(HERE, "bench_gateway.py"), mode, "--size-mib", str(size_mib),
                        "--seconds-only", *extra], check=True, capture_output=True, text=True)
    return float(p.stdout.split()[-1])


def rounds_of(fns: dict, rounds: int) -> dict:
    """{name: fn() -> seconds}: one warm-up of each, then ``rounds`` rounds in alternation;
    {name: [seconds, ...]}."""
    for fn in fns.values():
        fn()
    out: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            out[k].append(fn())
    return out


def row(name, cmd, times, peer, peer_cmd, peer_times, size_mib, goal) -> dict:
    mbs = [size_mib / t for t in times]
    pmbs = [size_mib / t for t in peer_times]
    ratios = [a / b for a, b in zip(mbs, pmbs)]
    r = {"name": name, "cmd": cmd, "mbs": statistics.median(mbs), "peer": peer, "peer_cmd": peer_cmd,
         "peer_mbs": statistics.median(pmbs), "ratio": statistics.median(ratios), "goal": goal,
         "rounds": [(round(a, 1), round(b, 1)) for a, b in zip(mbs, pmbs)], "size_mib": size_mib}
    log(f"  {name}: {r['mbs']:.0f} MB/s vs {peer} {r['peer_mbs']:.0f} = {r['ratio']:.2f} x (goal {goal} x)")
    return r


def gateway(d: str, size_mib: int, rounds: int, keys: dict) -> list[dict]:
    src = prep.data_path(d, size_mib)
    key = open(keys["qeltrix_key"], "rb").read()
    fns = {"pack": lambda: bench_core.child("pack", src, os.devnull, key, "aes", 4, MiB)[0],
           "reflect": lambda: gateway_child("reflect", size_mib),
           "tunnel": lambda: gateway_child("tunnel", size_mib),
           "tunnel_b3": lambda: gateway_child("tunnel", size_mib, ("--block-hash", "blake3"))}
    if shutil.which("stunnel4") or shutil.which("stunnel"):
        fns["stunnel"] = lambda: gateway_child("stunnel", size_mib)
    else:
        log("  stunnel4 is missing (sh tools/bench/setup.sh): no stunnel peer")
    t = rounds_of(fns, rounds)
    pack_cmd = "qeltrix.pack(src, '/dev/null', key, workers=4) (block 1 MiB)"
    gw = "python tools/bench/bench_gateway.py"
    out = [row("gateway reflect", f"{gw} reflect --size-mib {size_mib}", t["reflect"], "in-process pack", pack_cmd,
               t["pack"], size_mib, 0.8),
           row("gateway tunnel (two gateways)", f"{gw} tunnel --size-mib {size_mib}", t["tunnel"], "in-process pack",
               pack_cmd, t["pack"], size_mib, 0.6)]
    if "stunnel" in t:
        out.append(row("gateway tunnel vs stunnel", f"{gw} tunnel --size-mib {size_mib}", t["tunnel"],
                       "stunnel4 pair (TLS 1.3, AES-256-GCM)", f"{gw} stunnel --size-mib {size_mib}", t["stunnel"],
                       size_mib, 1.0))
        out.append(row("gateway tunnel, block_hash blake3, vs stunnel",
                       f"{gw} tunnel --block-hash blake3 --size-mib {size_mib}", t["tunnel_b3"],
                       "stunnel4 pair (TLS 1.3, AES-256-GCM)", f"{gw} stunnel --size-mib {size_mib}", t["stunnel"],
                       size_mib, 1.0))
    return out


def pipes(d: str, size_mib: int, rounds: int, keys: dict, enc: dict) -> list[dict]:
    src = prep.data_path(d, size_mib)
    q = " ".join(map(shlex.quote, prep.qeltrix_cmd()))
    qk = f"--key-file {keys['qeltrix_key']} -q"
    pub = open(keys["age_pub"]).read().strip()
    cont = enc["qeltrix_aes"]
    cmds = {"qpipe": f"cat {src} | {q} pack - - {qk} | {q} unpack - - {qk} > /dev/null",
            "apipe": f"cat {src} | age -r {pub} | age -d -i {keys['age_key']} > /dev/null",
            "upipe": f"cat {cont} | {q} unpack - /dev/null {qk}",
            "ufile": f"{q} unpack {cont} /dev/null {qk}"}
    t = rounds_of({k: (lambda c=c: sh(c)) for k, c in cmds.items()}, rounds)
    return [row("pipeline pack | unpack", cmds["qpipe"], t["qpipe"], "age -r | age -d", cmds["apipe"], t["apipe"],
                size_mib, 1.0),
            row("unpack from a pipe", cmds["upipe"], t["upipe"], "unpack from the file", cmds["ufile"], t["ufile"],
                size_mib, 0.8)]


def remote(d: str, size_mib: int, rounds: int, keys: dict, enc: dict) -> list[dict]:
    from nginxserver import Nginx

    q = " ".join(map(shlex.quote, prep.qeltrix_cmd()))
    qk = f"--key-file {keys['qeltrix_key']} -q"
    work = tempfile.mkdtemp(prefix="qeltrix-bench-net-")
    try:
        www = os.path.join(work, "www")
        os.makedirs(www)
        os.symlink(enc["qeltrix_aes"], os.path.join(www, "x.qltx"))
        # the rclone crypt directory of the same plaintext (prepare.py made it with rclone copyto)
        os.symlink(keys["rclone_store"], os.path.join(www, "rcrypt"))
        with Nginx(www, os.path.join(work, "nginx"), autoindex=True) as ng:
            pw = next(line.split("=", 1)[1].strip() for line in open(keys["rclone_conf"])
                      if line.startswith("password"))
            conf = os.path.join(work, "rclone-http.conf")
            with open(conf, "w") as f:
                f.write(f"[h]\ntype = http\nurl = {ng.url}/rcrypt/\n\n[hc]\ntype = crypt\nremote = h:\npassword = {pw}\n")
            url = f"{ng.url}/x.qltx"
            name = enc["rclone"].split(":", 1)[1]
            cmds = {"q": f"{q} unpack {url} /dev/null {qk}",
                    "curl": f"curl -sS --fail -o /dev/null {url}",
                    "rclone": f"rclone --config {conf} cat hc:{name} > /dev/null"}
            t = rounds_of({k: (lambda c=c: sh(c)) for k, c in cmds.items()}, rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shown = {k: c.replace(work, "WORK") for k, c in cmds.items()}
    return [row("remote unpack vs curl", shown["q"], t["q"], "curl (the container)", shown["curl"], t["curl"],
                size_mib, 0.8),
            row("remote unpack vs rclone crypt", shown["q"], t["q"], "rclone cat (crypt over http)", shown["rclone"],
                t["rclone"], size_mib, 1.0)]


GROUPS = {"gateway": lambda d, size_mib, rounds, keys, enc: gateway(d, size_mib, rounds, keys),
          "pipes": pipes, "remote": remote}


def run(d: str, size_mib: int, rounds: int, groups) -> dict:
    keys, enc = prep.prepare(d, size_mib)
    res: dict = {}
    for g in groups:
        log(f"[{g}] {size_mib} MiB, {rounds} rounds")
        res[g] = GROUPS[g](d, size_mib, rounds, keys, enc)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("group", choices=["gateway", "pipes", "remote", "all"])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=prep.DEFAULT_DIR)
    ap.add_argument("--json")
    a = ap.parse_args()
    groups = ["gateway", "pipes", "remote"] if a.group == "all" else [a.group]
    res = run(a.dir, a.size_mib, a.rounds, groups)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
