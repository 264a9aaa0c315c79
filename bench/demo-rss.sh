#!/usr/bin/env bash
# Resident memory of the demo village after its start-up burst.
#
#   bash bench/demo-rss.sh              # ~1.5 minutes
#   SECONDS_TO_WATCH=120 bash bench/demo-rss.sh
#   MALLOC_ARENA_MAX=1 bash bench/demo-rss.sh   # environment is passed to the server
#
# Starts the release server with `serve --demo` on a throwaway data directory,
# waits until the demo's 4-day backfill is committed ("demo village is live") and
# the alert engine has rebuilt its state, then samples VmRSS and RssAnon from
# /proc/PID/status every 5 s for SECONDS_TO_WATCH seconds and prints them against
# the idle budget (64 MB, a village node on a Raspberry Pi). Exits 1 when the last
# sample is over budget.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WATCH=${SECONDS_TO_WATCH:-60}
BUDGET_MB=${BUDGET_MB:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
log() { printf '[demo-rss] %s\n' "$*" >&2; }

(cd "$ROOT" && cargo build --release -q -p cunlink)
BIN=$CARGO_TARGET_DIR/release/cunlink
DATA=$(mktemp -d /tmp/cunlink-demo-rss.XXXXXX)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

NO_COLOR=1 "$BIN" serve --demo --data-dir "$DATA" --http 127.0.0.1:0 --mqtt 127.0.0.1:0 2>"$DATA/server.log" &
SERVER=$!
t0=$(date +%s.%N)
for _ in $(seq 1 600); do
  grep -q "demo village is live" "$DATA/server.log" && grep -q "alert engine: state rebuilt" "$DATA/server.log" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$DATA/server.log" >&2; exit 1; }
  sleep 0.2
done
grep -q "demo village is live" "$DATA/server.log" || { log "the demo did not start"; exit 1; }
log "backfill committed after $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-4) s"

field() { awk -v k="$1:" '$1==k {printf "%.1f", $2/1024}' "/proc/$SERVER/status"; }
echo "seconds  VmRSS_MB  RssAnon_MB"
last=0
for s in $(seq 0 5 "$WATCH"); do
  [ "$s" -gt 0 ] && sleep 5
  rss=$(field VmRSS); anon=$(field RssAnon)
  printf '%7d  %8s  %10s\n' "$s" "$rss" "$anon"
  last=$rss
done
if awk -v r="$last" -v b="$BUDGET_MB" 'BEGIN{exit !(r <= b)}'; then
  echo "demo RSS after ${WATCH}s: ${last} MB (budget ${BUDGET_MB} MB): within budget"
else
  echo "demo RSS after ${WATCH}s: ${last} MB (budget ${BUDGET_MB} MB): OVER BUDGET"
  exit 1
fi
