#!/usr/bin/env python3
"""Regenerate the Python parser of the V6 container from its Kaitai Struct spec.

    npm ci --prefix tools               # once: installs the pinned compiler into tools/node_modules
    python tools/gen_parser.py          # writes qeltrix/_spec/qeltrix_v6.py
    python tools/gen_parser.py --check  # exit 1 with a unified diff if the committed file is stale

The spec is ``spec/qeltrix_v6.ksy``; the compiler is the official ``kaitai-struct-compiler`` npm
package (the Scala.js build of the reference compiler), pinned in ``tools/package.json``. That
package has no command line, only a JavaScript API, so this script drives it with ``node``: the
.ksy is read with the ``yaml`` package (YAML 1.1, as the JVM compiler's SnakeYAML reads it) and
compiled for the ``python`` target without debug mode (the JVM compiler's defaults: no
``--read-pos``, ``_read`` called from the constructor). The files the compiler returns are
written to a temporary output directory, then the parser is copied into the package.

Any compiler problem, warnings included, fails the run: the JavaScript API drops warnings, so
the script recovers them from the compiler's precompile step (see ``_NODE_DRIVER``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "qeltrix_v6.ksy"
OUTPUT = ROOT / "qeltrix" / "_spec" / "qeltrix_v6.py"
NODE_MODULES = ROOT / "tools" / "node_modules"
COMPILER_JS = NODE_MODULES / "kaitai-struct-compiler" / "kaitai-struct-compiler.js"
YAML_PKG = NODE_MODULES / "yaml"
COMPILER_VERSION = "0.11.0"
GENERATED_NAME = "qeltrix_v6.py"

# Run as `node -e _NODE_DRIVER <compiler.js> <yaml package dir> <spec.ksy> <outdir> <version>`.
# The compiler's JS API (`compile(lang, ksyObject, importer, debug)`) throws on errors but drops
# warnings (style warnings such as the `len_`/`num_` naming checks). To see them, the compiler is
# loaded from its source with one line added where it inspects the precompile problems; if that
# line of the compiler cannot be found, the run fails rather than silently losing warnings.
_NODE_DRIVER = r"""
'use strict';
const fs = require('fs');
const path = require('path');
const [compilerJs, yamlDir, ksyPath, outDir, wantVersion] = process.argv.slice(1);
const YAML = require(yamlDir);

const ANCHOR = 'var problems = $as_sc_Iterable(problems$2);';
let src = fs.readFileSync(compilerJs, 'utf8');
if (src.split(ANCHOR).length !== 2) {
  console.error('gen_parser: cannot hook the compiler to collect warnings (unexpected compiler build)');
  process.exit(2);
}
src = src.replace(ANCHOR, ANCHOR +
  ' $n(problems).foreach__F1__V(new $c_sjsr_AnonFunction1((p) =>' +
  ' { globalThis.__ksyProblems.push($n(p).message__T()); }));');
globalThis.__ksyProblems = [];
const mod = { exports: {} };
new Function('module', 'exports', 'define', src).call(globalThis, mod, mod.exports, undefined);
const compiler = mod.exports;
if (compiler.version !== wantVersion) {
  console.error(`gen_parser: kaitai-struct-compiler ${compiler.version} found, ${wantVersion} wanted;` +
    ' run `npm ci --prefix tools`');
  process.exit(2);
}

const ksyDir = path.dirname(ksyPath);
const importer = {
  importYaml(name, mode) {
    const file = path.resolve(ksyDir, name + '.ksy');
    return Promise.resolve(YAML.parse(fs.readFileSync(file, 'utf8'), { version: '1.1' }));
  },
};
const ksy = YAML.parse(fs.readFileSync(ksyPath, 'utf8'), { version: '1.1', prettyErrors: true });

compiler.compile('python', ksy, importer, false).then((files) => {
  for (const msg of globalThis.__ksyProblems) {
    process.stderr.write(msg.replace(/^\(main\)/, ksyPath));
  }
  fs.mkdirSync(outDir, { recursive: true });
  const names = Object.keys(files).sort();
  for (const name of names) {
    fs.writeFileSync(path.join(outDir, name), files[name]);
  }
  process.stdout.write(JSON.stringify({ files: names, problems: globalThis.__ksyProblems.length }));
}, (err) => {
  for (const msg of globalThis.__ksyProblems) {
    process.stderr.write(msg.replace(/^\(main\)/, ksyPath));
  }
  const text = (err && typeof err.getMessage__T === 'function') ? err.getMessage__T() : String(err);
  if (!globalThis.__ksyProblems.includes(text)) {
    process.stderr.write(`compilation failed: ${text.replace(/^\(main\)/, ksyPath)}\n`);
  }
  process.exit(1);
});
"""


class GenError(Exception):
    """A problem that stops the generation, with a message for the user."""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise GenError("node is not on PATH; install Node.js (v20 or later)")
    return node


def compiler_available() -> bool:
    """Whether node and the pinned compiler are installed (what --check needs)."""
    return shutil.which("node") is not None and COMPILER_JS.is_file() and YAML_PKG.is_dir()


def generate(outdir: Path) -> Path:
    """Compile the spec into ``outdir``; return the path of the generated parser."""
    if not COMPILER_JS.is_file() or not YAML_PKG.is_dir():
        raise GenError(
            f"kaitai-struct-compiler is not installed (no {COMPILER_JS.relative_to(ROOT)}); "
            "run `npm ci --prefix tools` first"
        )
    proc = subprocess.run(
        [_node(), "-e", _NODE_DRIVER, str(COMPILER_JS), str(YAML_PKG), str(SPEC), str(outdir),
         COMPILER_VERSION],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GenError(proc.stderr.strip() or f"node exited with status {proc.returncode}")
    result = json.loads(proc.stdout)
    if result["problems"]:
        raise GenError("the compiler reported problems with the spec:\n" + proc.stderr.strip())
    if result["files"] != [GENERATED_NAME]:
        raise GenError(f"unexpected compiler output files: {result['files']}")
    return outdir / GENERATED_NAME


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 with a diff if the committed parser differs from a fresh one",
    )
    args = ap.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="qeltrix-ksc-") as tmp:
            fresh = generate(Path(tmp)).read_text(encoding="utf-8")
    except GenError as exc:
        print(f"gen_parser: {exc}", file=sys.stderr)
        return 2
    rel = OUTPUT.relative_to(ROOT).as_posix()
    if args.check:
        committed = OUTPUT.read_text(encoding="utf-8") if OUTPUT.is_file() else ""
        if committed == fresh:
            print(f"{rel} is up to date with {SPEC.relative_to(ROOT).as_posix()}")
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                fresh.splitlines(keepends=True),
                fromfile=f"{rel} (committed)",
                tofile=f"{rel} (generated)",
            )
        )
        print(f"\n{rel} is stale: run `python tools/gen_parser.py` and commit it", file=sys.stderr)
        return 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(fresh)
    print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
