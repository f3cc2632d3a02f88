#!/usr/bin/env bash
# The README's test command: installs dependencies, then runs three stages
# and prints one summary line per stage:
#   suite     build/ (RelWithDebInfo), the whole ctest suite (unit,
#             integration against a private PostgreSQL, corpus replays);
#   sanitize  build-asan/ (-DRELAY_SANITIZE=ON: ASan+UBSan), the same ctest
#             suite but the contrib/docs labels (scripts and text only);
#             any sanitizer report from any process (tests, daemons
#             they start) fails the stage, even if the test itself passed;
#   fuzz      build-fuzz/ (clang, -DRELAY_FUZZ=ON), each libFuzzer target
#             for RELAY_FUZZ_SECONDS (default 20) via contrib/fuzz.sh; a
#             finding fails the stage.
# Stages run in order; a failing stage does not stop the later ones, the
# exit status is non-zero when any failed. RELAY_TEST_STAGES="suite" (or any
# subset) runs fewer; extra arguments go to ctest (e.g. -R receiver).
# Build directories: RELAY_BUILD_DIR, RELAY_ASAN_BUILD_DIR, RELAY_FUZZ_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
bash contrib/install-deps.sh test  # runtime, build and test packages (docs/install.md)
stages=${RELAY_TEST_STAGES:-suite sanitize fuzz}
jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

pgdir=$(mktemp -d /tmp/relay-test-pg.XXXXXX)
saniti=$(mktemp -d /tmp/relay-sanitizer.XXXXXX)
# Daemons that drop root privileges still write their reports here.
chmod 1777 "$saniti"
pg_started=0
cleanup() {
  if [ "$pg_started" -eq 1 ]; then bash "$src/contrib/pg-test-server.sh" stop "$pgdir"; fi
  rm -rf "$pgdir" "$saniti"
}
trap cleanup EXIT
start_pg() {
  [ "$pg_started" -eq 1 ] && return 0
  RELAY_TEST_PG=$(bash contrib/pg-test-server.sh start "$pgdir") || return 1
  export RELAY_TEST_PG
  echo "test PostgreSQL: $RELAY_TEST_PG"
  pg_started=1
}

declare -A result
# Called as an `if` condition, where set -e does not act: every step checks.
run_suite() {  # build dir, cmake options...
  local build=$1
  shift
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" "$@" >/dev/null || return 1
  cmake --build "$build" -j"$jobs" || return 1
  start_pg || return 1
  (cd "$build" && ctest --output-on-failure -j2 "${stage_args[@]}" "${ctest_args[@]}")
}

ctest_args=("$@")
stage_args=()
for stage in $stages; do
  start=$SECONDS
  echo "=== test.sh: stage $stage"
  case $stage in
    suite)
      if run_suite "${RELAY_BUILD_DIR:-$src/build}"; then result[$stage]=ok; else result[$stage]=FAILED; fi
      ;;
    sanitize)
      # Every report goes to a file as well, so a report from a daemon whose
      # stderr a test does not read still fails the stage; one report stops
      # the process (halt_on_error); leaks count.
      export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:log_path=$saniti/asan"
      export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$saniti/ubsan"
      export LSAN_OPTIONS="suppressions=$src/contrib/lsan.supp:print_suppressions=0"
      rc=0
      # Tests labelled contrib (install script, unit file, pg helper, alert
      # rules) and docs check scripts and text, not instrumented code: the
      # suite stage runs them; here they would only cost time.
      stage_args=(-LE 'contrib|docs')
      # -O1 -g1: about a third less compile time than -O2 -g on CI's two
      # cores; line tables are enough for the reports' stack traces.
      run_suite "${RELAY_ASAN_BUILD_DIR:-$src/build-asan}" -DRELAY_SANITIZE=ON \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" || rc=$?
      stage_args=()
      unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
      reports=$(find "$saniti" -type f | wc -l)
      if [ "$reports" -ne 0 ]; then
        echo "test.sh: $reports sanitizer report(s):"
        for f in "$saniti"/*; do echo "--- $f"; head -60 "$f"; done
        rc=1
      fi
      if [ "$rc" -eq 0 ]; then result[$stage]=ok; else result[$stage]="FAILED ($reports sanitizer reports)"; fi
      ;;
    fuzz)
      if bash contrib/fuzz.sh -t "${RELAY_FUZZ_SECONDS:-20}"; then result[$stage]=ok; else result[$stage]=FAILED; fi
      ;;
    *) echo "test.sh: unknown stage $stage" >&2; exit 2 ;;
  esac
  result[$stage]="${result[$stage]} in $((SECONDS - start))s"
done

status=0
echo "=== test.sh: summary"
for stage in $stages; do
  echo "test.sh: $stage: ${result[$stage]}"
  [[ ${result[$stage]} == ok* ]] || status=1
done
exit "$status"
