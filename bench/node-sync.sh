#!/usr/bin/env bash
# Village node catch-up (issue 15): a node that was offline for DAYS (default 7)
# drains to its hub over a link shaped to RATE (default 1mbit) each way with
# `tc … tbf`, in a network namespace this script creates (needs root, iproute2).
#
# Data set: DEVICES (default 1,000) air probes on the node, 2 values a minute
# each (temperature a random walk in 0.1 °C steps, humidity in whole %; with
# NOISE=1 both are uniform random with two decimals, the worst case for
# compression), DAYS of them
# (1,000 × 2 × 1,440 × 7 = 20,160,000 values), plus ORDERS (default 2,000)
# station orders; all made while the link is down. Then the link comes up.
#
# Prints: the time to converge; records/s (readings + orders) over the link;
# bytes on the wire node → hub (the node's veth tx counter) per record and
# against the zstd-compressed batches the node sent (its own counter); and a
# check that sampled devices hold every reading exactly once on the hub.
#
#   sudo bash bench/node-sync.sh                  # DEVICES=1000 DAYS=7 RATE=1mbit
#   DEVICES=100 DAYS=1 bash bench/node-sync.sh    # a quick run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEVICES=${DEVICES:-1000}
DAYS=${DAYS:-7}
RATE=${RATE:-1mbit}
ORDERS=${ORDERS:-2000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}"
BIN=${CUNLINK_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release -q -p cunlink
  BIN="$CARGO_TARGET_DIR/release/cunlink"
fi
work=$(mktemp -d /tmp/cunlink-nodesync.XXXXXX)
ns=cunbench$$
hif=cbh$$
nif=cbn$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip link add "$hif" type veth peer name "$nif"
ip link set "$nif" netns "$ns"
ip addr add 10.77.0.1/24 dev "$hif"
ip link set "$hif" up
ip netns exec "$ns" ip addr add 10.77.0.2/24 dev "$nif"
ip netns exec "$ns" ip link set "$nif" up
ip netns exec "$ns" ip link set lo up
tc qdisc add dev "$hif" root tbf rate "$RATE" burst 32kbit latency 400ms
ip netns exec "$ns" tc qdisc add dev "$nif" root tbf rate "$RATE" burst 32kbit latency 400ms
inns() { ip netns exec "$ns" "$@"; }

serve() { # dir http [netns] → waits until it serves; its address in DIR.http
  local d=$1 http=$2 pre=()
  [ "${3:-}" = ns ] && pre=(ip netns exec "$ns")
  RUST_LOG=warn,cunlink=info,cunlink_node=info NO_COLOR=1 "${pre[@]}" "$BIN" serve --data-dir "$d" --http "$http" --mqtt 127.0.0.1:0 2>"$d.log" &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -q "cunlink is serving" "$d.log" 2>/dev/null && { grep "cunlink is serving" "$d.log" | grep -o 'http_addr=[^ ]*' | cut -d= -f2 >"$d.http"; return; }
    sleep 0.1
  done
  echo "did not start: $(tail -5 "$d.log")" >&2
  exit 1
}

admin=$(echo bench-password | "$BIN" user create --data-dir "$work/hub" --username admin --role admin 2>/dev/null | tail -1)
farmer=$(echo bench-password | "$BIN" user create --data-dir "$work/hub" --username farmer-bench --role farmer --village 桃源村 2>/dev/null | tail -1)
echo bench-password | "$BIN" user create --data-dir "$work/hub" --username op-bench --role station_operator --village 桃源村 >/dev/null 2>&1
serve "$work/hub" 10.77.0.1:0
HUB=$(cat "$work/hub.http")
echo "hub $HUB; link $RATE each way; $DEVICES devices, $DAYS days, $ORDERS orders"
python3 bench/node_sync_load.py setup "$HUB" "$admin" "$DEVICES" "$work/state.json"
pid=$(curl -s -H "authorization: Bearer $farmer" -H 'content-type: application/json' \
  -d '{"name":"桃源蜜桃","unit":"箱","price_fen":8800,"stock":100000}' "http://$HUB/api/market/products" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
var=$(curl -s "http://$HUB/api/market/products/$pid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["variants"][0]["id"])')
inns "$BIN" node join --data-dir "$work/node" --hub "http://$HUB" --token "$admin" --village 桃源村 2>"$work/join.log" | tail -1
curl -sf -H "authorization: Bearer $farmer" -H 'content-type: application/json' \
  -d "{\"village\":\"桃源村\",\"quantity\":$ORDERS}" "http://$HUB/api/market/variants/$var/allocate" >/dev/null
serve "$work/node" 127.0.0.1:0 ns
NODE=$(cat "$work/node.http")
# The node takes its village from the hub, then the link goes down.
for _ in $(seq 1 600); do
  inns curl -s "http://$NODE/api/market/products/$pid" | grep -q "\"stock\":$ORDERS" && break
  sleep 0.2
done
ip link set "$hif" down
inns python3 bench/node_sync_load.py fill "$NODE" "$work/state.json" "$DAYS" "$ORDERS"
tx0=$(inns cat "/sys/class/net/$nif/statistics/tx_bytes")
sent0=$(inns curl -s "http://$NODE/metrics" | awk '/^cunlink_sync_bytes_sent_total/ {print $2}')
ip link set "$hif" up
secs=$(inns python3 bench/node_sync_load.py wait "$NODE" 7200)
tx1=$(inns cat "/sys/class/net/$nif/statistics/tx_bytes")
sent1=$(inns curl -s "http://$NODE/metrics" | awk '/^cunlink_sync_bytes_sent_total/ {print $2}')
records=$(python3 -c "print(int($DEVICES * 2 * $DAYS * 1440 + $ORDERS))")
python3 - "$secs" "$records" "$tx0" "$tx1" "$sent0" "$sent1" <<'PY'
import sys
secs, records, tx0, tx1, s0, s1 = (float(x) for x in sys.argv[1:])
wire, payload = tx1 - tx0, s1 - s0
print(f"converged in {secs:.1f} s: {records:.0f} records, {records / secs:,.0f} records/s")
print(f"on the wire node→hub: {wire:,.0f} B = {wire / records:.2f} B/record; "
      f"zstd batches {payload:,.0f} B; wire/payload = {wire / payload:.3f}")
PY
inns curl -s "http://$NODE/metrics" | awk -v orders="$ORDERS" '
  /^cunlink_sync_batch_bytes_total\{stream="records"\}/ {r=$2}
  /^cunlink_sync_batch_bytes_total\{stream="readings"\}/ {g=$2}
  END {printf "batches: records stream %d B (%.1f B per order), readings stream %d B\n", r, (orders > 0 ? r / orders : 0), g}'
python3 bench/node_sync_load.py check "$HUB" "$admin" "$work/state.json" "$DAYS" 10
n=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM market_orders WHERE id > 1099511627776').fetchone()[0])" "$work/hub/cunlink.db")
echo "check: $n of $ORDERS station orders on the hub"
