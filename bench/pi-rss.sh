#!/usr/bin/env bash
# Resident memory of a village node with 500 devices, on the Raspberry Pi build.
#
#   bash bench/pi-rss.sh                 # aarch64 build under qemu-user (~3 minutes; the build first)
#   MODE=native bash bench/pi-rss.sh     # the same scenario, x86_64 release build
#   DEVICES=500 ROUNDS=90 LOAD_SECONDS=150 SETTLE=40 bash bench/pi-rss.sh
#   PI_BIN=path/to/cunlink bash bench/pi-rss.sh    # a given binary (either arch)
#   VIA=http bash bench/pi-rss.sh        # readings over the HTTP device API
#
# Data set: a fresh data directory (no demo), one admin (CLI), DEVICES air probes in
# one village created through the admin API; then every device uploads
# BACKFILL_MINUTES (240) minutes of history, one reading of two values a minute, in
# one HTTP request each (a burst, as after an outage); then ROUNDS rounds (at most one a
# second, bounded by LOAD_SECONDS) in which every device posts one reading of two
# values (bench/pi_load.py): by default over MQTT, each device holding its own
# connection for the whole load and publishing QoS 1 (VIA=mqtt); with VIA=http
# over the HTTP device API, 16 clients at once. Samples /proc/PID/status and smaps
# every 2 s during the load (peak) and prints VmRSS, VmHWM, RssAnon at the end of
# the load and SETTLE seconds later (after the allocator janitor ran).
#
# Under qemu-user the process is qemu running the guest in its own address space,
# so VmRSS includes qemu's own memory (translated code, its image and heap, host
# thread stacks). The runner reserves the guest's address space below 8 GiB
# (`-R 8G`, see tests/pi-lib.sh), so guest_MB, the resident memory of the mappings
# below 8 GiB in /proc/PID/smaps, is the node's own memory (what it would take on
# a Pi with 4 KiB pages); qemu_MB is the rest.
# Exits 1 when the settled figure or the sampled peak (guest_MB under qemu, VmRSS
# natively) is over BUDGET_MB (64).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/pi-lib.sh
. "$ROOT/tests/pi-lib.sh"
MODE=${MODE:-qemu}
DEVICES=${DEVICES:-500}
ROUNDS=${ROUNDS:-90}
LOAD_SECONDS=${LOAD_SECONDS:-150}
SETTLE=${SETTLE:-40}
VIA=${VIA:-mqtt}
BACKFILL_MINUTES=${BACKFILL_MINUTES:-240}
BUDGET_MB=${BUDGET_MB:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
log() { printf '[pi-rss] %s\n' "$*" >&2; }

if [ -n "${PI_BIN:-}" ]; then BIN=$PI_BIN
elif [ "$MODE" = native ]; then
  (cd "$ROOT" && cargo build --release -q --locked -p cunlink); BIN=$CARGO_TARGET_DIR/release/cunlink
else BIN=$("$ROOT/dist/build-pi.sh" | tail -1); fi
QEMU=$(pi_runner "$BIN")
log "binary $BIN${QEMU:+ under qemu}"

DATA=$(mktemp -d /tmp/cunlink-pi-rss.XXXXXX)
PI_PID=""
cleanup() { [ -n "$PI_PID" ] && kill "$PI_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

ADMIN=$(echo 'pi-admin-password' | pi_cli "$BIN" user create --data-dir "$DATA" --username admin --role admin 2>"$DATA/cli.log" | tail -1)
pi_serve "$BIN" "$DATA"

kb() { awk -v k="$1:" '$1==k {print $2}' "/proc/$PI_PID/status"; }
mb() { awk -v v="$1" 'BEGIN{printf "%.1f", v/1024}'; }
# qemu's own resident memory (kB): every mapping at or above the 8 GiB guest block.
qemu_kb() {
  [ -n "$QEMU" ] || { echo 0; return; }
  awk '/^[0-9a-f]+-[0-9a-f]+ /{split($1, r, "-"); n = length(r[1]); host = n > 9 || (n == 9 && r[1] >= "200000000")}
       /^Rss:/{ if (host) s += $2 } END {print s+0}' "/proc/$PI_PID/smaps"
}
row() {
  local rss hwm anon q
  rss=$(kb VmRSS); hwm=$(kb VmHWM); anon=$(kb RssAnon); q=$(qemu_kb)
  printf '%-14s %8s %8s %9s %8s %9s %8s\n' "$1" "$(mb "$rss")" "$(mb "$hwm")" "$(mb "$anon")" \
    "$(mb "$q")" "$(mb $((rss - q)))" "$(kb Threads)"
  LAST_GUEST=$((rss - q))
}

echo "via=$VIA mode=$([ -n "$QEMU" ] && echo qemu-aarch64 || echo native) devices=$DEVICES backfill=${BACKFILL_MINUTES}min rounds<=$ROUNDS load<=${LOAD_SECONDS}s settle=${SETTLE}s"
printf '%-14s %8s %8s %9s %8s %9s %8s\n' phase VmRSS_MB VmHWM_MB RssAnon_MB qemu_MB guest_MB threads
row idle
"$ROOT/bench/pi_load.py" "http://$PI_HTTP" "$ADMIN" --devices "$DEVICES" --rounds "$ROUNDS" \
  --seconds "$LOAD_SECONDS" --backfill-minutes "$BACKFILL_MINUTES" $([ "$VIA" = mqtt ] && echo "--mqtt $PI_MQTT") >"$DATA/load.out" 2>&1 &
LOAD=$!
peak=0
while kill -0 "$LOAD" 2>/dev/null; do
  g=$(( $(kb VmRSS) - $(qemu_kb) )); [ "$g" -gt "$peak" ] && peak=$g
  sleep 2
done
wait "$LOAD" || { cat "$DATA/load.out" >&2; log "load failed"; exit 1; }
row after-load
sleep "$SETTLE"
row settled
cat "$DATA/load.out"
label=$([ -n "$QEMU" ] && echo "guest (node under qemu)" || echo "VmRSS")
settled=$LAST_GUEST; [ -z "$QEMU" ] && settled=$(kb VmRSS)
echo "peak during load (2 s samples) ${label}: $(mb "$peak") MB; process VmHWM $(mb "$(kb VmHWM)") MB"
[ "$peak" -le $((BUDGET_MB * 1024)) ] || { echo "peak over the budget of ${BUDGET_MB} MB"; exit 1; }
if [ "$settled" -le $((BUDGET_MB * 1024)) ]; then
  echo "settled ${label}: $(mb "$settled") MB (budget ${BUDGET_MB} MB): within budget"
else
  echo "settled ${label}: $(mb "$settled") MB (budget ${BUDGET_MB} MB): OVER BUDGET"; exit 1
fi
