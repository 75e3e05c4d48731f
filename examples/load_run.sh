#!/usr/bin/env bash
# The load run of BENCHMARKS.md: one qoswatch process watching MEETINGS live
# meetings x PARTICIPANTS participants from a local mock Zoom, default cadence.
# Prints CPU time per poll cycle (one minute of Zoom samples), peak RSS and
# Zoom QoS requests per participant per cycle. The measurement spans whole
# minutes, because polls come in a burst after each sample lands.
#   examples/load_run.sh [MEETINGS] [PARTICIPANTS] [MEASURE_MINUTES] [REQUESTS_PER_SECOND]
set -euo pipefail
cd "$(dirname "$0")/.."
MEETINGS=${1:-1000}
PARTICIPANTS=${2:-10}
MINUTES=${3:-3}
RPS=${4:-1000}
PORT=18080
cargo build --release --quiet --bin qoswatch --example load_mock
release=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
mock= qw=
# Stop qoswatch first and wait until it has exited: on SIGTERM it saves its
# state into $work/state, which must not be removed while it writes there.
stop() { # pid
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  [ -z "$qw" ] || stop "$qw"
  [ -z "$mock" ] || stop "$mock"
  rm -rf "$work"
}
trap cleanup EXIT
"$release"/examples/load_mock $PORT "$MEETINGS" "$PARTICIPANTS" > "$work/mock.log" &
mock=$!
sleep 1
examples/load_config.sh $PORT "$RPS" "$work/state" > "$work/qoswatch.yaml"
RUST_LOG=warn "$release"/qoswatch run -c "$work/qoswatch.yaml" > "$work/alerts.log" 2> "$work/qoswatch.log" &
qw=$!
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$qw/stat"; }
qos() { grep -o 'qos [0-9]*' "$work/mock.log" | tail -1 | awk '{print $2}'; }
echo "warming up 90 s (discovery, first sight of $((MEETINGS * PARTICIPANTS)) participants)..."
sleep 90
# Start half-way between two bursts (samples land 5 s after the minute),
# so the window holds exactly MINUTES bursts.
sleep $(( (95 - 10#$(date +%S)) % 60 ))
c0=$(cpu); q0=$(qos); t0=$(date +%s)
sleep $((MINUTES * 60))
c1=$(cpu); q1=$(qos); t1=$(date +%s)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$qw/status")
secs=$((t1 - t0))
cycles=$MINUTES
echo "measured $secs s = $cycles cycles of one Zoom sample each"
awk -v c=$((c1 - c0)) -v t="$ticks" -v n="$cycles" 'BEGIN {printf "CPU time per poll cycle: %.0f ms\n", c / t / n * 1000}'
echo "peak RSS: $((rss / 1024)) MB"
awk -v q=$((q1 - q0)) -v p=$((MEETINGS * PARTICIPANTS)) -v n="$cycles" 'BEGIN {printf "QoS requests per participant per cycle: %.3f (%d requests)\n", q / p / n, q}'
echo "alert lines printed: $(wc -l < "$work/alerts.log"); warnings and errors logged: $(wc -l < "$work/qoswatch.log")"
head -5 "$work/qoswatch.log"
