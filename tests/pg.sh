#!/usr/bin/env bash
# A throwaway PostgreSQL (Debian's, 15) for tests and benchmarks: initdb in a
# directory of its own, started on a free loopback port as an unprivileged user.
#
#   eval "$(tests/pg.sh start DIR)"   # exports CUNLINK_TEST_DATABASE_URL
#   tests/pg.sh stop DIR
#   tests/pg.sh resume DIR            # start a stopped one again, same port
#
# The URL names the `postgres` database of a superuser `cunlink`; the test
# harness creates one database per test data directory from it.
set -euo pipefail
cmd=${1:?usage: tests/pg.sh start|stop DIR}
dir=${2:?usage: tests/pg.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as=()
if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root; Debian's package creates `postgres`.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as=(runuser -u postgres --)
fi
case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U cunlink --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "$port" >"$dir/port"
  bash "$0" resume "$dir"
  echo "export CUNLINK_TEST_DATABASE_URL=postgres://cunlink@127.0.0.1:$port/postgres"
  ;;
resume)
  port=$(cat "$dir/port")
  # fsync stays on: acknowledged writes are on disk here as in production.
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=500 -c shared_buffers=128MB" \
    start >/dev/null || { tail -20 "$dir/postgres.log" >&2; exit 1; }
  ;;
stop)
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
*) echo "usage: tests/pg.sh start|stop|resume DIR" >&2; exit 1 ;;
esac
