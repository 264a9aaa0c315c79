#!/usr/bin/env bash
# Cross-node latency (issue 14): a reading posted to node A, seen on an SSE
# stream of node B, with two `cunlink serve` (release build) over one throwaway
# PostgreSQL 15 (tests/pg.sh, fsync on).
#
# Data set: one device, N readings (default 1,000) of one value each, posted
# one at a time at RATE per second (default 50) over HTTP to node A; node B's
# `/api/devices/{name}/stream` is read by a client on the same machine. Prints
# p50, p99 and max of post-sent → event-received, in milliseconds.
#
#   bash bench/nodes.sh            # N=1000 RATE=50
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000}
RATE=${RATE:-50}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}"
BIN=${CUNLINK_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release -q -p cunlink
  BIN="$CARGO_TARGET_DIR/release/cunlink"
fi
work=$(mktemp -d /tmp/cunlink-nodes.XXXXXX)
# PostgreSQL runs as its own user and must reach its directory inside.
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  tests/pg.sh stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
eval "$(tests/pg.sh start "$work/pg")"
base=${CUNLINK_TEST_DATABASE_URL%/*}
"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql" -q "$CUNLINK_TEST_DATABASE_URL" -c "CREATE DATABASE bench" >/dev/null
url="$base/bench"
echo 'bench-password' | CUNLINK_DATABASE_URL="$url" "$BIN" user create --data-dir "$work/cli" --username admin --role admin 2>/dev/null | tail -1 >"$work/token"

start_node() { # name → its HTTP address in $work/NAME/http
  local d="$work/$1"
  mkdir -p "$d"
  CUNLINK_DATABASE_URL="$url" RUST_LOG=warn,cunlink=info NO_COLOR=1 "$BIN" serve --data-dir "$d" --http 127.0.0.1:0 --mqtt 127.0.0.1:0 2>"$d/log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    if grep -q "cunlink is serving" "$d/log"; then
      grep "cunlink is serving" "$d/log" | grep -o 'http_addr=[^ ]*' | cut -d= -f2 >"$d/http"
      return
    fi
    sleep 0.1
  done
  echo "node $1 did not start: $(tail -5 "$d/log")" >&2
  exit 1
}
start_node a
start_node b
A=$(cat "$work/a/http")
B=$(cat "$work/b/http")
echo "nodes: A=$A B=$B (PostgreSQL $url)"
python3 bench/nodes_latency.py "$A" "$B" "$(cat "$work/token")" "$N" "$RATE"
