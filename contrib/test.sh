#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, starts a private
# PostgreSQL for the integration tests, runs the whole suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
bash contrib/install-deps.sh
build=${RELAY_BUILD_DIR:-$src/build}
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"

pgdir=$(mktemp -d /tmp/relay-test-pg.XXXXXX)
trap 'bash "$src/contrib/pg-test-server.sh" stop "$pgdir"; rm -rf "$pgdir"' EXIT
export RELAY_TEST_PG=$(bash contrib/pg-test-server.sh start "$pgdir")
echo "test PostgreSQL: $RELAY_TEST_PG"
cd "$build"
ctest --output-on-failure -j2 "$@"
