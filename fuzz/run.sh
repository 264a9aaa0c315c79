#!/usr/bin/env bash
# Run every cargo-fuzz target for MINUTES minutes each (default 1), one after another.
# Not part of CI: it needs the nightly toolchain and cargo-fuzz
# (`rustup toolchain install nightly && cargo install cargo-fuzz`).
#
# What it does:
#  * builds the targets once (release, debug assertions and overflow checks on,
#    no sanitizer: the code under test is safe Rust, and -s none runs ~3x faster);
#  * runs each target with its dictionary, corpus in fuzz/corpus/<target> (the
#    HTTP targets also start from the valid examples in fuzz/seeds/<target>),
#    a 10 s per-input timeout and a 2 GB RSS limit, and keeps going after a crash
#    (-fork, -ignore_crashes) so one finding does not hide the rest;
#  * prints per target libFuzzer's last status line (executions, coverage,
#    oom/timeout/crash counts) and the artifacts saved in fuzz/artifacts/<target>;
#    the full log is fuzz/logs/<target>.log.
# The HTTP targets (query_params, form_bodies) start a real server on loopback
# ports with a temporary data directory, removed at the end.
set -euo pipefail
MINUTES="${1:-1}"
cd "$(dirname "$0")"
TOOLCHAIN="${FUZZ_TOOLCHAIN:-+nightly}"
TARGETS=(mqtt_codec telemetry_payload gateway_payload chirpstack_event query_params form_bodies)
# FUZZ_TARGETS="a b" runs only those.
[ -n "${FUZZ_TARGETS:-}" ] && read -r -a TARGETS <<<"$FUZZ_TARGETS"
declare -A DICT=([mqtt_codec]="" [telemetry_payload]=dict/json.dict [gateway_payload]=dict/json.dict
  [chirpstack_event]=dict/json.dict [query_params]=dict/query.dict [form_bodies]=dict/form.dict)

cargo "$TOOLCHAIN" fuzz build -O -a -s none
mkdir -p logs
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  args=(-max_total_time=$((MINUTES * 60)) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
        -artifact_prefix="artifacts/$t/")
  [ -n "${DICT[$t]}" ] && args+=(-dict="${DICT[$t]}")
  echo "== $t ($MINUTES min)"
  dirs=("corpus/$t")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  cargo "$TOOLCHAIN" fuzz run -O -a -s none "$t" "${dirs[@]}" -- "${args[@]}" >"logs/$t.log" 2>&1 || true
  # In fork mode libFuzzer's status lines read "#EXECUTIONS: cov: … oom/timeout/crash: O/T/C time: …".
  last=$(grep -E '^#[0-9]+' "logs/$t.log" | tail -1 || true)
  echo "   ${last:-no status line; see fuzz/logs/$t.log}"
  echo "   artifacts: $(ls "artifacts/$t" | wc -l) in fuzz/artifacts/$t"
done
rm -rf "${TMPDIR:-/tmp}"/cunlink-fuzz-*
