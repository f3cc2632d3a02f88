#!/usr/bin/env bash
# The README's first command: relay end to end on one Debian 12 machine.
#
#   1. installs the Debian packages (contrib/install-deps.sh; root or sudo),
#   2. builds relay-receiver, relay-dispatcher and relayctl into build/,
#   3. starts a private PostgreSQL: data in var/pg, unix socket in
#      /tmp/relay-quickstart (short path; etc/relay.yaml points there). Both
#      are made mode 0700 for the server's user; a symlink or a directory of
#      someone else's at either path is refused (contrib/pg-test-server.sh),
#      so no other local user can reach the trust-authenticated socket.
#      creates the database `relay` if missing, runs `relayctl db migrate`,
#   4. runs `relayctl run -c etc/relay.yaml` in the foreground: the receiver
#      on 127.0.0.1:2525 and two dispatchers delivering to var/outbox.
#
# Ctrl-C stops relay (receiver first, then dispatchers) and then the private
# PostgreSQL. Set RELAY_QUICKSTART_KEEP_PG=1 to leave PostgreSQL running
# (stop it later with: contrib/pg-test-server.sh stop var/pg).
# Re-running is safe: the build is incremental, the database and spool are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${RELAY_BUILD_DIR:-$src/build}
sock=/tmp/relay-quickstart
pgdir=$src/var/pg

bash contrib/install-deps.sh run
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target relay-receiver relay-dispatcher relayctl
relayctl=$build/admin-cli/relayctl

# The server runs as the `postgres` user, which must be able to reach var/pg
# (a clone under /root is not): fall back to a private directory made with
# mktemp (never a fixed name in a shared directory: anyone could plant it),
# remembered in var/pg-location so that the next run finds its database.
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$src" 2>/dev/null; then
  mkdir -p var
  pgdir=$(cat var/pg-location 2>/dev/null || true)
  # Reused only if still ours: a real directory owned by root (mktemp) or
  # postgres (after pg-test-server's chown -h), mode 0700.
  if [ -z "$pgdir" ] || [ -L "$pgdir" ] || [ ! -d "$pgdir" ] ||
     ! [[ "$(stat -c %U:%a "$pgdir")" =~ ^(root|postgres):700$ ]]; then
    pgdir=$(mktemp -d /var/tmp/relay-quickstart-pg.XXXXXXXX)
    echo "$pgdir" > var/pg-location
  fi
  echo "quickstart: postgres cannot reach $src; PostgreSQL data goes to $pgdir"
fi
mkdir -p var/spool var/outbox
base=$(RELAY_PG_FSYNC=on bash contrib/pg-test-server.sh start "$pgdir" "$sock")
if [ "${RELAY_QUICKSTART_KEEP_PG:-0}" != 1 ]; then
  trap 'echo "quickstart: stopping PostgreSQL"; bash "$src/contrib/pg-test-server.sh" stop "$pgdir"' EXIT
fi
if [ "$(psql -X -At -d "$base" -c "SELECT 1 FROM pg_database WHERE datname = 'relay'")" != 1 ]; then
  psql -X -q -d "$base" -c "CREATE DATABASE relay"
fi
"$relayctl" -c etc/relay.yaml config check
"$relayctl" -c etc/relay.yaml db migrate

cat <<MSG
quickstart: relay is starting on 127.0.0.1:2525 (Ctrl-C stops it). Try, in another terminal:
  swaks --server 127.0.0.1:2525 --from app@example.com --to you@example.org
  ls var/outbox/
  $relayctl -c etc/relay.yaml log
MSG
# Not exec: the EXIT trap above must still stop PostgreSQL afterwards.
# relayctl handles Ctrl-C (SIGINT) itself and exits 0 after an orderly stop.
# A SIGTERM or SIGHUP sent to this script alone (kill, timeout, a closed
# ssh session) is passed on, and PostgreSQL is stopped only once relay has
# stopped: before, relay kept running on port 2525 without its database.
status=0
"$relayctl" -c etc/relay.yaml run &
relay=$!
trap 'kill -INT "$relay" 2>/dev/null || true' INT TERM HUP
while kill -0 "$relay" 2>/dev/null; do
  status=0
  wait "$relay" || status=$?  # a trapped signal ends the wait early: wait again
done
exit "$status"
