#!/usr/bin/env bash
# Telemetry ingest benchmark: cunlink against its peers, in one run, on this machine.
#
#   bash bench/ingest.sh                 # ~3 minutes
#   DURATION=30 bash bench/ingest.sh     # longer loads
#   PEERS=0 bash bench/ingest.sh         # cunlink only
#
# 1. HTTP: the peers' workload (../shared/bench/peers/README.md) — 1,000 devices
#    × 2 values per request, same wrk + Lua client, 32 connections — sent to
#    cunlink as one ThingsBoard gateway-telemetry request per body. Every 200 is
#    an fsync'd commit.
# 2. MQTT: cunlink-mqtt-load (bench/mqtt-load), 1,000 connections, QoS 1, each its
#    own device; then the same generator against mosquitto (persistence off).
# 3. The peers' own run.sh (VictoriaMetrics, InfluxDB over HTTP) for the ratios.
# Prints a Markdown table. Only 127.0.0.1 is used; every load is bounded in time.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench/peers}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
MQTT_CONNS=${MQTT_CONNS:-1000}
PEERS=${PEERS:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
log() { printf '[bench] %s\n' "$*" >&2; }

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need+=(mosquitto)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}" >/dev/null 2>&1 ||
    { $SUDO apt-get update >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}" >/dev/null; }
fi

log "building release binaries"
(cd "$ROOT" && cargo build --release -q -p cunlink -p cunlink-mqtt-load)
BIN=$CARGO_TARGET_DIR/release/cunlink
LOAD=$CARGO_TARGET_DIR/release/cunlink-mqtt-load

TMP=$(mktemp -d -t cunlink-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1==k{print $2; exit}'; }

start_cunlink() {
  HTTP_PORT=$(free_port); MQTT_PORT=$(free_port)
  "$BIN" serve --data-dir "$TMP/data" --http "127.0.0.1:$HTTP_PORT" --mqtt "127.0.0.1:$MQTT_PORT" >"$TMP/cunlink.log" 2>&1 &
  CUNLINK_PID=$!; PIDS+=("$CUNLINK_PID")
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && return 0; sleep 0.1; done
  cat "$TMP/cunlink.log" >&2; exit 1
}

# ---------------------------------------------------------------- HTTP gateway
GW=$("$BIN" device create --data-dir "$TMP/data" --name bench-gateway --gateway 2>/dev/null | tail -1)
ADMIN=$(echo "bench-password" | "$BIN" user create --data-dir "$TMP/data" --username bench --role admin 2>/dev/null | tail -1)
python3 - "$TMP/body.json" <<'PY'
import json, sys
body = {f"dev{i:03d}": {"temperature": 23.5, "humidity": 61.2} for i in range(1000)}
open(sys.argv[1], "w").write(json.dumps(body, separators=(",", ":")))
PY
start_cunlink
# First sight creates the 1,000 devices; do it before the timed run.
curl -fs -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/$GW/gateway/telemetry" --data-binary "@$TMP/body.json" >/dev/null
before=$(metric cunlink_ingest_values_committed_total)
s0=$(cpu_ticks "$CUNLINK_PID")
log "HTTP: wrk -t2 -c$CONNS -d${DURATION}s against the gateway telemetry API"
BODY_FILE="$TMP/body.json" wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$PEERS_DIR/ingest.lua" \
  "http://127.0.0.1:$HTTP_PORT/api/v1/$GW/gateway/telemetry" >"$TMP/wrk.out" 2>&1
s1=$(cpu_ticks "$CUNLINK_PID")
sed 's/^/    /' "$TMP/wrk.out" >&2
R=$(grep '^RESULT ' "$TMP/wrk.out")
sleep 0.5
after=$(metric cunlink_ingest_values_committed_total)
HTTP_OK=$(kv ok2xx "$R"); HTTP_BAD=$(kv non2xx "$R")
HTTP_VPS=$(awk -v r="$(kv ok_rps "$R")" 'BEGIN{printf "%.0f", r*2000}')
HTTP_STORED=$((after - before))
HTTP_CORES=$(awk -v d=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" -v w="$DURATION" 'BEGIN{printf "%.2f", d/hz/w}')
HTTP_CHECK=PASS
if [ "$HTTP_BAD" != 0 ] || [ "$HTTP_STORED" -lt $((HTTP_OK * 2000)) ] || [ "$HTTP_STORED" -gt $(((HTTP_OK + CONNS) * 2000)) ]; then HTTP_CHECK=FAIL; fi
HTTP_P99=$(kv lat_p99_ms "$R")
HTTP_RSS=$(awk '/^VmHWM/{printf "%.0f", $2/1024}' "/proc/$CUNLINK_PID/status")

# ---------------------------------------------------------------- MQTT
log "MQTT: registering $MQTT_CONNS devices"
seq -w 0 $((MQTT_CONNS - 1)) | xargs -P 8 -I{} curl -s -X POST -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' \
  "http://127.0.0.1:$HTTP_PORT/api/devices" -d '{"name":"mqtt-{}","village":"bench"}' | grep -o '"token":"[^"]*"' | cut -d'"' -f4 >"$TMP/tokens.txt"
[ "$(wc -l <"$TMP/tokens.txt")" -eq "$MQTT_CONNS" ] || { log "device registration failed"; exit 1; }
mqtt_run() {  # mqtt_run PORT INFLIGHT [--tokens-file F]
  local port=$1 inflight=$2; shift 2
  "$LOAD" --port "$port" --conns "$MQTT_CONNS" --inflight "$inflight" --seconds "$DURATION" "$@" 2>"$TMP/load.err" | grep '^RESULT'
}
before=$(metric cunlink_ingest_values_committed_total)
log "MQTT: cunlink, $MQTT_CONNS connections, 10 in flight each"
M_MAX=$(mqtt_run "$MQTT_PORT" 10 --tokens-file "$TMP/tokens.txt"); log "$M_MAX"
M_RSS=$(awk '/^VmHWM/{printf "%.0f", $2/1024}' "/proc/$CUNLINK_PID/status")
log "MQTT: cunlink, 2 in flight each (latency)"
M_LAT=$(mqtt_run "$MQTT_PORT" 2 --tokens-file "$TMP/tokens.txt"); log "$M_LAT"
sleep 0.5
after=$(metric cunlink_ingest_values_committed_total)
M_ACKED=$(( $(kv acked "$M_MAX") + $(kv acked "$M_LAT") ))
M_CHECK=PASS
{ [ $((after - before)) -ge $((M_ACKED * 2)) ] && [ "$(kv errors "$M_MAX")" = 0 ] && [ "$(kv errors "$M_LAT")" = 0 ]; } || M_CHECK=FAIL
BYTES_PER_VALUE=$(awk -v b="$(du -sb "$TMP/data/telemetry.db" | cut -f1)" -v w="$(du -sb "$TMP/data/telemetry.db-wal" 2>/dev/null | cut -f1)" -v v="$after" 'BEGIN{printf "%.1f", (b+w)/v}')
kill "$CUNLINK_PID"; wait "$CUNLINK_PID" 2>/dev/null || true

# Idle memory with 10,000 registered devices.
for i in $(seq 0 7999); do printf 'INSERT INTO farm_devices (name, profile_id, token, created_at, updated_at) VALUES (%s, 1, %s, 0, 0);\n' "'idle-$i'" "'idle-token-$i'"; done >"$TMP/devices.sql"
python3 - "$TMP/data/cunlink.db" "$TMP/devices.sql" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.executescript("BEGIN;" + open(sys.argv[2]).read() + "COMMIT;")
print(c.execute("SELECT COUNT(*) FROM farm_devices").fetchone()[0], file=sys.stderr)
PY
start_cunlink
sleep 3
IDLE_DEVICES=$(metric cunlink_devices)
IDLE_RSS=$(awk '/^VmRSS/{printf "%.0f", $2/1024}' "/proc/$CUNLINK_PID/status")
kill "$CUNLINK_PID"; wait "$CUNLINK_PID" 2>/dev/null || true

# ---------------------------------------------------------------- mosquitto, same generator
MOSQ_PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 0\n' "$MOSQ_PORT" >"$TMP/mosq.conf"
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$MOSQ" -c "$TMP/mosq.conf" >"$TMP/mosq.log" 2>&1 & MPID=$!; PIDS+=("$MPID"); sleep 0.5
log "MQTT: mosquitto, same generator, 10 in flight each"
Q_MAX=$(mqtt_run "$MOSQ_PORT" 10); log "$Q_MAX"
log "MQTT: mosquitto, 2 in flight each"
Q_LAT=$(mqtt_run "$MOSQ_PORT" 2); log "$Q_LAT"
kill "$MPID"; wait "$MPID" 2>/dev/null || true

# ---------------------------------------------------------------- peers
VM_VPS=""; IF_VPS=""
if [ "$PEERS" = 1 ]; then
  log "peers: $PEERS_DIR/run.sh (MQTT=0)"
  MQTT=0 DURATION=$DURATION bash "$PEERS_DIR/run.sh" >"$TMP/peers.md" 2>"$TMP/peers.err" || log "peers run.sh reported a failed check"
  VM_VPS=$(awk -F'|' '/^\| VictoriaMetrics/{gsub(/ /,"",$4); print $4}' "$TMP/peers.md")
  IF_VPS=$(awk -F'|' '/^\| InfluxDB/{gsub(/ /,"",$4); print $4}' "$TMP/peers.md")
fi
ratio() { [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f×", a/b; else print "n/a" }' || echo "n/a"; }

echo
echo "## cunlink ingest benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); load client and server share it. ${DURATION}s per load."
echo
echo "### HTTP: 1,000 devices × 2 values per request (gateway telemetry), wrk -t2 -c$CONNS, ack after fsync'd commit"
echo
echo "| server | values/s | vs InfluxDB 1.x | vs VictoriaMetrics | p99 ms | non-2xx | server cores | stored check |"
echo "|---|---|---|---|---|---|---|---|"
echo "| cunlink | $HTTP_VPS | $(ratio "$HTTP_VPS" "$IF_VPS") | $(ratio "$HTTP_VPS" "$VM_VPS") | $HTTP_P99 | $HTTP_BAD | $HTTP_CORES | $HTTP_CHECK ($HTTP_STORED values committed for $HTTP_OK × 2,000 acked) |"
[ -n "$IF_VPS" ] && echo "| InfluxDB 1.x (fsync, peers run.sh) | $IF_VPS | | | | | | see peers table |"
[ -n "$VM_VPS" ] && echo "| VictoriaMetrics (acks before disk) | $VM_VPS | | | | | | see peers table |"
echo
echo "### MQTT QoS 1, $MQTT_CONNS connections, cunlink-mqtt-load"
echo
echo "| broker | in flight / conn | msgs/s (PUBACKed) | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|"
for row in "cunlink (ack after commit)|10|$M_MAX" "cunlink (ack after commit)|2|$M_LAT" "mosquitto (persistence off)|10|$Q_MAX" "mosquitto (persistence off)|2|$Q_LAT"; do
  IFS='|' read -r name infl res <<<"$row"
  echo "| $name | $infl | $(kv msgs_per_s "$res") | $(kv p50_ms "$res") | $(kv p99_ms "$res") | $(kv errors "$res") |"
done
echo
echo "- cunlink vs mosquitto, 10 in flight: $(ratio "$(kv msgs_per_s "$M_MAX")" "$(kv msgs_per_s "$Q_MAX")"); 2 in flight: $(ratio "$(kv msgs_per_s "$M_LAT")" "$(kv msgs_per_s "$Q_LAT")")"
echo "- MQTT stored check: $M_CHECK (committed values ≥ 2 × PUBACKs)"
echo "- memory: peak RSS ${HTTP_RSS} MB after the HTTP load, ${M_RSS} MB after the MQTT load; idle RSS ${IDLE_RSS} MB with ${IDLE_DEVICES} registered devices"
echo "- disk: ${BYTES_PER_VALUE} bytes per stored value (telemetry.db + WAL over all values committed in this run, before checkpoint)"
if [ "$PEERS" = 1 ]; then echo; echo "<details><summary>peers run.sh output</summary>"; echo; cat "$TMP/peers.md"; echo; echo "</details>"; fi
