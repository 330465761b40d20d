#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tools/fuzz/ with clang (ASan + UBSan + libFuzzer) and runs
# each for a bounded time, seeded from tests/vectors and real HTTP requests, then the atheris
# harness of the Python entry points. Fails on any crash, leak, timeout or sanitizer report.
#   tools/fuzz/run.sh [SECONDS_PER_HARNESS]        (default 20; run under nice on a shared box)
#   FUZZ_HARNESSES="stream http" tools/fuzz/run.sh 600   (a subset, longer)
# Working corpora persist in build/fuzz/corpus/<harness> (new inputs accumulate across runs);
# crashers go to build/fuzz/artifacts/. A minimized crasher belongs in tools/fuzz/regressions/<harness>/,
# which every run replays first.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
harnesses=${FUZZ_HARNESSES:-format format61 http range stream}
out=build/fuzz
CXX=${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14 || true)}
[ -n "$CXX" ] || { echo "fuzz: clang++ not found (apt-get install clang libclang-rt-dev)" >&2; exit 2; }

cmake -S . -B "$out/build" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQELTRIX_FUZZ=ON -DQELTRIX_PYTHON=OFF >"$out.cmake.log" 2>&1 || { cat "$out.cmake.log"; exit 1; }
targets=()
for h in $harnesses; do [ "$h" = py ] || targets+=("qeltrix_fuzz_$h"); done
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$out/build" -j 2 --target "${targets[@]}" >"$out.build.log" 2>&1 || { cat "$out.build.log"; exit 1; }
fi
python3 tools/fuzz/seeds.py "$out/corpus" >/dev/null
mkdir -p "$out/artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=()
failed=0
for h in $harnesses; do
  [ "$h" = py ] && continue
  regress=()
  [ -d "tools/fuzz/regressions/$h" ] && regress=("tools/fuzz/regressions/$h")
  log="$out/$h.log"
  if "$out/build/qeltrix_fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/artifacts/$h-" \
      "$out/corpus/$h" "${regress[@]}" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed=1
    grep -E "ERROR|runtime error|invariant|SUMMARY|Test unit written" "$log" | head -n 20 >&2 || true
  fi
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
  rss=$(sed -nE 's/^stat::peak_rss_mb: *([0-9]+)/\1/p' "$log")
  summary+=("$(printf '%-8s %-6s %8s exec/s %10s runs  cov: %-5s ft: %-6s rss: %s MB' \
    "$h" "$status" "${eps:-?}" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${rss:-?}")")
done

# The Python entry points under atheris (when installed), for the same time.
if [[ " $harnesses " == *" py "* ]] || [ -z "${FUZZ_HARNESSES:-}" ]; then
  if python3 -c "import atheris, qeltrix" 2>/dev/null; then
    log="$out/py.log"
    if python3 tools/fuzz/atheris_py.py -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/py-" >"$log" 2>&1; then
      status=ok
    else
      status=FAILED
      failed=1
      tail -n 30 "$log" >&2
    fi
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
    eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
    summary+=("$(printf '%-8s %-6s %8s exec/s %10s runs  cov: %-5s ft: %-6s' "py" "$status" \
      "${eps:-?}" "${runs:-?}" "$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")" \
      "$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")")")
  else
    summary+=("py       skipped (python3 cannot import atheris and qeltrix)")
  fi
fi

printf 'fuzz: %s s per harness\n' "$secs"
printf '  %s\n' "${summary[@]}"
exit $failed
