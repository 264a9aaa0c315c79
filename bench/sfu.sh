#!/usr/bin/env bash
# Live-class SFU benchmark (issue 12, Performance): CPU per forwarded track and
# RSS with 1 teacher → 3 classrooms at 720p simulcast, target ≤ 5 % of one core
# for that class.
#
#   bash bench/sfu.sh                      # release build, 3 classrooms, 30 s, three cases
#   CASES="high" SECS=60 bash bench/sfu.sh # one case, longer
#   PROFILE=debug bash bench/sfu.sh
#
# Cases (CASES, default all three, each its own server and browser):
#   auto         every classroom gets the layer the SFU picks from its TWCC
#                estimate (on a loaded loopback that is 320 or 640 px wide);
#   high         every classroom pins the 1280×720 layer (the live page's
#                ?layer=high, i.e. `"layer":"high"` in its join); the script
#                fails unless every classroom's getStats shows 1280×720 frames
#                decoded before the measurement;
#   high+screen  as high, with the teacher sharing the screen (a second video,
#                one layer, 1280×720 at ≤ 15 fps, ≤ 1 Mbit/s) to every classroom.
#
# Setup: the browser test crates/cunlink/tests/browser_live.rs with
# LIVE_BENCH_SECS: the server runs in the test process on loopback; one headless
# Debian Chromium (fake camera 1280×720 at FPS=30 frames a second — Chromium's
# --use-fake-device-for-media-stream=fps=30, a real webcam's rate; its default
# is 20 —, fake microphone, fake screen 1280×720) holds the teacher page (simulcast q 320×180 ≤150 kbit/s,
# h 640×360 ≤500 kbit/s, f 1280×720 ≤1.2 Mbit/s, Opus) and CLASSROOMS classroom
# pages (each receives the teacher's camera layer and voice, the screen in
# high+screen, and sends its own voice). Once every page is connected and
# decoding, the SFU thread's utime+stime (/proc/self/task/<cunlink-sfu>/stat) is
# read before and after SECS seconds; forwarded tracks = 3 per classroom
# (teacher camera and voice to it, its voice to the teacher), 4 with the
# screen. The whole test process's CPU and VmRSS are printed too (server + test
# harness; Chromium is a separate process and not counted; VmRSS before and
# after the window, and after the test's setup before any page joined — the
# setup's Argon2 password hashing leaves 100+ MB of freed allocator arenas), and what each
# classroom decoded over the window (size, frames per second). The browsers
# share this machine's cores with the server.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=${SECS:-30}
CLASSROOMS=${CLASSROOMS:-3}
PROFILE=${PROFILE:-release}
CASES=${CASES:-auto high high+screen}
FPS=${FPS:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cunlink/target}
flag=""; [ "$PROFILE" = release ] && flag=--release
(cd "$ROOT/tests/browser" && [ -d node_modules/playwright-core ] || npm ci --silent)
status=0
for c in $CASES; do
  case "$c" in
    auto) layer=""; screen="" ;;
    high) layer=high; screen="" ;;
    high+screen) layer=high; screen=1 ;;
    *) echo "unknown case $c (auto, high, high+screen)" >&2; exit 2 ;;
  esac
  echo "[bench] SFU case $c: 1 teacher -> $CLASSROOMS classrooms, 720p simulcast, ${SECS}s, $PROFILE build" >&2
  (cd "$ROOT" && LIVE_BENCH_SECS=$SECS LIVE_CLASSROOMS=$CLASSROOMS LIVE_LAYER=$layer LIVE_SCREEN=$screen LIVE_FPS=$FPS \
    cargo test -q $flag -p cunlink --test browser_live -- --nocapture 2>&1) \
    | grep -E '^(BENCH|FAIL|info)|passed, ' | sed 's/^BENCH //' || status=1
done
exit $status
