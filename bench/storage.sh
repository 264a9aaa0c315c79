#!/usr/bin/env bash
# Telemetry storage benchmark (issue 13), cunlink next to VictoriaMetrics, in one run.
#
#   bash bench/storage.sh              # ~10 minutes on 2 cores
#   DURATION=20 bash bench/storage.sh  # longer ingest loads
#   VM=0 bash bench/storage.sh         # without VictoriaMetrics
#   RET_SERIES=100 bash bench/storage.sh
#
# 1. Ingest: the peers' HTTP workload (1,000 devices × 2 constant values per
#    gateway request, wrk + ../shared/bench/peers/ingest.lua, 32 connections, as in
#    bench/ingest.sh), with chunks sealed in format 1 (no pco,
#    CUNLINK_TELEMETRY_CHUNK_FORMAT=1) and format 2 (pco), alternating, ROUNDS each.
# 2. Bytes per value of sealed chunks on three data sets:
#    - constant: what step 1 stored (format 2 run);
#    - demo: `cunlink serve --demo`'s 4-day backfill of noisy readings (0.1 / 0.01 steps);
#    - year: 10 series × 1 year of 1-minute readings (daily + seasonal cycle, noise,
#      drift, 0.1 quantisation, outages and missed reports; series 0 gapless),
#      written 64 points per series per commit so chunks seal at ~512 points.
#    Each also decoded and re-encoded in format 1 (today's codec before issue 13),
#    and loaded into VictoriaMetrics (/api/v1/import, force flush + merge): its
#    storage bytes (vm_data_size_bytes storage/*) per value, and with indexdb.
# 3. Queries on series 0 of the year (525,600 points), in-process: daily averages
#    over the year (rollups) p99 of 1,000, raw last 24 h p99 of 1,000, the year as CSV
#    lines (values/s, best of 3).
# 4. Retention: RET_SERIES (1,000) series × 1 year at RET_STEP (10) minutes, then
#    the maximum in-process ingest rate (16 writers × 1,000-value jobs), ack
#    latency at half that rate, and the same while a maintenance pass drops the year.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench/peers}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-32}
VM=${VM:-1}
YEAR_SERIES=${YEAR_SERIES:-10}
RET_SERIES=${RET_SERIES:-1000}
RET_STEP=${RET_STEP:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
log() { printf '[storage] %s\n' "$*" >&2; }
[ -f "$PEERS_DIR/ingest.lua" ] || { log "no $PEERS_DIR/ingest.lua: set PEERS_DIR to ../shared/bench/peers"; exit 1; }

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
[ "$VM" = 1 ] && { command -v victoria-metrics >/dev/null || need+=(victoria-metrics); }
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}" >/dev/null 2>&1 ||
    { $SUDO apt-get update >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}" >/dev/null; }
fi

log "building release binaries"
(cd "$ROOT" && cargo build --release -q -p cunlink -p cunlink-storage-bench)
BIN=$CARGO_TARGET_DIR/release/cunlink
SB=$CARGO_TARGET_DIR/release/cunlink-storage-bench

TMP=$(mktemp -d -t cunlink-storage.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1==k{print $2; exit}'; }
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }

start_cunlink() {  # start_cunlink DATA_DIR [extra args]; env passes through
  local dir=$1; shift
  HTTP_PORT=$(free_port); MQTT_PORT=$(free_port)
  "$BIN" serve --data-dir "$dir" --http "127.0.0.1:$HTTP_PORT" --mqtt "127.0.0.1:$MQTT_PORT" "$@" >"$dir.log" 2>&1 &
  CUNLINK_PID=$!; PIDS+=("$CUNLINK_PID")
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && return 0; sleep 0.1; done
  cat "$dir.log" >&2; exit 1
}
stop_cunlink() { kill "$CUNLINK_PID"; wait "$CUNLINK_PID" 2>/dev/null || true; }

# ---------------------------------------------------------------- 1. ingest, format 1 vs 2
python3 - "$TMP/body.json" <<'PY'
import json, sys
body = {f"dev{i:03d}": {"temperature": 23.5, "humidity": 61.2} for i in range(1000)}
open(sys.argv[1], "w").write(json.dumps(body, separators=(",", ":")))
PY
declare -A VPS
ingest_run() {  # ingest_run FORMAT ROUND
  local fmt=$1 round=$2 dir="$TMP/ingest-$1-$2"
  GW=$("$BIN" device create --data-dir "$dir" --name bench-gateway --gateway 2>/dev/null | tail -1)
  CUNLINK_TELEMETRY_CHUNK_FORMAT=$fmt start_cunlink "$dir"
  curl -fs -X POST "http://127.0.0.1:$HTTP_PORT/api/v1/$GW/gateway/telemetry" --data-binary "@$TMP/body.json" >/dev/null
  BODY_FILE="$TMP/body.json" wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$PEERS_DIR/ingest.lua" \
    "http://127.0.0.1:$HTTP_PORT/api/v1/$GW/gateway/telemetry" >"$TMP/wrk.out" 2>&1
  local r; r=$(grep '^RESULT ' "$TMP/wrk.out")
  local vps; vps=$(awk -v r="$(kv ok_rps "$r")" 'BEGIN{printf "%.0f", r*2000}')
  [ "$(kv non2xx "$r")" = 0 ] || log "format $fmt round $round: non-2xx answers: $r"
  sleep 0.5
  log "format $fmt round $round: $vps values/s (sealed $(metric cunlink_telemetry_points_sealed) points)"
  stop_cunlink
  VPS[$fmt]="${VPS[$fmt]:-} $vps"
  [ "$round" = "$ROUNDS" ] || rm -rf "$dir"
}
for round in $(seq 1 "$ROUNDS"); do
  ingest_run 1 "$round"
  ingest_run 2 "$round"
done
best() { tr ' ' '\n' <<<"$1" | sort -n | tail -1; }
V1=$(best "${VPS[1]}"); V2=$(best "${VPS[2]}")
mkdir -p "$TMP/constant"; mv "$TMP/ingest-2-$ROUNDS/telemetry.db" "$TMP/constant/"; rm -rf "$TMP"/ingest-*

# ---------------------------------------------------------------- 2. data sets
log "demo: cunlink serve --demo (4-day backfill)"
mkdir -p "$TMP/demo-data"
start_cunlink "$TMP/demo-data" --demo
prev=-1
for _ in $(seq 1 600); do
  cur=$(metric cunlink_ingest_values_committed_total); cur=${cur:-0}
  [ "$cur" -gt 100000 ] && [ "$cur" = "$prev" ] && break
  prev=$cur; sleep 1
done
log "demo: $cur values committed"
stop_cunlink
mkdir -p "$TMP/demo"; mv "$TMP/demo-data/telemetry.db" "$TMP/demo/"

log "year: $YEAR_SERIES series × 525,600 minutes"
Y_LOAD=$("$SB" year --dir "$TMP/year" --series "$YEAR_SERIES" | grep '^RESULT')
log "$Y_LOAD"
declare -A ST
for ds in constant demo year; do
  ST[$ds]=$("$SB" stats --dir "$TMP/$ds" | grep '^RESULT')
  log "$ds: ${ST[$ds]}"
done

# ---------------------------------------------------------------- VictoriaMetrics, same points
declare -A VMB VMT VMR
vm_load() {  # vm_load DATASET
  local ds=$1 port; port=$(free_port)
  mkdir -p "$TMP/vm-$ds"
  victoria-metrics -storageDataPath "$TMP/vm-$ds" -httpListenAddr "127.0.0.1:$port" -retentionPeriod=100y \
    -search.latencyOffset=0s -loggerLevel=WARN >"$TMP/vm-$ds.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  for _ in $(seq 1 300); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
  curl -fs -X POST "http://127.0.0.1:$port/api/v1/import" -T "$TMP/$ds/vm.jsonl" >/dev/null
  curl -fs -o /dev/null "http://127.0.0.1:$port/internal/force_flush"
  curl -fs -o /dev/null "http://127.0.0.1:$port/internal/force_merge" || true
  local m prev="" same=0
  for _ in $(seq 1 600); do
    sleep 1
    m=$(curl -fs "http://127.0.0.1:$port/metrics")
    local active; active=$(awk '/^vm_active_merges/{s+=$2} END{print s+0}' <<<"$m")
    local size; size=$(awk '/^vm_data_size_bytes\{type="storage\//{s+=$2} END{print s+0}' <<<"$m")
    if [ "$active" = 0 ] && [ "$size" = "$prev" ]; then same=$((same + 1)); else same=0; fi
    prev=$size
    [ "$same" -ge 3 ] && break
  done
  VMB[$ds]=$(awk '/^vm_data_size_bytes\{type="storage\//{s+=$2} END{print s+0}' <<<"$m")
  VMT[$ds]=$(awk '/^vm_data_size_bytes\{/{s+=$2} END{print s+0}' <<<"$m")
  VMR[$ds]=$(awk '/^vm_rows\{type="storage\//{s+=$2} END{print s+0}' <<<"$m")
  log "VictoriaMetrics $ds: rows=${VMR[$ds]} storage_bytes=${VMB[$ds]} all_bytes=${VMT[$ds]}"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
if [ "$VM" = 1 ]; then for ds in constant demo year; do vm_load "$ds"; done; fi

# ---------------------------------------------------------------- 3. queries
Q=$("$SB" queries --dir "$TMP/year" | grep '^RESULT'); log "$Q"

# ---------------------------------------------------------------- 4. retention under ingest
log "retention: $RET_SERIES series × 1 year at ${RET_STEP}-minute steps"
R=$("$SB" retention --dir "$TMP/retention" --series "$RET_SERIES" --step-min "$RET_STEP" | grep '^RESULT'); log "$R"

# ---------------------------------------------------------------- report
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.3f", a/b; else print "n/a" }'; }
echo
echo "## cunlink telemetry storage benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo). VictoriaMetrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo '?')."
echo
echo "### Bytes per value after sealing"
echo
echo "| data set | values sealed | cunlink chunks (pco) | same chunks, format 1 | cunlink whole file | VictoriaMetrics storage | VictoriaMetrics incl. index |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for ds in constant demo year; do
  s=${ST[$ds]}
  echo "| $ds | $(kv points "$s") | $(kv bytes_per_value "$s") | $(kv v1_bytes_per_value "$s") | $(kv file_bytes_per_sealed_value "$s") | $(div "${VMB[$ds]:-0}" "${VMR[$ds]:-0}") | $(div "${VMT[$ds]:-0}" "${VMR[$ds]:-0}") |"
done
echo
echo "### Ingest (HTTP gateway, constant workload, ${DURATION}s × $ROUNDS rounds each, best)"
echo
echo "| chunks | values/s |"
echo "|---|---:|"
echo "| format 1 (no pco) | $V1 |"
echo "| format 2 (pco) | $V2 ($(awk -v a="$V2" -v b="$V1" 'BEGIN{printf "%+.1f %%", (a/b-1)*100}')) |"
echo
echo "### One series × one year of 1-minute data ($(kv points "$Q") points), in-process"
echo
echo "| query | p50 | p99 |"
echo "|---|---:|---:|"
echo "| daily averages over the year (rollups, $(kv daily_buckets "$Q") buckets) | $(kv daily_rollup_p50_ms "$Q") ms | $(kv daily_rollup_p99_ms "$Q") ms |"
echo "| same from raw points | $(kv daily_raw_p50_ms "$Q") ms | $(kv daily_raw_p99_ms "$Q") ms |"
echo "| raw last 24 h ($(kv last24h_points "$Q") points) | $(kv last24h_p50_ms "$Q") ms | $(kv last24h_p99_ms "$Q") ms |"
echo
echo "Full year as CSV lines: $(kv csv_values_per_s "$Q") values/s ($(kv csv_year_s "$Q") s)."
echo
echo "### Retention: $(kv series "$R") series × $(kv points_per_series "$R") points (a year at ${RET_STEP}-minute steps, $(kv chunks "$R") chunks)"
echo
echo "| | values/s | ack p50 | ack p99 |"
echo "|---|---:|---:|---:|"
echo "| maximum (16 writers × 1,000-value jobs) | $(kv max_values_per_s "$R") | | |"
echo "| half rate | $(kv half_rate_values_per_s "$R") | $(kv half_p50_ms "$R") ms | $(kv half_p99_ms "$R") ms |"
echo "| half rate while retention drops the year | $(kv during_values_per_s "$R") | $(kv during_p50_ms "$R") ms | $(kv during_p99_ms "$R") ms |"
echo
echo "Retention pass: $(kv retention_s "$R") s, $(kv chunks_dropped "$R") chunks dropped ($(kv chunks_left "$R") left before the cut-off), $(kv pages_freed "$R") pages freed; file $(kv file_before "$R") → $(kv file_after "$R") bytes (the year's chunks: $(kv year_chunk_bytes "$R") bytes; the file also holds what the load wrote meanwhile)."
