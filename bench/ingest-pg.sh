#!/usr/bin/env bash
# Telemetry ingest on PostgreSQL beside SQLite, in one run, on this machine (issue 14).
#
#   bash bench/ingest-pg.sh                  # ~2 minutes
#   DURATION=30 bash bench/ingest-pg.sh      # longer loads
#
# The same server binary is started twice: once on SQLite (the data directory's
# telemetry.db), once on a throwaway PostgreSQL 15 started here with tests/pg.sh
# (initdb in a temp dir, fsync on, default settings otherwise). For each backend:
# 1. HTTP: the peers' workload (1,000 devices × 2 values per request, one
#    ThingsBoard gateway-telemetry body, wrk -t2 -c32, ../shared/bench/peers/ingest.lua).
#    Every 200 comes after the commit returned (SQLite: fsync'd; PostgreSQL: COMMIT
#    with synchronous_commit=on, i.e. WAL flushed). wrk's p99 is the ack latency.
# 2. MQTT QoS 1: bench/mqtt-load, MQTT_CONNS connections, each its own device,
#    2 in flight per connection; every PUBACK after the commit. Its p99 is the ack
#    latency at a moderate load.
# 3. HTTP at a moderate load: the same requests from LIGHT_CONNS (4) connections.
#    At saturation (1.) a request's ack waits behind the 31 others queued on 2
#    cores (Little's law: 32 in flight at ~560 requests/s is ≥ 57 ms on average,
#    whatever the backend), so the ack latency of the write path itself is this
#    run's p99.
# Checked for each: no non-2xx / errors, committed-values counter ≥ acknowledged.
# Prints a Markdown table. Only 127.0.0.1 is used; every load is bounded in time.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench/peers}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
LIGHT_CONNS=${LIGHT_CONNS:-4}
MQTT_CONNS=${MQTT_CONNS:-200}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
log() { printf '[bench] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "wrk is missing: apt-get install wrk"; exit 1; }
[ -f "$PEERS_DIR/ingest.lua" ] || { log "$PEERS_DIR/ingest.lua is missing (PEERS_DIR)"; exit 1; }

if [ "${NO_BUILD:-0}" != 1 ]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release -q -p cunlink -p cunlink-mqtt-load)
fi
BIN=${CUNLINK_BIN:-$CARGO_TARGET_DIR/release/cunlink}
LOAD=${MQTT_LOAD_BIN:-$CARGO_TARGET_DIR/release/cunlink-mqtt-load}

TMP=$(mktemp -d -t cunlink-bench-pg.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash "$ROOT/tests/pg.sh" stop "$TMP/pg" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1==k{print $2; exit}'; }

log "starting a throwaway PostgreSQL (tests/pg.sh)"
eval "$(bash "$ROOT/tests/pg.sh" start "$TMP/pg")"
PG_BASE=$CUNLINK_TEST_DATABASE_URL
unset CUNLINK_TEST_DATABASE_URL
PSQL=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql
"$PSQL" "$PG_BASE" -qc "CREATE DATABASE bench" >/dev/null
PG_URL="${PG_BASE%/*}/bench"
PG_VERSION=$("$PSQL" "$PG_BASE" -Atc "SHOW server_version")

python3 - "$TMP/body.json" <<'PY'
import json, sys
body = {f"dev{i:03d}": {"temperature": 23.5, "humidity": 61.2} for i in range(1000)}
open(sys.argv[1], "w").write(json.dumps(body, separators=(",", ":")))
PY

# run_backend NAME [DATABASE_URL]: sets ROW_<NAME> to a table row.
run_backend() {
  local name=$1 url=${2:-}
  local data="$TMP/data-$name"
  mkdir -p "$data"
  local env=()
  [ -n "$url" ] && env=(env "CUNLINK_DATABASE_URL=$url")
  local gw admin
  gw=$("${env[@]}" "$BIN" device create --data-dir "$data" --name bench-gateway --gateway 2>/dev/null | tail -1)
  admin=$(echo "bench-password" | "${env[@]}" "$BIN" user create --data-dir "$data" --username bench --role admin 2>/dev/null | tail -1)
  HTTP_PORT=$(free_port); MQTT_PORT=$(free_port)
  "${env[@]}" "$BIN" serve --data-dir "$data" --http "127.0.0.1:$HTTP_PORT" --mqtt "127.0.0.1:$MQTT_PORT" >"$TMP/$name.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null || { cat "$TMP/$name.log" >&2; exit 1; }
  # First sight creates the 1,000 gateway devices and their series: not timed.
  curl -fs -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/$gw/gateway/telemetry" --data-binary "@$TMP/body.json" >/dev/null

  local before after
  before=$(metric cunlink_ingest_values_committed_total)
  log "$name: HTTP, wrk -t2 -c$CONNS -d${DURATION}s"
  BODY_FILE="$TMP/body.json" wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$PEERS_DIR/ingest.lua" \
    "http://127.0.0.1:$HTTP_PORT/api/v1/$gw/gateway/telemetry" >"$TMP/wrk-$name.out" 2>&1
  local r; r=$(grep '^RESULT ' "$TMP/wrk-$name.out")
  sleep 0.5
  after=$(metric cunlink_ingest_values_committed_total)
  local ok bad vps p99 stored check=PASS
  ok=$(kv ok2xx "$r"); bad=$(kv non2xx "$r"); p99=$(kv lat_p99_ms "$r")
  vps=$(awk -v r="$(kv ok_rps "$r")" 'BEGIN{printf "%.0f", r*2000}')
  stored=$((after - before))
  if [ "$bad" != 0 ] || [ "$stored" -lt $((ok * 2000)) ]; then check=FAIL; fi

  log "$name: HTTP at a moderate load, wrk -t1 -c$LIGHT_CONNS -d${DURATION}s"
  before=$(metric cunlink_ingest_values_committed_total)
  BODY_FILE="$TMP/body.json" wrk -t1 -c"$LIGHT_CONNS" -d"${DURATION}s" --timeout 10s -s "$PEERS_DIR/ingest.lua" \
    "http://127.0.0.1:$HTTP_PORT/api/v1/$gw/gateway/telemetry" >"$TMP/wrk-light-$name.out" 2>&1
  local lr; lr=$(grep '^RESULT ' "$TMP/wrk-light-$name.out")
  sleep 0.5
  after=$(metric cunlink_ingest_values_committed_total)
  local lvps lp99
  lp99=$(kv lat_p99_ms "$lr")
  lvps=$(awk -v r="$(kv ok_rps "$lr")" 'BEGIN{printf "%.0f", r*2000}')
  if [ "$(kv non2xx "$lr")" != 0 ] || [ $((after - before)) -lt $(( $(kv ok2xx "$lr") * 2000 )) ]; then check=FAIL; fi

  log "$name: MQTT, registering $MQTT_CONNS devices"
  seq -w 0 $((MQTT_CONNS - 1)) | xargs -P 8 -I{} curl -s -X POST -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
    "http://127.0.0.1:$HTTP_PORT/api/devices" -d '{"name":"mqtt-{}","village":"bench"}' | grep -o '"token":"[^"]*"' | cut -d'"' -f4 >"$TMP/tokens-$name.txt"
  [ "$(wc -l <"$TMP/tokens-$name.txt")" -eq "$MQTT_CONNS" ] || { log "device registration failed"; exit 1; }
  before=$(metric cunlink_ingest_values_committed_total)
  log "$name: MQTT, $MQTT_CONNS connections, 2 in flight each"
  local m
  m=$("$LOAD" --port "$MQTT_PORT" --conns "$MQTT_CONNS" --inflight 2 --seconds "$DURATION" --tokens-file "$TMP/tokens-$name.txt" 2>"$TMP/load-$name.err" | grep '^RESULT')
  log "$m"
  sleep 0.5
  after=$(metric cunlink_ingest_values_committed_total)
  local mcheck=PASS
  { [ $((after - before)) -ge $(( $(kv acked "$m") * 2 )) ] && [ "$(kv errors "$m")" = 0 ]; } || mcheck=FAIL
  local mvps; mvps=$(awk -v r="$(kv msgs_per_s "$m")" 'BEGIN{printf "%.0f", r*2}')
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf -v "ROW_$name" '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s' "$vps" "$p99" "$bad" "$check" "$mvps" "$(kv p99_ms "$m")" "$(kv errors "$m")" "$mcheck" "$lvps" "$lp99"
}

run_backend sqlite
run_backend postgres "$PG_URL"
PG_BYTES=$("$PSQL" "$PG_URL" -Atc "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'telemetry' AND c.relkind = 'r'")

field() { cut -d'|' -f"$2" <<<"$1"; }
echo
echo "## cunlink telemetry ingest, SQLite beside PostgreSQL — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); load client, server and PostgreSQL $PG_VERSION share it. ${DURATION}s per load."
echo "Data set: HTTP = 1,000 devices × 2 values per gateway request (wrk -t2 -c$CONNS; moderate: wrk -t1 -c$LIGHT_CONNS); MQTT = $MQTT_CONNS devices, QoS 1, 2 values per message, 2 in flight per connection."
echo
echo "| backend | HTTP values/s | HTTP p99 ack ms | non-2xx | HTTP check | HTTP moderate values/s | HTTP moderate p99 ack ms | MQTT values/s | MQTT p99 ack ms | MQTT errors | MQTT check |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for b in sqlite postgres; do
  row_var="ROW_$b"; row=${!row_var}
  echo "| $b | $(field "$row" 1) | $(field "$row" 2) | $(field "$row" 3) | $(field "$row" 4) | $(field "$row" 9) | $(field "$row" 10) | $(field "$row" 5) | $(field "$row" 6) | $(field "$row" 7) | $(field "$row" 8) |"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.0f %%", 100*a/b; else print "n/a" }'; }
echo "- PostgreSQL / SQLite: HTTP $(ratio "$(field "$ROW_postgres" 1)" "$(field "$ROW_sqlite" 1)"), MQTT $(ratio "$(field "$ROW_postgres" 5)" "$(field "$ROW_sqlite" 5)") (goal ≥ 50 %; p99 ack goal ≤ 50 ms)"
echo "- PostgreSQL telemetry schema after the run: $((PG_BYTES / 1048576)) MiB (tables, indexes, TOAST)"
