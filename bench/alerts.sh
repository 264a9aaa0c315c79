#!/usr/bin/env bash
# Early-warning benchmark (bench/alert-load), on 127.0.0.1 only, ~2 minutes:
#   1. ingest throughput without rules and with 10,000 threshold rules over
#      10,000 devices (target: the rules cost ≤ 20 %);
#   2. reading → webhook latency while ingest runs at half the maximum just
#      measured (target: p99 ≤ 50 ms). Measured from sending the reading, so it
#      includes the commit and bounds commit → notification from above.
#
#   bash bench/alerts.sh
#   SECONDS_PER_LOAD=20 DEVICES=10000 TRIGGERS=400 bash bench/alerts.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
(cd "$ROOT" && cargo build --release -q -p cunlink -p cunlink-alert-load)
"$CARGO_TARGET_DIR/release/cunlink-alert-load" \
  --bin "$CARGO_TARGET_DIR/release/cunlink" \
  --seconds "${SECONDS_PER_LOAD:-10}" \
  --devices "${DEVICES:-10000}" \
  --triggers "${TRIGGERS:-200}" \
  --conns "${CONNS:-16}"
