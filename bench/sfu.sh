#!/usr/bin/env bash
# Live-class SFU benchmark (issue 12, Performance): CPU per forwarded track and
# RSS with 1 teacher → 3 classrooms at 720p simulcast, target ≤ 5 % of one core
# for that class.
#
#   bash bench/sfu.sh                      # release build, 3 classrooms, 30 s
#   SECS=60 CLASSROOMS=3 PROFILE=debug bash bench/sfu.sh
#
# Setup: the browser test crates/cunlink/tests/browser_live.rs with
# LIVE_BENCH_SECS: the server runs in the test process on loopback; one headless
# Debian Chromium (fake camera asked for 1280×720 at 30 fps, fake microphone)
# holds the teacher page (simulcast q 320×180 ≤150 kbit/s 15 fps, h 640×360
# ≤500 kbit/s, f 1280×720 ≤1.2 Mbit/s, Opus) and CLASSROOMS classroom pages (each
# receives one layer chosen by the SFU from its TWCC estimate, plus the
# teacher's voice, and sends its own voice). Once every page is connected and
# decoding, the SFU thread's utime+stime (/proc/self/task/<cunlink-sfu>/stat) is
# read before and after SECS seconds; forwarded tracks = 3 per classroom
# (teacher video and voice to it, its voice to the teacher). The whole test
# process's CPU and VmRSS are printed too (server + test harness; Chromium is
# a separate process and not counted). The browsers share this machine's cores
# with the server, so the layers the classrooms get depend on the load.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=${SECS:-30}
CLASSROOMS=${CLASSROOMS:-3}
PROFILE=${PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
flag=""; [ "$PROFILE" = release ] && flag=--release
(cd "$ROOT/tests/browser" && [ -d node_modules/playwright-core ] || npm ci --silent)
echo "[bench] SFU: 1 teacher -> $CLASSROOMS classrooms, 720p simulcast, ${SECS}s, $PROFILE build" >&2
(cd "$ROOT" && LIVE_BENCH_SECS=$SECS LIVE_CLASSROOMS=$CLASSROOMS \
  cargo test -q $flag -p cunlink --test browser_live -- --nocapture 2>&1) \
  | grep -E '^(BENCH|FAIL|info)|passed, ' | sed 's/^BENCH //'
