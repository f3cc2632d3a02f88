#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan+UBSan, in its own
# build directory) and runs each one after the other for a fixed time.
#
# Usage: contrib/fuzz.sh [-t SECONDS_PER_TARGET] [-o OUTDIR] [TARGET...]
#   -t  time per target (default 600 = 10 minutes; contrib/test.sh uses 30)
#   -o  where the growing corpora, crash files and logs go
#       (default build-fuzz/fuzz-out; the seed corpora in tests/fuzz/corpus
#       are only read)
#   TARGET  smtp_session body envelope config cloud_errors smtp_replies
#       (default: all that were built)
# Env: RELAY_FUZZ_BUILD_DIR (default build-fuzz), CC/CXX (default clang).
# Prints per target: runs, exec/s, coverage, corpus size, findings. A crash,
# sanitizer report, leak, timeout or out-of-memory input is a finding: it is
# kept in OUTDIR/crashes/<target>/ and the script exits 1.
# Reproduce one: build-fuzz/tests/fuzz/<target>_fuzzer FILE (or the plain
# <target>_replay FILE of any build). Fixed findings go to
# tests/fuzz/regressions/<target>/, which ctest replays.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
secs=600
out=""
while getopts "t:o:" opt; do
  case $opt in
    t) secs=$OPTARG ;;
    o) out=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-o OUTDIR] [TARGET...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
build=${RELAY_FUZZ_BUILD_DIR:-$src/build-fuzz}
out=${out:-$build/fuzz-out}

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELAY_FUZZ=ON -DCMAKE_UNITY_BUILD=ON \
  "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzzers

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build"/tests/fuzz/*_fuzzer; do targets+=("$(basename "$f" _fuzzer)"); done
fi

# A report must end the run: no recovery after the first error, leaks count.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

found=0
summary=()
for t in "${targets[@]}"; do
  exe=$build/tests/fuzz/${t}_fuzzer
  [ -x "$exe" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  mkdir -p "$out/corpus/$t" "$out/crashes/$t"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$out/crashes/$t/")
  [ -f "$src/tests/fuzz/dict/$t.dict" ] && args+=(-dict="$src/tests/fuzz/dict/$t.dict")
  log=$out/$t.log
  echo "fuzz: $t for ${secs}s (log $log)"
  # Only this run's findings count: files of earlier runs (already reported,
  # perhaps fixed since) stay in crashes/ but are older than this stamp.
  stamp=$out/crashes/.start-$t
  touch "$stamp"
  sleep 1  # mtime granularity: a finding in this second is newer than the stamp
  rc=0
  "$exe" "${args[@]}" "$out/corpus/$t" "$src/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
  crashes=$(find "$out/crashes/$t" -type f -newer "$stamp" | wc -l)
  line="$t: rc=$rc runs=${runs:-?} exec/s=${eps:-?} ${cov:-no coverage line} findings=$crashes"
  summary+=("$line")
  echo "fuzz: $line"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    found=1
    grep -E -m3 'ERROR: |invariant broken|runtime error|SUMMARY' "$log" | sed 's/^/fuzz:   /' || true
    find "$out/crashes/$t" -type f -newer "$stamp" | sed 's/^/fuzz:   kept /'
  fi
done
echo "fuzz: summary (${secs}s per target)"
printf 'fuzz:   %s\n' "${summary[@]}"
[ "$found" -eq 0 ] && echo "fuzz: no findings" || echo "fuzz: FINDINGS (see above)"
exit "$found"
