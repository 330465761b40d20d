"""The "Gateway, pipes and remote unpack" section of docs/benchmarks.md (issue 15), from the
figures of tools/bench/bench_net.py (run_all.py's group ``net``, or bench_net.py --json).

    python tools/bench/report_net.py net.json [--before before.json] [--md docs/benchmarks.md]

With --md the section replaces the one between its markers in that file (report.write puts it
there on a full run); otherwise it is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

BEGIN = "<!-- net:begin (tools/bench/report_net.py) -->"
END = "<!-- net:end -->"
GROUPS = (("gateway", "Gateway"), ("pipes", "Pipes"), ("remote", "Remote unpack from nginx"))


def chart(net: dict, img_dir: str) -> str | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for g, _ in GROUPS for r in net.get(g, [])]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.4))
    y = range(len(rows))
    ax.barh([i - 0.2 for i in y], [r["mbs"] for r in rows], 0.4, label="qeltrix", color="#1f77b4")
    ax.barh([i + 0.2 for i in y], [r["peer_mbs"] for r in rows], 0.4, label="peer", color="#7f7f7f")
    ax.set_yticks(list(y))
    ax.set_yticklabels([f"{r['name']}\nvs {r['peer'].split(' (')[0]}: {r['ratio']:.2f} x (goal {r['goal']})" for r in rows],
                       fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("MB/s (2^20 B/s)")
    ax.set_title("Gateway, pipes, remote unpack vs their peers (same run)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    os.makedirs(img_dir, exist_ok=True)
    path = os.path.join(img_dir, "bench-net.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def section(net: dict, before: dict | None = None, img: str | None = None, notes: list[str] | None = None) -> list[str]:
    L = [BEGIN, "## Gateway, pipes and remote unpack (issue 15)\n"]
    L.append("`python tools/bench/bench_net.py all` (run_all.py group `net`): Qeltrix and its peer alternate "
             "within each round, figures are medians of the rounds (MB/s = 2^20 B/s of plaintext); the ratio is "
             "the median of the rounds' ratios. Inputs from tools/bench/prepare.py.\n")
    if img:
        L.append(f"![gateway, pipes, remote](img/{os.path.basename(img)})\n")
    prev = {(g, r["name"]): r for g, _ in GROUPS for r in (before or {}).get(g, [])}
    L.append("| what | command | MB/s | peer | peer's command | peer MB/s | ratio | goal | met |"
             + (" ratio before |" if prev else ""))
    L.append("|---|---|---:|---|---|---:|---:|---:|:-:|" + ("---:|" if prev else ""))
    for g, _title in GROUPS:
        for r in net.get(g, []):
            met = "yes" if r["ratio"] >= r["goal"] else "no"
            line = (f"| {r['name']} ({r.get('size_mib', '?')} MiB) | `{r['cmd']}` | {r['mbs']:.0f} | {r['peer']} | "
                    f"`{r['peer_cmd']}` | {r['peer_mbs']:.0f} | {r['ratio']:.2f} x | {r['goal']} x | {met} |")
            if prev:
                p = prev.get((g, r["name"]))
                line += f" {p['ratio']:.2f} x |" if p else " |"
            L.append(line)
    L.append("")
    for n in notes or []:
        L.append(n + "\n")
    L.append(END)
    return L


def splice(md_path: str, lines: list[str]) -> None:
    text = open(md_path).read() if os.path.exists(md_path) else ""
    block = "\n".join(lines) + "\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    elif "\nHTTP (SeekServer" in text:  # where report.write puts it: before the page's last line
        head, tail = text.split("\nHTTP (SeekServer", 1)
        text = head.rstrip("\n") + "\n\n" + block + "\nHTTP (SeekServer" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(md_path, "w") as f:
        f.write(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--before", help="figures of the same groups before a change (a 'ratio before' column)")
    ap.add_argument("--md", help="replace the section in this file")
    ap.add_argument("--notes", help="a text file of paragraphs (blank-line separated) to add under the table")
    ap.add_argument("--img-dir", default=None)
    a = ap.parse_args()
    net = json.load(open(a.json))
    before = json.load(open(a.before)) if a.before else None
    img = chart(net, a.img_dir) if a.img_dir else None
    notes = [p.strip() for p in open(a.notes).read().split("\n\n") if p.strip()] if a.notes else None
    lines = section(net, before, img, notes)
    if a.md:
        splice(a.md, lines)
    else:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
