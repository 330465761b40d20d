#!/usr/bin/env bash
# Builds the extension once under AddressSanitizer and UndefinedBehaviorSanitizer and runs the
# Python test suite against it. Not in CI (a few minutes on 2 cores); run it after touching cpp/.
#   tools/asan_tests.sh [PYTEST_ARGS...]        e.g. tools/asan_tests.sh -x tests/test_gateway.py
# PYTHON (default python3) is an environment with the test dependencies and the build tools
# (pybind11, scikit-build-core). The sanitized build goes into its own venv, build/asan/venv,
# which sees that environment's packages through a .pth path entry but not its editable
# qeltrix, so every process the tests start (the CLI, servers) runs the sanitized _core too.
# Python itself is not sanitized: libasan is preloaded (into Python processes only), leaks are not reported (the interpreter
# keeps memory until exit), and PYTHONMALLOC=malloc lets ASan see Python's buffers.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
out=build/asan
CXX=${CXX:-g++}
"$CXX" --version >/dev/null
libasan=$("$CXX" -print-file-name=libasan.so)
libubsan=$("$CXX" -print-file-name=libubsan.so)
[ -e "$libasan" ] || { echo "asan_tests: $CXX has no libasan.so" >&2; exit 2; }

if [ ! -x "$out/venv/bin/python" ]; then
  "$PY" -m venv "$out/venv"
  site=$("$out/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/_deps.pth"
fi
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
CXX="$CXX" "$out/venv/bin/python" -m pip install -q --no-deps --no-build-isolation --force-reinstall . \
  -Cbuild-dir="$out/build" -Ccmake.build-type=RelWithDebInfo \
  -Ccmake.define.CMAKE_CXX_FLAGS="$flags" \
  -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined"

# libasan must be preloaded into every Python process that loads the sanitized _core, and into
# nothing else (curl or nginx under a preloaded ASan can hang). So: a wrapper that preloads it,
# and a sitecustomize that removes it from the environment again and makes the wrapper
# sys.executable, so the Python processes the tests start go through the wrapper too.
cat > "$out/venv/bin/python-asan" <<SH
#!/bin/sh
LD_PRELOAD="$libasan $libubsan" exec "\$(dirname "\$0")/python" "\$@"
SH
chmod +x "$out/venv/bin/python-asan"
site=$("$out/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat > "$site/sitecustomize.py" <<'PY'
import os
import sys

_wrapper = os.environ.get("QELTRIX_ASAN_WRAPPER")
if _wrapper:
    sys.executable = _wrapper
    os.environ.pop("LD_PRELOAD", None)
PY
export QELTRIX_ASAN_WRAPPER="$PWD/$out/venv/bin/python-asan"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:check_initialization_order=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export PYTHONMALLOC=malloc
# Run from the build directory so that `import qeltrix` cannot pick up the source tree.
args=()
for a in "$@"; do
  if [ -e "${a%%::*}" ]; then args+=("$PWD/$a"); else args+=("$a"); fi
done
set -- ../../tests
[ ${#args[@]} -gt 0 ] && for a in "${args[@]}"; do [[ "$a" == /* ]] && set --; done
cd "$out"
# The qeltrix imported must be the sanitized one, not the source tree.
./venv/bin/python-asan -c 'import qeltrix._core as c, os, sys; assert "build/asan/venv" in c.__file__, c.__file__; assert "LD_PRELOAD" not in os.environ and sys.executable.endswith("python-asan")'
# Tests that measure speed or memory skip their bounds under ASan (QELTRIX_ASAN_WRAPPER is set).
exec ./venv/bin/python-asan -m pytest -p no:cacheprovider --rootdir=../.. -c ../../pyproject.toml \
  "$@" ${args[@]+"${args[@]}"}
