# Shared by tests/pi-qemu.sh and bench/pi-rss.sh (source it): run a cunlink binary
# natively or, when it is an aarch64 build, under qemu-user, and start `serve` on
# random loopback ports with a fresh data directory.

# The command prefix that runs binary $1 here: empty for a native binary,
# qemu-aarch64-static with the Debian arm64 cross libraries (the binary is linked
# dynamically against glibc) for an aarch64 one. `-R 8G` reserves the guest's
# address space as one block at the bottom of qemu's (guest_base 0): every guest
# mapping lies below 8 GiB and every one of qemu's own above, which is how
# bench/pi-rss.sh tells the node's memory from qemu's.
pi_runner() {
  local bin=$1
  case "$(od -An -j18 -N2 -tu2 "$bin" | tr -d ' ')" in
    183) # ELF e_machine EM_AARCH64
      command -v qemu-aarch64-static >/dev/null 2>&1 ||
        { echo "qemu-aarch64-static not found: apt-get install qemu-user-static" >&2; return 1; }
      [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] ||
        { echo "arm64 glibc not found: apt-get install libc6-dev-arm64-cross" >&2; return 1; }
      echo "qemu-aarch64-static -R 8G -L /usr/aarch64-linux-gnu" ;;
    62) echo "" ;; # EM_X86_64
    *) echo "$bin: not an x86_64 or aarch64 ELF binary" >&2; return 1 ;;
  esac
}

# pi_serve BIN DATA_DIR [serve args…]: start `serve` in the background on random
# loopback ports; sets PI_PID (the process to watch: qemu-user runs the guest in
# its own process), PI_HTTP and PI_MQTT (host:port). The log is DATA_DIR/server.log.
pi_serve() {
  local bin=$1 data=$2; shift 2
  local runner; runner=$(pi_runner "$bin") || return 1
  # shellcheck disable=SC2086 # the runner is a command prefix, split on purpose
  NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} $runner "$bin" serve --data-dir "$data" \
    --http 127.0.0.1:0 --mqtt 127.0.0.1:0 "$@" 2>"$data/server.log" &
  PI_PID=$!
  PI_HTTP=""
  local i
  for i in $(seq 1 600); do
    PI_HTTP=$(sed -n 's/.*cunlink is serving.* http_addr=\([0-9.:]*\).*/\1/p' "$data/server.log" | head -1)
    PI_MQTT=$(sed -n 's/.*cunlink is serving.* mqtt_addr=\([0-9.:]*\).*/\1/p' "$data/server.log" | head -1)
    [ -n "$PI_HTTP" ] && return 0
    kill -0 "$PI_PID" 2>/dev/null || { echo "server exited:" >&2; cat "$data/server.log" >&2; return 1; }
    sleep 0.1
  done
  echo "server did not start within 60 s:" >&2; cat "$data/server.log" >&2; return 1
}

# pi_cli BIN ARGS…: run a cunlink command with the right runner.
pi_cli() {
  local bin=$1; shift
  local runner; runner=$(pi_runner "$bin") || return 1
  # shellcheck disable=SC2086
  $runner "$bin" "$@"
}
