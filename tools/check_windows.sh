#!/usr/bin/env bash
# Runs the native core on Windows, not only compiles it: builds cpp/tests/win_driver.cpp with the
# core's sources that need no Python (MinGW-w64, posix threads, linked statically) and runs it
# under Wine on the test vectors and the tables the Linux tests read (tests/vectors/*.qltxv,
# tests/tables/*.txt). Fails on any mismatch. Needs g++-mingw-w64-x86-64 and wine64 (Debian).
#   bash tools/check_windows.sh                 build, then run on every vector and table
#                                               (in $QELTRIX_WIN_DRIVER_DIR, kept, if set)
#   bash tools/check_windows.sh build DIR       only build DIR/win_driver.exe (no Wine needed)
#   bash tools/check_windows.sh run EXE FILE... run EXE under Wine on FILEs (its exit status)
# Wine runs headless in a throwaway prefix (WINEPREFIX, unless one is given) with its debug
# output off; no display is needed for a console program.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
CXX=${CXX_MINGW:-x86_64-w64-mingw32-g++-posix}

find_wine() {
  local w
  for w in "${WINE:-}" wine64 /usr/lib/wine/wine64 wine; do
    [ -n "$w" ] && command -v "$w" >/dev/null && { echo "$w"; return; }
  done
  echo "check_windows: wine not found (apt-get install wine64)" >&2
  exit 2
}

build() {  # build DIR: every core source but the bindings, compiled in parallel, then linked
  command -v "$CXX" >/dev/null || { echo "check_windows: $CXX not found (apt-get install g++-mingw-w64-x86-64)" >&2; exit 2; }
  local dir=$1 srcs=() f
  for f in "$root"/cpp/*.cpp; do
    grep -q '^#include <pybind11/' "$f" || srcs+=("$f")  # the bindings need Python; the rest is the core
  done
  printf '%s\n' "$root/cpp/tests/win_driver.cpp" "${srcs[@]}" |
    xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c \
      '"$0" -std=c++17 -O1 -Wall -Wextra -Wconversion -Wno-sign-conversion -Werror -I"$1/cpp" -c "$2" -o "$3/$(basename "$2" .cpp).o"' \
      "$CXX" "$root" {} "$dir"
  "$CXX" "$dir"/*.o -static -o "$dir/win_driver.exe" -lws2_32
  rm -f "$dir"/*.o
}

run() {  # run EXE FILE...
  local wine exe=$1 made_prefix= status=0
  shift
  wine=$(find_wine)
  export WINEDEBUG=-all
  if [ -z "${WINEPREFIX:-}" ]; then
    WINEPREFIX=$(mktemp -d)
    export WINEPREFIX
    made_prefix=1
  fi
  if [ ! -e "$WINEPREFIX/system.reg" ]; then  # a new prefix: create it quietly (a few seconds)
    "$wine" wineboot --init >"$WINEPREFIX.boot.log" 2>&1 || { cat "$WINEPREFIX.boot.log" >&2; exit 2; }
    rm -f "$WINEPREFIX.boot.log"
  fi
  "$wine" "$exe" "$@" || status=$?
  if [ -n "$made_prefix" ]; then
    "$(dirname "$(command -v "$wine")")/wineserver" -k 2>/dev/null || true
    rm -rf "$WINEPREFIX"
  fi
  return "$status"
}

case "${1:-}" in
  build) build "$2" ;;
  run) shift; run "$@" ;;
  "")
    # QELTRIX_WIN_DRIVER_DIR: build there and keep the driver (.ci/run: tests/test_windows.py
    # then runs that build instead of making its own)
    if [ -n "${QELTRIX_WIN_DRIVER_DIR:-}" ]; then
      out=$QELTRIX_WIN_DRIVER_DIR
      mkdir -p "$out"
    else
      out=$(mktemp -d)
      trap 'rm -rf "$out"' EXIT
    fi
    start=$SECONDS
    build "$out"
    built=$SECONDS
    cd "$root"  # relative paths: Wine maps the working folder onto a drive
    run "$out/win_driver.exe" tests/vectors/*.qltxv tests/tables/*.txt
    echo "check_windows: built in $((built - start)) s, ran under Wine in $((SECONDS - built)) s"
    ;;
  *) echo "usage: check_windows.sh [build DIR | run EXE FILE...]" >&2; exit 2 ;;
esac
