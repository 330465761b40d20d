#!/usr/bin/env bash
# Compiles the native core (everything in cpp/; the Python bindings are in cpp/py/) for Windows with
# MinGW-w64, to keep the #ifdef _WIN32 branches honest. Needs g++-mingw-w64-x86-64 (Debian).
#   bash tools/check_mingw.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# The posix thread model: the win32 one has no std::thread or std::mutex (GCC < 13).
CXX=${CXX_MINGW:-x86_64-w64-mingw32-g++-posix}
command -v "$CXX" >/dev/null || { echo "check_mingw: $CXX not found (apt-get install g++-mingw-w64-x86-64)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
for f in cpp/*.cpp; do
  "$CXX" -std=c++17 -O1 -Wall -Wextra -Wconversion -Wno-sign-conversion -Werror -Icpp -c "$f" -o "$out/$(basename "$f" .cpp).o"
  n=$((n + 1))
done
echo "check_mingw: $n files compiled for x86_64-w64-mingw32"
