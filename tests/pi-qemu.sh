#!/usr/bin/env bash
# The Raspberry Pi build, run: cross-compile cunlink for aarch64 (dist/build-pi.sh,
# incremental with a kept CARGO_TARGET_DIR) and run it under qemu-user as a node
# would: `--version`, an admin created with the CLI, `serve` on random loopback
# ports with a fresh data directory, /healthz, a device created through the admin
# API, a reading posted over the HTTP device API and read back through the JSON API.
#
#   tests/pi-qemu.sh              # builds, then tests
#   PI_BIN=path/to/cunlink tests/pi-qemu.sh   # tests that binary (any arch)
#
# ./test runs it. Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross,
# qemu-user-static and curl; it fails naming what is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/pi-lib.sh
. "$ROOT/tests/pi-lib.sh"
log() { printf '[pi-qemu] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; [ -f "${DATA:-}/server.log" ] && tail -20 "$DATA/server.log" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || fail "curl not found: apt-get install curl"

t0=$(date +%s)
BIN=${PI_BIN:-$("$ROOT/dist/build-pi.sh" | tail -1)}
log "binary $BIN (built/checked in $(( $(date +%s) - t0 )) s)"

DATA=$(mktemp -d /tmp/cunlink-pi-qemu.XXXXXX)
PI_PID=""
cleanup() { [ -n "$PI_PID" ] && kill "$PI_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

version=$(pi_cli "$BIN" --version) || fail "--version"
case "$version" in cunlink\ *) log "version: $version" ;; *) fail "--version printed: $version" ;; esac

ADMIN=$(echo 'pi-admin-password' | pi_cli "$BIN" user create --data-dir "$DATA" --username admin --role admin 2>"$DATA/cli.log" | tail -1) ||
  { cat "$DATA/cli.log" >&2; fail "user create"; }
[ -n "$ADMIN" ] || fail "user create printed no token"

t1=$(date +%s)
pi_serve "$BIN" "$DATA" || fail "serve did not start"
log "serving on $PI_HTTP after $(( $(date +%s) - t1 )) s"
URL="http://$PI_HTTP"

health=$(curl -sS --max-time 30 -w ' %{http_code}' "$URL/healthz") || fail "/healthz unreachable"
[ "${health##* }" = 200 ] || fail "/healthz answered $health"

auth=(-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json')
created=$(curl -sS --max-time 30 -w '\n%{http_code}' "${auth[@]}" \
  -d '{"name":"Tea garden probe 1","type":"air-probe","village":"Xiashan"}' "$URL/api/devices") ||
  fail "device create unreachable"
[ "$(tail -1 <<<"$created")" = 201 ] || fail "device create answered $created"
TOKEN=$(head -1 <<<"$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

ts=$(( $(date +%s) * 1000 - 60000 ))
code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "{\"ts\":$ts,\"values\":{\"temperature\":21.5,\"humidity\":64}}" "$URL/api/v1/$TOKEN/telemetry") ||
  fail "telemetry post unreachable"
[ "$code" = 200 ] || fail "telemetry post answered $code"

got=$(curl -sS --max-time 30 "${auth[@]}" \
  "$URL/api/devices/Tea%20garden%20probe%201/telemetry?keys=temperature,humidity&start=$((ts - 1000))&end=$((ts + 1000))") ||
  fail "telemetry read unreachable"
python3 - "$got" "$ts" <<'PY' || fail "reading not read back: $got"
import json, sys
got, ts = json.loads(sys.argv[1]), int(sys.argv[2])
assert got["temperature"] == [{"ts": ts, "value": 21.5}], got
assert got["humidity"] == [{"ts": ts, "value": 64}], got
PY
log "ok: reading posted and read back under $( [ -n "$(pi_runner "$BIN")" ] && echo qemu-aarch64 || echo native) in $(( $(date +%s) - t0 )) s in all"
