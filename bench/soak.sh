#!/usr/bin/env bash
# Soak: does memory stay flat under steady load?
#
#   bash bench/soak.sh MINUTES          # e.g. bash bench/soak.sh 5
#   DEVICES=200 SSE=20 bash bench/soak.sh 10
#
# Starts the release server with the demo village (its rules, board and a feed of
# 45 simulated devices) on a throwaway data directory, adds DEVICES devices each
# with a threshold rule (half of them firing, so alarms open and fold), measures
# the maximum MQTT QoS 1 ingest for 10 s, then for MINUTES runs at the same time:
#   * MQTT QoS 1 at half that rate (cunlink-mqtt-load --rate), DEVICES connections;
#   * SSE clients: SSE/2 on device live streams, SSE/2 on the alarm stream;
#   * page loads: the demo board (HTML and .txt), a raw (last 5 s) and an
#     aggregated (last 30 s) telemetry query, the device list and /metrics, in a loop.
# RSS (VmRSS of the server) is sampled every 10 s after a 30 s warm-up; prints the
# samples and the least-squares slope in MB/min. Only 127.0.0.1 is used.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
MINUTES=${1:-5}
DEVICES=${DEVICES:-100}
SSE=${SSE:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
log() { printf '[soak] %s\n' "$*" >&2; }

(cd "$ROOT" && cargo build --release -q -p cunlink -p cunlink-mqtt-load)
BIN=$CARGO_TARGET_DIR/release/cunlink
LOAD=$CARGO_TARGET_DIR/release/cunlink-mqtt-load
DATA=$(mktemp -d /tmp/cunlink-soak.XXXXXX)
PIDS=()
SERVER=""
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port); MQTT_PORT=$(free_port)
H=http://127.0.0.1:$HTTP_PORT

ADMIN=$(echo soak-password | "$BIN" user create --data-dir "$DATA" --username soak --role admin 2>/dev/null | tail -1)
log "creating $DEVICES devices"
: >"$DATA/tokens"
for i in $(seq 1 "$DEVICES"); do
  "$BIN" device create --data-dir "$DATA" --name "soak$i" --asset soak-field --village 茶香村 2>/dev/null | tail -1 >>"$DATA/tokens"
done

NO_COLOR=1 "$BIN" serve --demo --data-dir "$DATA" --http 127.0.0.1:$HTTP_PORT --mqtt 127.0.0.1:$MQTT_PORT 2>"$DATA/server.log" &
SERVER=$!
for _ in $(seq 1 600); do grep -qs "demo village is live" "$DATA/server.log" && break; sleep 0.2; done
api() { curl -sf -X "$1" "$H$2" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' ${3:+-d "$3"}; }
# A first reading, so the rules' key is known.
while read -r tok; do
  curl -sf -X POST "$H/api/v1/$tok/telemetry" -H 'content-type: application/json' -d '{"temperature":20,"humidity":50}' >/dev/null
done <"$DATA/tokens"
for i in $(seq 1 "$DEVICES"); do
  limit=60; [ $((i % 2)) -eq 0 ] && limit=20   # even devices fire (the load sends 23.5)
  api POST /api/rules "{\"name\":\"soak $i\",\"severity\":\"minor\",\"target\":{\"device\":\"soak$i\"},\"condition\":{\"type\":\"threshold\",\"conditions\":[{\"key\":\"temperature\",\"op\":\">\",\"value\":$limit}]}}" >/dev/null
done
BOARD=$(grep -o '/board/[^ ]*' "$DATA/server.log" | head -1 | sed 's/\.txt$//')

log "measuring the maximum MQTT ingest (10 s)"
MAX=$("$LOAD" --port "$MQTT_PORT" --conns "$DEVICES" --inflight 10 --seconds 10 --tokens-file "$DATA/tokens" | sed -E 's/.*msgs_per_s=([0-9.]+).*/\1/')
RATE=$(awk -v m="$MAX" 'BEGIN{printf "%d", m/2}')
log "maximum $MAX msgs/s; soaking at $RATE msgs/s for $MINUTES min"

"$LOAD" --port "$MQTT_PORT" --conns "$DEVICES" --inflight 10 --seconds $((MINUTES * 60 + 30)) --rate "$RATE" --tokens-file "$DATA/tokens" >"$DATA/load.out" 2>&1 &
PIDS+=($!)
for i in $(seq 1 "$SSE"); do
  if [ $((i % 2)) -eq 0 ]; then path=/api/alarms/stream; else path="/api/devices/soak$i/stream"; fi
  curl -sN "$H$path" -H "authorization: Bearer $ADMIN" >/dev/null 2>&1 &
  PIDS+=($!)
done
(
  n=0
  while true; do
    n=$((n + 1)); d=soak$(( (n % DEVICES) + 1 )); now=$(($(date +%s) * 1000))
    curl -sf "$H$BOARD" >/dev/null || true
    curl -sf "$H$BOARD.txt" >/dev/null || true
    # Fixed windows, so each query does the same work all along the soak.
    api GET "/api/devices/$d/telemetry?keys=temperature&start=$((now - 5000))&end=$now&limit=500" >/dev/null || true
    api GET "/api/devices/$d/telemetry?keys=temperature&start=$((now - 30000))&end=$now&interval=1000&agg=avg" >/dev/null || true
    api GET /api/devices >/dev/null || true
    curl -sf "$H/metrics" >/dev/null || true
    sleep 0.1
  done
) &
PIDS+=($!)

sleep 30
echo "minute  VmRSS_MB"
: >"$DATA/samples"
end=$(( $(date +%s) + MINUTES * 60 ))
t0=$(date +%s)
while [ "$(date +%s)" -lt "$end" ]; do
  m=$(awk -v t="$(( $(date +%s) - t0 ))" '/^VmRSS:/ {printf "%.2f %.1f", t/60, $2/1024}' "/proc/$SERVER/status")
  echo "$m" | tee -a "$DATA/samples" | awk '{printf "%6.2f  %8.1f\n", $1, $2}'
  sleep 10
done
for p in "${PIDS[@]:1}"; do kill "$p" 2>/dev/null || true; done
wait "${PIDS[0]}" 2>/dev/null || true   # the load ends by itself and prints its figures
log "load: $(grep RESULT "$DATA/load.out" || tail -1 "$DATA/load.out")"
awk '{ n++; sx += $1; sy += $2; sxx += $1*$1; sxy += $1*$2; if (n == 1) first = $2; last = $2; if ($2 > max) max = $2 }
  END { slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        printf "soak: %d samples over %.1f min at %s msgs/s (half of %s); RSS first %.1f MB, last %.1f MB, max %.1f MB; slope %.2f MB/min\n",
          n, (n - 1) / 6, rate, max_rate, first, last, max, slope }' rate="$RATE" max_rate="$MAX" "$DATA/samples"
