#!/usr/bin/env bash
# The newcomer's and the contributor's commands from the repository root (README, "Development"):
#  1. after `pip install .` (done by .ci/run before this), the seed's CLI form runs from the root:
#     the checkout's Python with the installed core, built from the same C++ sources;
#  2. `pip install -e .` in a fresh virtual environment: the checkout's package and its core;
#  3. a checkout whose C++ differs from the installed core's: one line saying what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 300001 /dev/urandom > "$work/in.bin"

roundtrip() {  # $1: python; from the root, as the seed's README has it
  rm -f "$work/out.qltx" "$work/back.bin"
  env -u QELTRIX_INSECURE_TEST_KDF "$1" -m qeltrix_v6 pack "$work/in.bin" "$work/out.qltx" --passphrase secret -q
  "$1" -m qeltrix unpack "$work/out.qltx" "$work/back.bin" --passphrase secret -q
  cmp "$work/in.bin" "$work/back.bin"
  "$1" -c "import qeltrix, os; assert qeltrix.__file__.startswith(os.getcwd()), qeltrix.__file__"
}

echo "== check_dev_loop: python -m qeltrix_v6 from the root after pip install ."
roundtrip python3

echo "== check_dev_loop: pip install -e . in a fresh venv"
python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install -q --no-deps -e .
roundtrip "$work/venv/bin/python"
python3 tools/bench/bench_core.py --help > /dev/null  # tools run from the root too

echo "== check_dev_loop: a checkout whose C++ differs from the installed core"
git ls-files -z | (mkdir "$work/tree" && xargs -0 cp --parents -t "$work/tree")
echo "// changed" >> "$work/tree/cpp/seek.cpp"
set +e
(cd "$work/tree" && python3 -m qeltrix info "$work/out.qltx") 2> "$work/err"
rc=$?
set -e
cat "$work/err"
[ "$rc" -ne 0 ] && [ "$(wc -l < "$work/err")" -le 1 ] && grep -q "pip install" "$work/err" && ! grep -q Traceback "$work/err"
echo "== check_dev_loop: OK"
