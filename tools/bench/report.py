"""Turn run_all.py's results into docs/benchmarks.md and PNG charts (matplotlib, no display).

    python tools/bench/report.py docs/benchmarks.json     # redraw from saved results
"""

from __future__ import annotations

import json
import os
import statistics
import sys

MiB = 1 << 20


def _med(v):
    return statistics.median(v) if v else float("nan")


def _row(res, tool_prefix, op, kind=None):
    for r in res["tools"] + res["library"]:
        if r["tool"].startswith(tool_prefix) and r["op"] == op and (kind is None or r["kind"] == kind):
            return r
    return None


def _ceilings(res) -> dict:
    """The best of the ceiling samples taken at the start and end of the run: what the machine
    gives when others leave it alone (the conservative side for Qeltrix's ratios)."""
    c = {k: list(v) for k, v in res["ceiling"].items() if isinstance(v, list)}
    for r in res.get("h2h", []):  # the head-to-head rounds sample the ceilings too
        if r["kind"] == "ceiling":
            c[f"{r['cipher']}_sha_aead"] += [x[1] for x in r["rounds"]]
            c[f"{r['cipher']}_design"] += [x[2] for x in r["rounds"]]
    return {k: max(v) for k, v in c.items()}


def targets(res) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, against, met?) for the issue's targets."""
    ceil = _ceilings(res)
    out = []

    def add(name, value, against, ok):
        out.append((name, value, against, ok))

    h2h = res.get("h2h")
    if h2h:  # measured in alternation: the ratios that the targets are about
        for r in h2h:
            label = "AES-256-GCM" if r.get("cipher") == "aes" else "ChaCha20-Poly1305"
            if r["kind"] == "ceiling":
                extra = f"; {r['design_ratio']:.2f} x design ceiling {r['design_mbs']:.0f} MB/s" \
                    if r["op"] == "pack" else ""
                add(f"{r['op']} {label} to /dev/null >= 0.8 x ceiling (library)", f"{r['mbs']:.0f} MB/s",
                    f"{r['ratio']:.2f} x ceiling {r['ceiling_mbs']:.0f} MB/s{extra}", r["ratio"] >= 0.8)
            else:
                factor = 1.5 if r["op"] == "encrypt" else 2.0
                verb = "pack" if r["op"] == "encrypt" else "unpack"
                add(f"qeltrix {verb} (CLI, {r.get('size_mib', '?')} MiB) to /dev/null >= {factor} x age {r['op']}",
                    f"{r['mbs']:.0f} MB/s",
                    f"{r['ratio']:.2f} x age {r['peer_mbs']:.0f} MB/s", r["ratio"] >= factor)

    for cipher, label in (() if h2h else (("aes", "AES-256-GCM"), ("chacha", "ChaCha20-Poly1305"))):
        for op, verb in (("encrypt", "pack"), ("decrypt", "unpack")):
            lib = _row(res, f"qeltrix.{verb} ({label})", op, "library")
            if lib:
                r = lib["null_mbs"] / ceil[f"{cipher}_sha_aead"]
                extra = ""
                if verb == "pack":
                    extra = f"; {lib['null_mbs'] / ceil[f'{cipher}_design']:.2f} x design ceiling (SHA-256 + AEAD + BLAKE3)"
                add(f"{verb} {label} to /dev/null >= 0.8 x ceiling", f"{lib['null_mbs']:.0f} MB/s",
                    f"{r:.2f} x ceiling {ceil[f'{cipher}_sha_aead']:.0f} MB/s{extra}", r >= 0.8)
    for op, verb, factor in (() if h2h else (("encrypt", "pack", 1.5), ("decrypt", "unpack", 2.0))):
        q = _row(res, "qeltrix (CLI, AES-256-GCM)", op)
        age = _row(res, "age", op)
        if q and age and "null_mbs" in q and "null_mbs" in age:
            r = q["null_mbs"] / age["null_mbs"]
            add(f"qeltrix {verb} (CLI) >= {factor} x age {op}", f"{q['null_mbs']:.0f} MB/s",
                f"{r:.2f} x age {age['null_mbs']:.0f} MB/s", r >= factor)
    for r in res["library"]:
        if r["tool"].startswith("qeltrix.") and "AES" in r["tool"]:
            add(f"{r['tool']} peak RSS <= 64 MiB (1 GiB, defaults)", f"{r['rss_mib']:.1f} MiB", "", r["rss_mib"] <= 64)
    sizes = res["sweeps"].get("size", [])
    if sizes:
        rss = [max(p["pack_rss_mib"], p["unpack_rss_mib"]) for p in sizes]
        # Small files do not fill the pipeline (12 MiB of blocks in flight): flat means no growth
        # once it is full, and never above the 64 MiB budget.
        full = [r for p, r in zip(sizes, rss) if p["size_mib"] >= 16] or rss
        add("peak RSS flat in file size (no growth once the pipeline is full, from 16 MiB)",
            f"{min(full):.1f} .. {max(full):.1f} MiB",
            f"{sizes[0]['size_mib']} MiB .. {sizes[-1]['size_mib']} MiB: {min(rss):.1f} .. {max(rss):.1f} MiB",
            max(full) - min(full) <= 8 and max(rss) <= 64)
    for label, limit in (("1 MiB blocks", 0.8), ("64 KiB blocks", 0.15)):
        s = res["seek"].get(label)
        if s:
            p50 = s["read_range"]["p50_ms"]
            add(f"random 4 KiB read p50 <= {limit} ms ({label}, one process)", f"{p50:.3f} ms",
                f"qeltrix.open: {s['qeltrix.open']['p50_ms']:.3f} ms", p50 <= limit)
    cli = {r["tool"]: r for r in res.get("seek_cli", [])}
    if "qeltrix seek" in cli:
        qs = cli["qeltrix seek"]["median_s"]
        for peer in ("rclone cat --offset", "crypt4gh decrypt --range"):
            if peer in cli:
                add(f"qeltrix seek (one process, 4 KiB) faster than {peer}", f"{qs * 1000:.1f} ms",
                    f"{cli[peer]['median_s'] * 1000:.1f} ms", qs < cli[peer]["median_s"])
    cb = res.get("cobblestone", {}).get("blake3")
    if cb:
        add("qeltrix.pack --block-hash blake3 vs cryptography.cobblestone encrypt (1 thread), same rounds",
            f"{cb['qeltrix_mbs']:.0f} MB/s ({cb['threads']} workers); {cb['qeltrix_1w_mbs']:.0f} MB/s (1 worker)",
            f"{cb['ratio']:.2f} x / {cb['ratio_1w']:.2f} x cobblestone {cb['cobblestone_mbs']:.0f} MB/s", None)
    r = res.get("why", {}).get("cli_blake3_vs_age")
    if r:
        add(f"qeltrix pack --block-hash blake3 (CLI, {r['size_mib']} MiB) vs age encrypt (informational)",
            f"{r['mbs']:.0f} MB/s", f"{r['ratio']:.2f} x age {r['peer_mbs']:.0f} MB/s", None)
    f = res.get("fmt61", {})
    rs = f.get("remote_seek", {})
    if "6.1, 2^18 blocks" in rs:
        r, old = rs["6.1, 2^18 blocks"], rs.get("6.0, 2^14 blocks", {})
        against = f"6.0: {old['sent_scaled_2e18']:,.0f} B (scaled from 2^14 blocks)" if old else ""
        add("remote 4 KiB seek, 2^18 blocks, nginx bytes sent <= 256 KiB + 2 blocks", f"{r['sent']:,.0f} B "
            f"(max {r['sent_max']:,} B, {r['requests']:.0f} requests)", against, r["sent_max"] <= rs["goal_bytes"])
    if "open" in f:
        o = f["open"]["6.1, 2^18 blocks"]
        add("local open of the 2^18-block container <= 5 ms", f"{o['p50_ms']:.2f} ms (p50)",
            f"6.0 at 2^14 blocks: {f['open']['6.0, 2^14 blocks']['p50_ms']:.2f} ms", o["p50_ms"] <= 5)
    if "writer_rss" in f:
        w = f["writer_rss"]
        add("writer peak RSS at 2^18 blocks within 10% of 2^12 (qeltrix pack --block-size 4)",
            f"{w['2^18']['rss_mib']:.1f} MiB", f"{w['2^12']['rss_mib']:.1f} MiB: {w['ratio']:.3f} x",
            w["ratio"] <= 1.10)
    if "rekey_local" in f:
        k = f["rekey_local"]
        add("rekey of a 1 GiB local container writes <= 64 KiB", f"{k['pass_wchar']:,.0f} B (passphrase slot); "
            f"{k['raw_wchar']:,.0f} B (raw key slot)",
            f"{k['pass_s'] * 1000:.0f} ms beside one Argon2id {k['kdf_s'] * 1000:.0f} ms; raw key slot "
            f"{k['raw_s'] * 1000:.1f} ms", max(k["pass_wchar"], k["raw_wchar"]) <= 64 * 1024)
    if "rekey_s3" in f:
        k = f["rekey_s3"]
        add("rekey of a 1 GiB object on S3 (moto) <= 6 MiB each way",
            f"{k['sent_to_server']:,} B up, {k['received_from_server']:,} B down", f"{k['s']:.1f} s",
            max(k["sent_to_server"], k["received_from_server"]) <= 6 * MiB)
    return out


def charts(res, img_dir: str) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(img_dir, exist_ok=True)
    files = {}
    ceil = _ceilings(res)

    # 1. every tool, /dev/null (file output as a lighter bar)
    rows = [r for r in res["tools"] + res["library"] if "null_mbs" in r or "file_mbs" in r]
    rows.sort(key=lambda r: (r["op"], -(r.get("null_mbs") or r.get("file_mbs") or 0)))
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(rows) + 1.5))
    labels = [f"{r['tool']} - {r['op']}" for r in rows]
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [r.get("null_mbs") or 0 for r in rows], 0.4, label="to /dev/null",
            color=["#1f77b4" if r["tool"].startswith("qeltrix") else "#7f7f7f" for r in rows])
    ax.barh([i - 0.2 for i in y], [r.get("file_mbs") or 0 for r in rows], 0.4, label="to a file",
            color=["#aec7e8" if r["tool"].startswith("qeltrix") else "#c7c7c7" for r in rows])
    ax.axvline(ceil["aes_sha_aead"], color="red", ls="--", lw=1, label="ceiling: SHA-256 + AES-GCM")
    ax.axvline(ceil["aes_design"], color="orange", ls=":", lw=1, label="pack design ceiling: 2xSHA-256 + AES-GCM")
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("MB/s (2^20 B/s)")
    ax.set_title(f"Encrypt / decrypt {res['config']['size_mib']} MiB, {res['ceiling']['threads']} cores")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    files["tools"] = _save(fig, img_dir, "bench-tools.png")

    sw = res["sweeps"]

    def line(key, x, xlabel, name, logx=False, yk=("pack_mbs", "unpack_mbs"), ylabel="MB/s", title=""):
        pts = sw.get(key)
        if not pts:
            return
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for k in yk:
            ax.plot([p[x] for p in pts], [p[k] for p in pts], "o-", label=k.replace("_mbs", "").replace("_", " "))
        if ylabel == "MB/s":
            ax.axhline(ceil["aes_sha_aead"], color="red", ls="--", lw=1, label="ceiling")
            ax.axhline(ceil["aes_design"], color="orange", ls=":", lw=1, label="pack design ceiling")
        if logx:
            ax.set_xscale("log", base=2)
        ax.set_xticks([p[x] for p in pts])
        ax.set_xticklabels([str(p[x]) for p in pts])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        files[key if name.startswith("bench-q") else name] = _save(fig, img_dir, name)

    line("size", "size_mib", "file size (MiB)", "bench-qeltrix-size.png", True,
         title="Qeltrix (AES-256-GCM, 1 MiB blocks, 4 workers) vs file size")
    line("block", "block_kib", "block size (KiB)", "bench-qeltrix-block.png", True,
         title="Qeltrix vs block size")
    line("workers", "workers", "workers", "bench-qeltrix-workers.png", title="Qeltrix vs workers")
    line("size", "size_mib", "file size (MiB)", "bench-memory.png", True, yk=("pack_rss_mib", "unpack_rss_mib"),
         ylabel="peak RSS (MiB)", title="Qeltrix peak RSS vs file size (defaults)")
    return files


def _save(fig, d, name):
    import matplotlib.pyplot as plt

    path = os.path.join(d, name)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _loads(res) -> str:
    """The machine is shared: how busy others kept it before each group."""
    busy = [x[1] for x in res["loads"] if len(x) == 3]
    old = [x[1] for x in res["loads"] if len(x) == 2]
    parts = []
    if busy:
        parts.append(f"Before each group, other processes kept {min(busy):.2f} .. {max(busy):.2f} cores busy "
                     f"(median {_med(busy):.2f}; sampled for 2 s while the run was idle; it waits for < "
                     f"{res['config'].get('max_busy', 0.35)}, then measures anyway).")
    if old:
        parts.append(f"Groups gated on the 1-minute load average saw {min(old):.2f} .. {max(old):.2f}.")
    parts.append("The machine is shared with other engineers' builds: every ratio is against figures of the same "
                 "run, and the targets table against figures taken in alternation (head to head).")
    return " ".join(parts)


def _fmt(v, digits=0):
    return "—" if v is None else f"{v:.{digits}f}"


#: Everything from this line on in docs/benchmarks.md is kept as it is by write().
KEPT = "<!-- kept by tools/bench/report.py: sections below are measured and written by hand -->"


def write(res, md_path: str, img_dir: str) -> None:
    charts(res, img_dir)
    rel = os.path.relpath(img_dir, os.path.dirname(os.path.abspath(md_path)))
    ceil = _ceilings(res)
    m, cfg = res["machine"], res["config"]
    L = []
    L.append("# Benchmarks\n")
    L.append(f"Generated by `python tools/bench/run_all.py{' --quick' if cfg['quick'] else ''}` "
             f"(commit {m.get('commit', '?')}) on {m.get('cpu', '?')}, {m['cpus']} cores, Python {m['python']}, "
             f"cryptography {m.get('cryptography', '?')} ({m.get('openssl', '?')}). Input: {cfg['size_mib']} MiB of "
             f"fixed pseudo-random bytes in the page cache; median of {cfg['runs']} runs after a warm-up "
             "(hyperfine for CLI tools, in-process timing in a child process for libraries). MB/s = 2^20 B/s. "
             f"Whole run: {res['elapsed_s'] / 60:.1f} min. {_loads(res)}\n")
    if res.get("merged_groups"):
        L.append(f"The whole run was at commit {res.get('full_run_commit')}; these groups were run again since, and "
                 f"replace its figures: {'; '.join(', '.join(g) for g in res['merged_groups'])} (`--only ... --merge "
                 "docs/benchmarks.json`). Rows of other groups are from the whole run.\n")
    L.append("Setup: `sh tools/bench/setup.sh` (Debian: age gnupg rclone hyperfine wrk nginx-light strace; PyPI: "
             "crypt4gh tink matplotlib moto[server] s3fs; cryptography.cobblestone comes with cryptography >= 50, a "
             "dependency), which also makes the inputs, keys and encrypted copies (`tools/bench/prepare.py`). "
             "Qeltrix is measured as installed (`pip install .` into a venv), run from outside the checkout.\n")
    L.append("## Ceiling (same run)\n")
    L.append(f"In-process, {res['ceiling']['threads']} threads, reused 1 MiB buffers (`tools/bench/bench_core.py`"
             " `ceiling()`), best of the samples taken at the start and the end of the run and in the head-to-head rounds (the machine is shared: "
             "the best sample is what it gives when left alone, and the conservative side for Qeltrix's ratios):\n")
    L.append("| ceiling | MB/s |\n|---|---|")
    L.append(f"| SHA-256 + AESGCM.encrypt_into (the issue's ceiling) | {ceil['aes_sha_aead']:.0f} |")
    L.append(f"| SHA-256 + AESGCM.encrypt_into + BLAKE3 of the output (6.1 pack's design ceiling) | {ceil['aes_design']:.0f} |")
    L.append(f"| SHA-256 + ChaCha20Poly1305.encrypt_into | {ceil['chacha_sha_aead']:.0f} |")
    L.append(f"| SHA-256 + ChaCha20Poly1305.encrypt_into + BLAKE3 of the output | {ceil['chacha_design']:.0f} |\n")
    L.append("6.1 pack hashes every block twice: SHA-256 of the plaintext (it keys the block; BLAKE3 with "
             "`--block-hash blake3`) and BLAKE3 of the stored bytes (the keyless index hash; 6.0 used SHA-256 "
             "there). Unpack hashes the plaintext once. The issue's ceiling is SHA-256 + AEAD on as many threads "
             "as cores (the targets use it); the design ceiling adds the index hash.\n")
    L.append("## Targets\n")
    if res.get("h2h"):
        L.append("Throughput targets from the head-to-head group: each round runs the ceiling (1 s), then the "
                 "Qeltrix operation, then the design ceiling (or the Qeltrix CLI, then age's), so both sides of a "
                 f"ratio see the same load; median of {len(res['h2h'][0]['rounds'])} rounds. Commands: "
                 "`bench_core.child` (as in the sweeps) and, for the CLI, "
                 + "; ".join(f"`{r['cmd']}` vs `{r['peer_cmd']}`" for r in res["h2h"] if r["kind"] == "age") + ".\n")
    L.append("| target | measured | against | met |\n|---|---|---|---|")
    for name, value, against, ok in targets(res):
        L.append(f"| {name} | {value} | {against} | {'yes' if ok else 'NO' if ok is not None else '—'} |")
    L.append("")
    L.append("## Encrypt and decrypt\n")
    L.append(f"![throughput of every tool]({rel}/bench-tools.png)\n")
    L.append("Each row was measured at its own moment of a shared machine: compare rows with care; the targets "
             "above come from the head-to-head rounds. `x ceiling` is against the best ceiling sample "
             "(SHA-256 + AES-GCM).\n")
    L.append("| tool | op | → /dev/null MB/s | x ceiling | → file MB/s | peak RSS MiB | command (→ /dev/null, else → file) |")
    L.append("|---|---|---|---|---|---|---|")
    for r in res["tools"] + res["library"]:
        cmd = (r.get("cmd_null") or r.get("cmd_file") or "").replace("|", "\\|")
        x = r.get("null_mbs") and r["null_mbs"] / ceil["aes_sha_aead"]
        L.append(f"| {r['tool']} ({r['kind']}) | {r['op']} | {_fmt(r.get('null_mbs'))} | {_fmt(x, 2)} | "
                 f"{_fmt(r.get('file_mbs'))} | {_fmt(r.get('rss_mib'), 1)} | `{cmd}` |")
    L.append("\nFile outputs replace the previous output first (`--prepare 'rm -f OUT'`); rclone's encrypt is a "
             "`copyto` into its crypt remote (there is no /dev/null form). RSS: `/usr/bin/time -f %M` of one run "
             "(CLI) or the child's `ru_maxrss` (libraries).\n")
    L.append("## Qeltrix sweeps (library, → /dev/null, AES-256-GCM)\n")
    for key, title in (("size", "file size"), ("block", "block size"), ("workers", "workers")):
        pts = res["sweeps"].get(key)
        if not pts:
            continue
        L.append(f"### vs {title}\n")
        if key == "size":
            L.append(f"![vs file size]({rel}/bench-qeltrix-size.png) ![peak RSS]({rel}/bench-memory.png)\n")
        else:
            L.append(f"![vs {title}]({rel}/bench-qeltrix-{key}.png)\n")
        L.append("| size MiB | block KiB | workers | pack MB/s | unpack MB/s | pack RSS MiB | unpack RSS MiB |")
        L.append("|---|---|---|---|---|---|---|")
        for p in pts:
            L.append(f"| {p['size_mib']} | {p['block_kib']} | {p['workers']} | {p['pack_mbs']:.0f} | "
                     f"{p['unpack_mbs']:.0f} | {p['pack_rss_mib']:.1f} | {p['unpack_rss_mib']:.1f} |")
        L.append("")
    L.append("Command per point: `qeltrix.pack(data, '/dev/null', key, block_size=B, workers=W)` and "
             "`qeltrix.unpack(container, '/dev/null', key, workers=W)` in a child process "
             "(`bench_core.child`).\n")
    if res["seek"]:
        L.append("## Random 4 KiB reads, one process\n")
        L.append(f"{next(iter(res['seek'].values()))['read_range']['n']} reads at seeded random offsets, container "
                 "opened once (header, key and footer authenticated once); every read authenticates and hash-checks "
                 "its block.\n")
        L.append("| container | API | p50 ms | p99 ms |\n|---|---|---|---|")
        for label, r in res["seek"].items():
            for api, v in r.items():
                L.append(f"| {label} | {'Container.read_range' if api == 'read_range' else api} | "
                         f"{v['p50_ms']:.3f} | {v['p99_ms']:.3f} |")
        L.append("")
    if res.get("seek_cli"):
        L.append("## One process per 4 KiB read (CLI start-up included)\n")
        L.append("| tool | median ms | min ms | peak RSS MiB | output correct | command |\n|---|---|---|---|---|---|")
        for r in res["seek_cli"]:
            L.append(f"| {r['tool']} | {r['median_s'] * 1000:.1f} | {r['min_s'] * 1000:.1f} | {_fmt(r.get('rss_mib'), 1)} | "
                     f"{'yes' if r['correct'] else 'no'} | `{r['cmd']}` |")
        L.append("\ncrypt4gh 1.8.6's `--range` gives wrong bytes for offsets of 64 KiB and more (a known bug, see "
                 "the peer notes); it is timed as it is.\n")
    cbs = res.get("cobblestone")
    if cbs:
        L.append("## cryptography.cobblestone as a peer\n")
        L.append("`cryptography.cobblestone` (cryptography 50: a chunked streaming AEAD, `Cobblestone256Encryptor`) "
                 "run as a user would: one thread, the file read in 1 MiB pieces, `update_into` a reused buffer "
                 "(`tools/bench/peer_cobblestone.py`). Qeltrix rows from this run beside it.\n")
        L.append("| | → /dev/null MB/s | → file MB/s | peak RSS MiB | threads | random access | index (keyless verify) | "
                 "several keys, rekey | remote (HTTP/S3) reads |\n|---|---|---|---|---|---|---|---|---|")
        for r in cbs["rows"]:
            L.append(f"| cobblestone {r['op']} | {r['null_mbs']:.0f} | {r['file_mbs']:.0f} | {r['rss_mib']:.1f} | 1 | "
                     "no (a stream: decrypt from the start) | no | no (one key) | no |")
        for r in res.get("library", []):
            if r["tool"].startswith("qeltrix.") and "AES" in r["tool"]:
                L.append(f"| {r['tool']} {r['op']} | {r['null_mbs']:.0f} | {r['file_mbs']:.0f} | {r['rss_mib']:.1f} | "
                         f"{os.cpu_count() or 2} (workers=4) | yes (per block) | yes | yes (keyring) | yes |")
        h = cbs["blake3"]
        L.append(f"\nSame rounds, alternating ({len(h['rounds'])}): `{h['cmd']}` {h['qeltrix_mbs']:.0f} MB/s on "
                 f"{h['threads']} workers and {h['qeltrix_1w_mbs']:.0f} MB/s on one; `{h['peer_cmd']}` "
                 f"{h['cobblestone_mbs']:.0f} MB/s: {h['ratio']:.2f} x and {h['ratio_1w']:.2f} x. The ceiling for "
                 f"BLAKE3 + AES-GCM on {h['threads']} threads in the same rounds: {h['ceiling_mbs']:.0f} MB/s.\n")
    f = res.get("fmt61")
    if f:
        L.append("## Format 6.1 at 2^18 blocks (1 GiB of 4 KiB blocks)\n")
        L.append("`python tools/bench/bench_fmt61.py` (the run's `fmt61` group). Container: `qeltrix pack --block-size 4` "
                 "of 1 GiB. The 6.0 comparison is 2^14 blocks (64 MiB) made by the writer's private single-threaded "
                 "`_pack_from_parts(..., version=6)`; its open reads the whole flat footer (56 B a block), so its "
                 "bytes are also given scaled to 2^18 blocks.\n")
        rs = f.get("remote_seek")
        if rs:
            L.append(f"Remote 4 KiB seek (`{rs['cmd']}`, loopback nginx, {next(iter(rs.values()))['n']} random "
                     "offsets; bytes from nginx's access log, `$bytes_sent`, headers included):\n")
            L.append("| container | bytes sent (median) | max | requests | time ms | scaled to 2^18 blocks |\n"
                     "|---|---|---|---|---|---|")
            for label, r in rs.items():
                if isinstance(r, dict):
                    L.append(f"| {label} | {r['sent']:,.0f} | {r['sent_max']:,} | {r['requests']:.0f} | "
                             f"{r['s'] * 1000:.1f} | {r.get('sent_scaled_2e18', r['sent']):,.0f} |")
            L.append(f"\nGoal: <= {rs['goal_bytes']:,} B (256 KiB + 2 blocks).\n")
        if "open" in f:
            L.append(f"Local open (`{f['open']['cmd']}`, page cache warm):\n")
            L.append("| container | p50 ms | min ms | max ms |\n|---|---|---|---|")
            for label, o in f["open"].items():
                if isinstance(o, dict):
                    L.append(f"| {label} | {o['p50_ms']:.2f} | {o['min_ms']:.2f} | {o['max_ms']:.2f} |")
            L.append("")
        if "writer_rss" in f:
            w = f["writer_rss"]
            L.append(f"Writer peak RSS (`/usr/bin/time -f %M`, whole process, median of {len(w['2^12']['rss_all'])} "
                     "runs):\n")
            L.append("| blocks | peak RSS MiB | time s | command |\n|---|---|---|---|")
            for n in ("2^12", "2^18"):
                L.append(f"| {n} | {w[n]['rss_mib']:.1f} | {w[n]['s']:.1f} | `{w[n]['cmd']}` |")
            L.append(f"\nRatio {w['ratio']:.3f}.\n")
        if "rekey_local" in f:
            k = f["rekey_local"]
            L.append(f"Rekey of the 1 GiB container ({k['size']:,} B) in place (`{k['cmd']}`, a child process; bytes "
                     "from its /proc/self/io `wchar`, every byte passed to write calls; `write_bytes` counts whole "
                     f"pages dirtied; median of {len(k['runs'])} runs):\n")
            L.append("| change | bytes written | write_bytes (page cache → disk) | time ms |\n|---|---|---|---|")
            L.append(f"| add a raw-key slot | {k['raw_wchar']:,.0f} | {k['raw_write_bytes']:,.0f} | {k['raw_s'] * 1000:.1f} |")
            L.append(f"| add a passphrase slot | {k['pass_wchar']:,.0f} | {k['pass_write_bytes']:,.0f} | "
                     f"{k['pass_s'] * 1000:.0f} |")
            L.append(f"| one Argon2id (t={k['kdf'][0]}, m={k['kdf'][1]} KiB, p={k['kdf'][2]}), same child | — | — | "
                     f"{k['kdf_s'] * 1000:.0f} |")
            if k.get("strace_pwrite_bytes") is not None:
                L.append(f"\nCross-check: `strace -f -e trace=pwrite64,write` of one raw-key rekey counts "
                         f"{k['strace_pwrite_bytes']:,} B in pwrite64 calls.\n")
        if "rekey_s3" in f:
            k = f["rekey_s3"]
            L.append(f"Rekey of the same container as a 1 GiB object ({k['object_size']:,} B) on moto's S3 server, "
                     f"through a counting TCP proxy in front of it (`{k['cmd']}`): {k['sent_to_server']:,} B to the "
                     f"server, {k['received_from_server']:,} B from it, {k['s']:.1f} s (goal <= 6 MiB each way; "
                     "HTTP headers included).\n")
    w = res.get("why")
    if w:
        c = w["one_thread_mbs"]
        L.append("## What pack's ratios are made of\n")
        L.append("One thread, reused 1 MiB buffer (`bench_core.primitive_costs`), same run: "
                 + ", ".join(f"{k} {v:.0f} MB/s" for k, v in c.items())
                 + f". Pack does per block the plaintext hash + AES-GCM + BLAKE3 of the stored bytes; on "
                 f"{w['threads']} threads with nothing else the bound is {w['pack_bound_mbs']['sha256']:.0f} MB/s "
                 f"(SHA-256 block hash) and {w['pack_bound_mbs']['blake3']:.0f} MB/s (`--block-hash blake3`). "
                 "The issue's ceiling leaves the index hash out.\n")
        r = w.get("cli_blake3_vs_age")
        if r:
            L.append(f"`{r['cmd']}` vs `{r['peer_cmd']}`, alternating, {len(r['rounds'])} rounds: {r['mbs']:.0f} vs "
                     f"{r['peer_mbs']:.0f} MB/s = {r['ratio']:.2f} x"
                     + (f" (earlier runs of this group: {', '.join(f'{x:.2f}' for x in r['earlier_ratios'])} x; age's "
                        "one-thread speed varies most between runs)" if r.get("earlier_ratios") else "") + ".\n")
        if w.get("startup"):
            L.append("Start-up (hyperfine, 10 runs, median): " + "; ".join(
                f"{x['what']} {x['median_s'] * 1000:.0f} ms (`{x['cmd']}`)" for x in w["startup"])
                + ". On 512 MiB a CLI pays its start-up once per file.\n")
    sb = res.get("fmt61", {}).get("small_blocks")
    if sb:
        L.append("Pack of 4 KiB blocks by worker count (`" + sb["cmd"] + "`, 2^12 blocks, timed in a child): "
                 + "; ".join(f"workers={k}: {v['mbs']:.0f} MB/s ({v['us_per_block']:.1f} us a block)"
                             for k, v in sb.items() if k != "cmd") + ".\n")
    if res.get("net"):
        import report_net  # the gateway, pipes and remote unpack section (same folder)

        L += report_net.section(res["net"], None, report_net.chart(res["net"], img_dir))
    L.append("HTTP (SeekServer and the gateway next to nginx): `python tools/bench/bench_http.py`, figures in "
             "the README's \"Performance: servers\".\n")
    text = "\n".join(L)
    # Sections measured by other harnesses (bench_http.py ...) are written by hand below KEPT in
    # the same file: a regeneration keeps them.
    try:
        with open(md_path) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    if KEPT in old:
        text = text.rstrip("\n") + "\n\n" + old[old.index(KEPT):]
    os.makedirs(os.path.dirname(os.path.abspath(md_path)), exist_ok=True)
    with open(md_path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):
        sys.exit(__doc__.strip())
    path = sys.argv[1] if len(sys.argv) > 1 else "docs/benchmarks.json"
    with open(path) as f:
        res = json.load(f)
    root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    write(res, os.path.join(root, "docs", "benchmarks.md"), os.path.join(root, "docs", "img"))
