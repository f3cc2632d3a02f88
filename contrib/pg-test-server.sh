#!/usr/bin/env bash
# Starts (start DIR [SOCKET_DIR]) or stops (stop DIR) a private PostgreSQL
# for tests and the quickstart: data directory DIR/data, unix socket in DIR
# (or in SOCKET_DIR when given: keeps the socket path short, e.g.
# /tmp/relay-quickstart, whatever the length of DIR), no TCP listener, no
# system service. Works as root (runs the server as the
# `postgres` system user, which Debian's package creates).
# Prints the libpq conninfo on start. fsync is off (throwaway test data)
# unless RELAY_PG_FSYNC=on, which the quickstart sets: its database is kept.
set -euo pipefail
cmd=${1:?usage: pg-test-server.sh start|stop DIR [SOCKET_DIR]}
dir=$(realpath -m "${2:?usage: pg-test-server.sh start|stop DIR [SOCKET_DIR]}")
sockdir=$(realpath -m "${3:-$dir}")
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  mkdir -p "$sockdir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir" "$sockdir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
      -o "-c listen_addresses='' -c unix_socket_directories='$sockdir' -c fsync=${RELAY_PG_FSYNC:-off} -c max_connections=200" >/dev/null \
      || { cat "$dir/postgres.log" >&2; exit 1; }
  fi
  echo "host=$sockdir user=postgres dbname=postgres"
  ;;
stop)
  [ -f "$dir/data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
*) echo "usage: pg-test-server.sh start|stop DIR [SOCKET_DIR]" >&2; exit 2 ;;
esac
