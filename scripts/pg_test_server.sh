#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the catalog tests: prints its SQLAlchemy URL.
#   url=$(bash scripts/pg_test_server.sh start DIR)   ...   bash scripts/pg_test_server.sh stop DIR
# Uses the Debian/Ubuntu server binaries (/usr/lib/postgresql/*/bin); runs as the 'postgres' user when root.
set -euo pipefail
action=$1
dir=$(realpath -m "$2")
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "no PostgreSQL server binaries found" >&2; exit 3; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port=${PGTEST_PORT:-55432}
case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$dir" -U memindex --auth=trust >/dev/null
    fi
    as_pg "$bin/pg_ctl" -D "$dir" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -l "$dir/log" -w start >/dev/null
    echo "postgresql+psycopg://memindex@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
esac
