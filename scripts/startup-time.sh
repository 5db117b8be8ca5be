#!/usr/bin/env bash
# Measures the time from starting `cella serve` to the first 200 from
# /readyz, on an existing data directory (a restart) and on a fresh one.
# Usage: scripts/startup-time.sh [path-to-cella-binary] [runs]
set -euo pipefail
bin=${1:-./bin/cella}
runs=${2:-5}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
measure() {
  local start end
  start=$(date +%s%N)
  "$bin" serve --data-dir "$dir/data" --listen 127.0.0.1:17999 --tls=false --log-level error >/dev/null 2>&1 &
  local pid=$!
  until curl -fs -o /dev/null http://127.0.0.1:17999/readyz 2>/dev/null; do sleep 0.001; done
  end=$(date +%s%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo $(( (end - start) / 1000000 ))
}
echo "first start (fresh data directory): $(measure) ms"
for i in $(seq "$runs"); do echo "restart $i: $(measure) ms"; done
