#!/usr/bin/env bash
# A paired comparison of two qoswatch binaries on the load run of
# BENCHMARKS.md: both run at once, each watching MEETINGS x PARTICIPANTS
# from its own mock Zoom, so both see the same phase of a noisy machine.
# Prints each one's CPU time per poll cycle and the ratio B/A. The same
# binary against itself gives ratios within about 6 % of 1.
#   examples/load_ab.sh BIN_A BIN_B [MINUTES] [MEETINGS] [PARTICIPANTS]
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "$1")
B=$(realpath "$2")
MINUTES=${3:-4}
MEETINGS=${4:-1000}
PARTICIPANTS=${5:-10}
cargo build --release --quiet --example load_mock
release=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pids=()
# Stop each process and wait until it has exited (the qoswatch processes,
# started last, first): on SIGTERM qoswatch saves its state into $work,
# which must not be removed while it writes there.
stop() { # pid
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}"; done
  rm -rf "$work"
}
trap cleanup EXIT
start_mock() { # name port
  "$release"/examples/load_mock "$2" "$MEETINGS" "$PARTICIPANTS" > "$work/$1.mock.log" &
  pids+=($!)
  mkdir -p "$work/$1"
  examples/load_config.sh "$2" 1000 "$work/$1/state" > "$work/$1/qoswatch.yaml"
}
start_mock a 18090
start_mock b 18092
sleep 1
RUST_LOG=warn "$A" run -c "$work/a/qoswatch.yaml" > "$work/a/alerts.log" 2> "$work/a/qoswatch.log" &
qa=$!
pids+=($qa)
RUST_LOG=warn "$B" run -c "$work/b/qoswatch.yaml" > "$work/b/alerts.log" 2> "$work/b/qoswatch.log" &
qb=$!
pids+=($qb)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "warming up 90 s, then measuring $MINUTES minutes..."
sleep 90
# Start half-way between two bursts (samples land 5 s after the minute),
# so the window holds exactly MINUTES bursts.
sleep $(( (95 - 10#$(date +%S)) % 60 ))
a0=$(cpu $qa)
b0=$(cpu $qb)
sleep $((MINUTES * 60))
a1=$(cpu $qa)
b1=$(cpu $qb)
awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v t="$(getconf CLK_TCK)" -v n="$MINUTES" \
  'BEGIN {printf "CPU time per poll cycle: A %.0f ms, B %.0f ms, B/A %.3f\n", a / t / n * 1000, b / t / n * 1000, b / a}'
echo "alert lines: A $(wc -l < "$work/a/alerts.log"), B $(wc -l < "$work/b/alerts.log"); warnings and errors: A $(wc -l < "$work/a/qoswatch.log"), B $(wc -l < "$work/b/qoswatch.log")"
