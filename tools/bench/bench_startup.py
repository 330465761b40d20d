#!/usr/bin/env python3
"""Command-line start-up: whole processes of the installed ``qeltrix`` command against
``python -c pass`` (the floor any Python tool pays), timed with hyperfine in one run.

    python tools/bench/bench_startup.py [--runs N] [--json OUT]

Goals (issue "Performance II"): ``qeltrix info FILE`` at most 2.5 x and ``qeltrix pack`` of a
1 KB file at most 3 x ``python -c pass``. Run it outside the checkout's root (or after ``pip
install .``): it times the Python that runs this script and the ``qeltrix`` installed beside it (else the one on PATH). For the
import tree, ``python -X importtime -m qeltrix info FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


def hyperfine(commands: dict, runs: int, cwd: str) -> dict:
    out = os.path.join(cwd, "hf.json")
    args = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", out, "--style", "none"]
    for name, cmd in commands.items():
        args += ["-n", name, cmd]
    subprocess.run(args, check=True, cwd=cwd, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return {r["command"]: r for r in json.load(f)["results"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    a = ap.parse_args()
    # The command installed beside this Python (a venv's bin), else the one on PATH: a pyenv shim
    # on PATH is a shell script that adds ~100 ms to every start.
    beside = os.path.join(os.path.dirname(sys.executable), "qeltrix")
    exe = beside if os.access(beside, os.X_OK) else shutil.which("qeltrix")
    if exe is None or shutil.which("hyperfine") is None:
        sys.exit("needs the installed qeltrix command and hyperfine (tools/bench/setup.sh)")
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "small.bin"), "wb") as f:
            f.write(os.urandom(1000))
        subprocess.run([exe, "keygen", "k.key"], check=True, cwd=d, stdout=subprocess.DEVNULL)
        subprocess.run([exe, "pack", "small.bin", "small.qltx", "--key-file", "k.key", "-q"], check=True, cwd=d)
        commands = {
            "python -c pass": f"{py} -c pass",
            "qeltrix --version": f"{exe} --version",
            "qeltrix info FILE": f"{exe} info small.qltx",
            "qeltrix pack (1 KB)": f"{exe} pack small.bin out.qltx --key-file k.key -q -f",
            "qeltrix unpack (1 KB)": f"{exe} unpack small.qltx out.bin --key-file k.key -q -f",
        }
        res = hyperfine(commands, a.runs, d)
    floor = res["python -c pass"]["median"]
    goals = {"qeltrix info FILE": 2.5, "qeltrix pack (1 KB)": 3.0}
    print(f"{'command':<24} {'median ms':>10} {'x python -c pass':>17}  goal")
    table = {}
    for name, r in res.items():
        ratio = r["median"] / floor
        goal = goals.get(name)
        mark = "" if goal is None else f"<= {goal} {'met' if ratio <= goal else 'MISSED'}"
        print(f"{name:<24} {r['median'] * 1000:10.1f} {ratio:17.2f}  {mark}")
        table[name] = {"median_ms": r["median"] * 1000, "ratio": ratio, "goal": goal, "cmd": commands[name]}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(table, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
