#!/usr/bin/env bash
# Call benchmarks (issue 11, Performance), on this machine's loopback.
#
#   bash bench/call.sh                 # both parts
#   PART=setup RUNS=20 bash bench/call.sh
#   PART=rooms ROOMS=1000 bash bench/call.sh
#
# 1. setup: call setup time, page open → `connected` (the second page's
#    `performance.now()` when its RTCPeerConnection connects), p50/p95 over RUNS
#    runs directly and RUNS runs with `iceTransportPolicy: "relay"` through a
#    coturn on loopback. It is the browser test crates/cunlink/tests/browser_call.rs
#    with CALL_BENCH_RUNS (debug build of the server; one headless Debian
#    Chromium, two contexts with a fake camera and microphone; the first page is
#    already in the room when the second opens). Target p95 ≤ 3 s.
# 2. rooms: ROOMS consult rooms (seeded between two doctors) each joined by two
#    scripted WebSocket clients (bench/call-load, real room tokens over the
#    API), every room relaying an offer, an answer and 8 candidates, all sockets
#    held open; the server's VmRSS (/proc/PID/status) before and after.
#    Release build (PROFILE=debug to skip it). Target ≤ 50 MB added for 1,000 rooms.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PART=${PART:-all}
RUNS=${RUNS:-20}
ROOMS=${ROOMS:-1000}
PORT=${PORT:-18490}
PROFILE=${PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
log() { printf '[bench] %s\n' "$*" >&2; }

if [ "$PART" = all ] || [ "$PART" = setup ]; then
  log "call setup: $RUNS runs direct, $RUNS through coturn"
  (cd "$ROOT" && CALL_BENCH_RUNS=$RUNS cargo test -q -p cunlink --test browser_call -- --nocapture 2>&1) \
    | grep -E '^(BENCH|FAIL)|passed, ' | sed 's/^BENCH //'
fi

if [ "$PART" = all ] || [ "$PART" = rooms ]; then
  flag=""; [ "$PROFILE" = release ] && flag=--release
  (cd "$ROOT" && cargo build -q $flag -p cunlink -p cunlink-call-load)
  BIN=$CARGO_TARGET_DIR/$PROFILE/cunlink
  LOAD=$CARGO_TARGET_DIR/$PROFILE/cunlink-call-load
  DATA=$(mktemp -d /tmp/cunlink-call-bench.XXXXXX)
  SERVER=""
  cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"; }
  trap cleanup EXIT
  A=$(echo "bench-password-1" | "$BIN" user create --data-dir "$DATA" --username vdoc --role doctor --village 茶香村 | tail -1)
  B=$(echo "bench-password-1" | "$BIN" user create --data-dir "$DATA" --username cdoc --role doctor --department 内科 | tail -1)
  FIRST=$("$LOAD" seed --data-dir "$DATA" --rooms "$ROOMS" --village-doctor vdoc --county-doctor cdoc | sed -n 's/^FIRST=//p')
  # Two sockets per member (client and server side) in this one machine.
  ulimit -n 65536 2>/dev/null || ulimit -n 16384
  "$BIN" serve --data-dir "$DATA" --http "127.0.0.1:$PORT" --mqtt "127.0.0.1:$((PORT + 1))" >"$DATA/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  log "signaling: $ROOMS rooms × 2 WebSocket clients ($PROFILE build)"
  "$LOAD" run --addr "127.0.0.1:$PORT" --token-a "$A" --token-b "$B" --first "$FIRST" --rooms "$ROOMS" --pid "$SERVER"

fi
