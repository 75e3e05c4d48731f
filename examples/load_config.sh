#!/usr/bin/env bash
# The qoswatch config of the load runs (load_run.sh, load_ab.sh): a mock Zoom
# on PORT, default cadence, the default rule pack, console notifier.
#   examples/load_config.sh PORT REQUESTS_PER_SECOND STATE_DIR > qoswatch.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
cat <<YAML
zoom:
  account_id: load
  client_id: load
  client_secret: load
  api_base: http://127.0.0.1:$1/v2
  oauth_url: http://127.0.0.1:$1/oauth/token
  requests_per_second: $2       # raised for the load run (Business+ is 40/s)
  daily_budget: 10000000        # raised for the load run (Business+ is 60,000)
poll:
  discover: true
  discover_interval: 2m
rules: [$PWD/rules/]
notifiers:
  out: { type: console }
state_dir: $3
http:
  listen: 127.0.0.1:0
YAML
