#!/usr/bin/env bash
# Market benchmark: the real server (release build) on 127.0.0.1, on SQLite
# (synchronous=FULL) and on PostgreSQL (a throwaway one started by tests/pg.sh,
# fsync on), one after the other in the same run.
#
#   bash bench/market.sh                      # ~2-4 minutes per backend, most of it generating prices
#   DURATION=10 CONNS=64 bash bench/market.sh
#   COMMODITIES=200 MARKETS=50 bash bench/market.sh   # a smaller price set
#   BACKENDS=sqlite bash bench/market.sh      # one backend only (or BACKENDS=postgres)
#
# Per backend:
# 1. order placement: CONNS keep-alive connections POST /api/market/orders (each
#    with its own Idempotency-Key) for DURATION seconds, one product with
#    10,000,000 units, one buyer; orders/s and p99.
# 2. flash sale: 10,000 buyers (requests, from 100 buyer accounts) race for a
#    live-sale item of 1,000 units; counts the 201s (must be exactly 1,000) and p99.
# 3. price search: GET /api/market/prices?q=… (Chinese, pinyin, initials) over
#    COMMODITIES × MARKETS × DAYS of history; p99 from SEARCH_CONNS sequential
#    clients (default 1: one client at a time, so the figure is the answer's
#    latency, not queueing behind a load generator on the same 2 cores), then
#    from 4 clients for comparison. The server's own time (Server-Timing) is
#    printed beside the round trip.
# The last lines compare the backends' order placement (orders/s, p99).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
COMMODITIES=${COMMODITIES:-2000}
MARKETS=${MARKETS:-500}
DAYS=${DAYS:-365}
PORT=${PORT:-18480}
BACKENDS=${BACKENDS:-sqlite postgres}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
log() { printf '[bench] %s\n' "$*" >&2; }

# CUNLINK_BIN and MARKET_LOAD_BIN name binaries built already (skips the build).
if [ -z "${CUNLINK_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p cunlink -p cunlink-market-load)
fi
BIN=${CUNLINK_BIN:-$CARGO_TARGET_DIR/release/cunlink}
LOAD=${MARKET_LOAD_BIN:-$CARGO_TARGET_DIR/release/cunlink-market-load}

run_backend() {  # $1: sqlite | postgres
DATA=$(mktemp -d /tmp/cunlink-market-bench.XXXXXX)
DB=(--data-dir "$DATA")
if [ "$1" = postgres ]; then
  # Its own directory: the server runs as `postgres`, which cannot enter $DATA.
  PGDIR=$(mktemp -d /tmp/cunlink-market-bench-pg.XXXXXX)
  eval "$("$ROOT/tests/pg.sh" start "$PGDIR")"
  DB+=(--database-url "$CUNLINK_TEST_DATABASE_URL")
  log "PostgreSQL $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1 | cut -d/ -f4) at $CUNLINK_TEST_DATABASE_URL (fsync on)"
fi
log "backend $1"

log "generating $COMMODITIES commodities × $MARKETS markets × $DAYS days of prices"
t0=$(date +%s)
"$BIN" market seed-prices "${DB[@]}" --commodities "$COMMODITIES" --markets "$MARKETS" --days "$DAYS" >/dev/null
log "prices written in $(( $(date +%s) - t0 )) s; data dir $(du -sh "$DATA" | cut -f1)"

STATION=$("$BIN" station create "${DB[@]}" --village 茶香村 --name 茶香村服务站 2>/dev/null | tail -1)
FARMER=$(echo bench-password | "$BIN" user create "${DB[@]}" --username farmer --role farmer --village 茶香村 2>/dev/null | tail -1)
BUYER=$(echo bench-password | "$BIN" user create "${DB[@]}" --username buyer --role buyer 2>/dev/null | tail -1)
: >"$DATA/fans"
for i in $(seq 1 100); do
  echo bench-password | "$BIN" user create "${DB[@]}" --username "fan$i" --role buyer 2>/dev/null | tail -1 >>"$DATA/fans"
done

"$BIN" serve "${DB[@]}" --http 127.0.0.1:$PORT --mqtt 127.0.0.1:0 2>"$DATA/server.log" &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
api() { curl -sf -X "$1" "http://127.0.0.1:$PORT$2" -H "authorization: Bearer $3" -H 'content-type: application/json' -d "$4"; }
id_of() { sed -E 's/^\{"id":([0-9]+).*/\1/; s/.*"id":([0-9]+).*/\1/'; }

# CPU seconds used by the server, and by the whole machine (all processes), so a
# run on a busy shared machine can be told from a slow server.
server_cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$SERVER/stat"; }
machine_busy() { awk '/^cpu /{printf "%.2f", ($2 + $3 + $4 + $7 + $8) / 100}' /proc/stat; }
PRODUCT=$(api POST /api/market/products "$FARMER" '{"name":"龙井茶","unit":"500g","price_fen":12800,"stock":10000000}' | id_of)
c0=$(server_cpu); m0=$(machine_busy); t0=$(date +%s.%N)
OUT=$("$LOAD" 127.0.0.1:$PORT orders "$BUYER" "$PRODUCT" "$STATION" "$DURATION" "$CONNS")
c1=$(server_cpu); m1=$(machine_busy); t1=$(date +%s.%N)
echo "$OUT"
SUMMARY+=$(echo "$OUT" | sed -E "s/^order placement: ([0-9]+) requests in ([0-9.]+) s = ([0-9]+)\/s; latency ms p50 ([0-9.]+) p99 ([0-9.]+).*/$1: \3 orders\/s, p99 \5 ms (p50 \4 ms, \1 orders in \2 s)/")$'\n'
N=$(echo "$OUT" | sed -E 's/^order placement: ([0-9]+) requests.*/\1/')
awk -v c="$(echo "$c1 - $c0" | bc)" -v m="$(echo "$m1 - $m0" | bc)" -v t="$(echo "$t1 - $t0" | bc)" -v n="$N" \
  'BEGIN { printf "orders: server CPU %.0f µs per order (%.2f cores); whole machine busy %.2f of 2 cores (load client and anything else included)\n", c * 1e6 / n, c / t, m / t }'

FLASH=$(api POST /api/market/products "$FARMER" '{"name":"明前龙井","unit":"250g","price_fen":9900,"stock":5000}' | id_of)
LIVE=$(api POST /api/market/live "$FARMER" "{\"title\":\"直播\",\"stream_url\":\"https://live.douyin.com/1\",\"items\":[{\"product_id\":$FLASH,\"session_price_fen\":6900,\"session_stock\":1000}]}")
SESSION=$(echo "$LIVE" | sed -E 's/^\{"created_at":[0-9]+,"ended_at":null,"id":([0-9]+).*/\1/; s/^.*"id":([0-9]+),"title".*/\1/')
ITEM=$(echo "$LIVE" | sed -E 's/.*"items":\[\{"id":([0-9]+).*/\1/')
"$LOAD" 127.0.0.1:$PORT flash "$DATA/fans" "$SESSION" "$ITEM" "$STATION" 10000 "$CONNS"
log "live item after the sale: $(curl -sf "http://127.0.0.1:$PORT/api/market/live/$SESSION" | sed -E 's/.*"remaining":([0-9-]+).*/remaining \1/')"

"$LOAD" 127.0.0.1:$PORT search 20000 "${SEARCH_CONNS:-1}"
"$LOAD" 127.0.0.1:$PORT search 20000 4
kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; SERVER=""
if [ -n "$PGDIR" ]; then "$ROOT/tests/pg.sh" stop "$PGDIR"; rm -rf "$PGDIR"; PGDIR=""; fi
rm -rf "$DATA"; DATA=""
}

SERVER=""; PGDIR=""; DATA=""; SUMMARY=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null; wait 2>/dev/null; fi
  if [ -n "$PGDIR" ]; then "$ROOT/tests/pg.sh" stop "$PGDIR"; rm -rf "$PGDIR"; fi
  if [ -n "$DATA" ]; then rm -rf "$DATA"; fi
}
trap cleanup EXIT
for b in $BACKENDS; do
  run_backend "$b"
done
echo
echo "order placement ($CONNS connections, $DURATION s, one product of 10,000,000 units, one buyer, an Idempotency-Key per order):"
printf '%s' "$SUMMARY"
