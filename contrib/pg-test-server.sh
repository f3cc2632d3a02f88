#!/usr/bin/env bash
# Starts (start DIR [SOCKET_DIR]) or stops (stop DIR) a private PostgreSQL
# for tests and the quickstart: data directory DIR/data, unix socket in DIR
# (or in SOCKET_DIR when given: keeps the socket path short, e.g.
# /tmp/relay-quickstart, whatever the length of DIR), no TCP listener, no
# system service. Works as root (runs the server as the
# `postgres` system user, which Debian's package creates).
# DIR and SOCKET_DIR are made private (mode 0700, owned by the server's
# user; a symlink or someone else's directory is refused): the server
# trusts every local connection, so only its owner (and root) may reach it.
# Prints the libpq conninfo on start. fsync is off (throwaway test data)
# unless RELAY_PG_FSYNC=on, which the quickstart sets: its database is kept.
set -euo pipefail
cmd=${1:?usage: pg-test-server.sh start|stop DIR [SOCKET_DIR]}
dir=$(realpath -m -s "${2:?usage: pg-test-server.sh start|stop DIR [SOCKET_DIR]}")
sockdir=$(realpath -m -s "${3:-$dir}")
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The server trusts whoever reaches its socket (-A trust): its directories
# must be private. A path that is a symlink, or a directory someone else
# made (a planted /tmp/relay-quickstart), is refused, never followed or
# taken over; ours are mode 0700 and chowned without following links.
private_dir() {
  local d=$1 owner me pg
  if [ -L "$d" ]; then echo "pg-test-server: $d is a symlink; refusing to use it" >&2; exit 1; fi
  if [ ! -e "$d" ]; then mkdir -p "$(dirname "$d")" && mkdir -m 0700 "$d"; fi
  if [ -L "$d" ] || [ ! -d "$d" ]; then echo "pg-test-server: $d is not a directory; refusing" >&2; exit 1; fi
  owner=$(stat -c %u "$d")
  me=$(id -u)
  pg=$(id -u postgres 2>/dev/null || echo "$me")
  if [ "$owner" != "$me" ] && [ "$owner" != "$pg" ]; then
    echo "pg-test-server: $d belongs to uid $owner, not to us or postgres; refusing (remove it or pick another path)" >&2
    exit 1
  fi
  if [ "$me" -eq 0 ]; then chown -h postgres:postgres "$d"; fi
  chmod 0700 "$d"
}

case "$cmd" in
start)
  private_dir "$dir"
  private_dir "$sockdir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
      -o "-c listen_addresses='' -c unix_socket_directories='$sockdir' -c unix_socket_permissions=0700 -c fsync=${RELAY_PG_FSYNC:-off} -c max_connections=200" >/dev/null \
      || { cat "$dir/postgres.log" >&2; exit 1; }
  fi
  echo "host=$sockdir user=postgres dbname=postgres"
  ;;
stop)
  [ -f "$dir/data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
*) echo "usage: pg-test-server.sh start|stop DIR [SOCKET_DIR]" >&2; exit 2 ;;
esac
