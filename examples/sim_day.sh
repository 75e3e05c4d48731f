#!/usr/bin/env bash
# The simulated day of BENCHMARKS.md ("Zoom events and the quiet cadence"):
# 200 meetings x 10 participants on the load-run mock (examples/load_mock.rs
# in its SIM mode), 10 % of the meetings degrading once, each flagged by a
# signed meeting.alert when its first degraded sample is visible. Three
# qoswatch processes watch three copies of that mock at the same time:
#   full   default cadence (a poll per meeting per new sample): today's figure
#   quiet  poll.quiet_every: 3m, with the meeting.alert webhook
#   blind  poll.quiet_every: 3m, without events (what meeting.alert buys)
# Rule: audio_input.latency > 150ms with no `for`, so an alert fires on the
# first degraded sample qoswatch reads: the detection delay is the time from
# Zoom's flag to qoswatch's firing notification (a rule's `for` adds the
# same wait in every mode).
# A day is composed from what is measured: each healthy meeting's requests
# per minute (steady state) x 1,440 minutes, plus the measured extra
# requests of each degraded meeting's episode, plus discovery (every 2m).
#   examples/sim_day.sh [WINDOW_MINUTES]     (needs jq; PROFILE=debug for a dry run)
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${1:-17}
MEETINGS=200
PARTICIPANTS=10
SECRET=sim-secret-token
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin qoswatch --example load_mock
else
  cargo build --quiet --bin qoswatch --example load_mock
fi
release=${CARGO_TARGET_DIR:-target}/$PROFILE
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 2
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rules"
cat > "$work/rules/sim.yaml" <<'YAML'
rules:
  - name: latency-high
    severity: warning
    when: audio_input.latency > 150ms
YAML
# MODE PORT HOOK_PORT
start() {
  local mode=$1 port=$2 hook=$3
  SIM_WEBHOOK=http://127.0.0.1:$hook/zoom/events SIM_SECRET=$SECRET \
    "$release"/examples/load_mock "$port" $MEETINGS $PARTICIPANTS > "$work/mock-$mode.log" 2>&1 &
  pids+=($!)
  {
    cat <<YAML
zoom:
  account_id: load
  client_id: load
  client_secret: load
  api_base: http://127.0.0.1:$port/v2
  oauth_url: http://127.0.0.1:$port/oauth/token
  requests_per_second: 1000
  daily_budget: 10000000
YAML
    [ "$mode" = blind ] || printf '  webhook:\n    listen: 127.0.0.1:%s\n    secret_token: %s\n' "$hook" "$SECRET"
    printf 'poll:\n  discover: true\n  discover_interval: 2m\n'
    [ "$mode" = full ] || printf '  quiet_every: 3m\n'
    cat <<YAML
rules: [$work/rules/]
notifiers:
  mock: { type: webhook, url: "http://127.0.0.1:$port/notify" }
state_dir: $work/state-$mode
http:
  listen: 127.0.0.1:0
YAML
  } > "$work/$mode.yaml"
}
start full 18091 19491
start quiet 18092 19492
start blind 18093 19493
sleep 1
for mode in full quiet blind; do
  RUST_LOG=warn "$release"/qoswatch run -c "$work/$mode.yaml" > /dev/null 2> "$work/qoswatch-$mode.log" &
  pids+=($!)
done
echo "running the scenario for $WINDOW minutes (+1 to align on the minute)..."
sleep $(( (WINDOW + 1) * 60 + 10 ))
report() { curl -s "http://127.0.0.1:$1/sim/report"; }
report 18091 > "$work/full.json"
report 18092 > "$work/quiet.json"
report 18093 > "$work/blind.json"
[ -z "${SIM_KEEP:-}" ] || cp "$work"/*.json "$SIM_KEEP"
# jq: per mode, the requests of healthy meetings per meeting-minute in the
# steady state (minutes 3 .. WINDOW-1), the extra requests of each degraded
# meeting over the window, and the detection delays.
summarise() { # FILE
  jq --argjson w "$WINDOW" --argjson n $MEETINGS '
    def minutes: to_entries | map(select((.key|tonumber) >= 3 and (.key|tonumber) < $w)) | map(.value) | add // 0;
    def total: to_entries | map(select((.key|tonumber) >= 0 and (.key|tonumber) < $w)) | map(.value) | add // 0;
    (.flags | keys) as $bad
    | (.requests | to_entries | map(select(.key as $k | $bad | index($k) | not))) as $healthy
    | (($healthy | map(.value | minutes) | add) / (($healthy | length) * ($w - 3))) as $rate
    | ((.requests | to_entries | map(select(.key as $k | $bad | index($k))) | map((.value | total) - $rate * $w) | add) // 0) as $extra
    | ([.flags as $f | .detected | to_entries[] | (.value - $f[.key])] | sort) as $d
    | {rate: $rate, extra: $extra, degraded: ($bad | length), detected: ($d | length),
       median: (if ($d|length) > 0 then $d[($d|length)/2|floor] else null end),
       max: (if ($d|length) > 0 then $d[-1] else null end),
       day: ($rate * $n * 1440 + $extra + 720)}' "$1"
}
for mode in full quiet blind; do
  echo "$mode: $(summarise "$work/$mode.json" | jq -c .)"
done
full=$(summarise "$work/full.json" | jq .day)
for mode in quiet blind; do
  day=$(summarise "$work/$mode.json" | jq .day)
  awk -v d="$day" -v f="$full" -v m=$mode -v p=$((MEETINGS * PARTICIPANTS)) 'BEGIN {
    printf "%s: %.0f Zoom requests a day vs %.0f polling every sample: %.3f; one Business+ cap (60,000) covers %.0f participants vs %.0f (%.2fx)\n",
      m, d, f, d / f, 60000 / (d / p), 60000 / (f / p), f / d }'
done
echo "warnings and errors logged: full $(wc -l < "$work/qoswatch-full.log"), quiet $(wc -l < "$work/qoswatch-quiet.log"), blind $(wc -l < "$work/qoswatch-blind.log")"
