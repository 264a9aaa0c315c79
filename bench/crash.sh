#!/usr/bin/env bash
# Crash test: kill -9 the release server N times under load; every acknowledged
# reading (HTTP and MQTT QoS 1) and order must be there exactly once.
#
#   bash bench/crash.sh 100      # ~3-5 minutes; prints "0 lost, 0 duplicated over 100 kills (...)"
#   SEED=42 bash bench/crash.sh 20
#
# The driver is bench/crash-test (see its doc comment for what it sends and checks).
# It uses a throwaway data directory, kept only when a check fails.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=${1:-100}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
(cd "$ROOT" && cargo build --release -q -p cunlink -p cunlink-crash-test)
exec "$CARGO_TARGET_DIR/release/cunlink-crash-test" "$CARGO_TARGET_DIR/release/cunlink" "$N" ${SEED:+"$SEED"}
