#!/usr/bin/env bash
# School benchmarks (issue 12): pull overhead and link use, library page render.
#
# Needs root (network namespaces), iproute2 (ip, tc), curl and sqlite3, and a
# built binary: `cargo build --release -p cunlink` (or CUNLINK_BIN=path).
#
# Data sets:
#   pull:    one channel of 3 files (8 MiB, 4 MiB, 1 MiB + 7 B) and 50 files of
#            4,000 B of random bytes: 13,831,175 B of payload.
#   library: the same channel with 10,000 lessons (rows added with sqlite3,
#            in 100 topics), page 1 and page 25 (200 lessons a page).
#
# Figures:
#   1. clean link (veth, no limit): body bytes fetched / payload (the pull's own
#      count, F), and bytes the veth sent / payload (everything: HTTP headers,
#      TCP/IP, Ethernet).
#   2. cuts: tbf 40mbit, the link taken down for 2 s three times and the pull
#      killed with -9 once, then restarted: veth bytes over all runs / payload.
#   3. tbf 8mbit (1,000,000 B/s), clean: payload / (pull time × rate).
#   4. library page: p50 and p99 of 400 GETs of each page (curl, loopback,
#      signed in), server render and transfer included.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${CUNLINK_BIN:-${CARGO_TARGET_DIR:-target}/release/cunlink}
[ -x "$BIN" ] || { echo "build first: cargo build --release -p cunlink (or set CUNLINK_BIN)"; exit 1; }
for t in ip tc curl sqlite3; do command -v $t >/dev/null || { echo "missing $t (apt-get install iproute2 curl sqlite3)"; exit 1; }; done
[ "$(id -u)" -eq 0 ] || { echo "run as root (network namespaces)"; exit 1; }

NS=clsbench$$; VH=cbh$$; VN=cbn$$; HOST=10.233.7.1; PEER=10.233.7.2
WORK=$(mktemp -d /tmp/cunlink-school-bench.XXXX)
UP=$WORK/up; DOWN=$WORK/down
cleanup() { kill "${SERVER:-0}" 2>/dev/null || true; ip netns del $NS 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

ip netns add $NS
ip link add $VH type veth peer name $VN
ip link set $VN netns $NS
ip addr add $HOST/24 dev $VH; ip link set $VH up
ip netns exec $NS ip addr add $PEER/24 dev $VN
ip netns exec $NS ip link set $VN up
ip netns exec $NS ip link set lo up
PORT=$((20000 + $$ % 20000))

mkdir -p "$UP" "$WORK/files"
TOKEN=$(echo 'bench-password' | "$BIN" user create --data-dir "$UP" --username bench --role teacher --village 县城 2>/dev/null | tail -1)
"$BIN" serve --data-dir "$UP" --http $HOST:$PORT --mqtt 127.0.0.1:0 >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://$HOST:$PORT/healthz" && break; sleep 0.1; done
API="http://$HOST:$PORT"
CH=$(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"bench","description":"bench"}' "$API/api/school/channels" | sed 's/.*"id":\([0-9]*\).*/\1/')
head -c $((8*1048576)) /dev/urandom >"$WORK/files/a.bin"
head -c $((4*1048576)) /dev/urandom >"$WORK/files/b.bin"
head -c $((1048576+7)) /dev/urandom >"$WORK/files/c.bin"
for i in $(seq -w 1 50); do head -c 4000 /dev/urandom >"$WORK/files/n$i.bin"; done
for f in "$WORK"/files/*; do
  curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" --data-binary @"$f" \
    "$API/api/school/channels/$CH/files?name=$(basename "$f")&topic=t"
done
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" "$API/api/school/channels/$CH/publish"
PAYLOAD=$(cat "$WORK"/files/* | wc -c)
echo "data set: channel $CH, $(ls "$WORK/files" | wc -l) files, payload $PAYLOAD B"

tx() { cat /sys/class/net/$VH/statistics/tx_bytes; }
pull() { ip netns exec $NS "$BIN" school pull --data-dir "$DOWN" --from "$API" --channel "$CH" --token "$TOKEN" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }

# 1. Clean link.
rm -rf "$DOWN"; T0=$(tx)
LAST=$(pull | tail -1); WIRE=$(( $(tx) - T0 ))
F=$(echo "$LAST" | sed 's/.*fetched=//')
echo "1. clean link: $LAST; fetched/payload = $(ratio "$F" "$PAYLOAD"); veth bytes/payload = $(ratio "$WIRE" "$PAYLOAD")"

# 2. Cuts: 40 Mbit/s, three 2 s link cuts at 25/50/75 % and one kill -9 at 60 %.
rm -rf "$DOWN"; tc qdisc add dev $VH root tbf rate 40mbit burst 64kbit latency 400ms
done_bytes() { sqlite3 "$DOWN/cunlink.db" "SELECT coalesce(max(bytes_done),0) FROM school_pulls" 2>/dev/null || echo 0; }
wait_for() { while [ "$(done_bytes)" -lt "$1" ]; do sleep 0.05; done; }
T0=$(tx)
pull >/dev/null 2>&1 & P=$!
for pct in 25 50; do wait_for $((PAYLOAD * pct / 100)); ip link set $VH down; sleep 2; ip link set $VH up; done
wait_for $((PAYLOAD * 60 / 100)); kill -9 $P; wait $P 2>/dev/null || true
pull >"$WORK/p2.out" 2>&1 & P=$!
wait_for $((PAYLOAD * 75 / 100)); ip link set $VH down; sleep 2; ip link set $VH up
wait $P; WIRE=$(( $(tx) - T0 ))
echo "2. cuts (3 link cuts, 1 kill -9): $(tail -1 "$WORK/p2.out"); veth bytes over both runs/payload = $(ratio "$WIRE" "$PAYLOAD")"
tc qdisc del dev $VH root

# 3. tbf 8mbit, clean.
rm -rf "$DOWN"; tc qdisc add dev $VH root tbf rate 8mbit burst 32kbit latency 400ms
S=$(date +%s.%N); pull >/dev/null; E=$(date +%s.%N)
awk -v p="$PAYLOAD" -v s="$S" -v e="$E" 'BEGIN { t = e - s; printf "3. tbf 8mbit: %.2f s for %d B: %.1f %% of the link rate used\n", t, p, 100 * p / (t * 1000000) }'
tc qdisc del dev $VH root

# 4. Library page with 10,000 lessons.
sqlite3 "$UP/cunlink.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 10000)
  INSERT INTO school_channel_files (channel_id, name, sha256, size, topic, kind)
  SELECT $CH, printf('第%05d课.mp4', i), printf('%064x', i), 1000000 + i, printf('单元%03d', i % 100), 'video' FROM n;"
JAR=$WORK/jar; curl -s -c "$JAR" -o /dev/null -H 'Content-Type: application/json' -d '{"username":"bench","password":"bench-password"}' "$API/api/login"
for page in 1 25; do
  for _ in $(seq 400); do curl -s -b "$JAR" -o /dev/null -w '%{time_total}\n' "$API/school/channels/$CH?page=$page"; done | sort -n >"$WORK/t$page"
  awk -v page=$page '{ a[NR] = $1 } END { printf "4. library page %d of 10,000 lessons: p50 %.2f ms, p99 %.2f ms (%d requests)\n", page, a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000, NR }' "$WORK/t$page"
done
