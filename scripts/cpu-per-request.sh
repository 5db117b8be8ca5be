#!/usr/bin/env bash
# Server CPU per request: starts BIN on a fresh data directory, runs
# `cella bench --ops OP` RUNS times, and prints each run's rate and the
# server's CPU time (utime+stime from /proc) divided by the requests it
# served. Less noisy than req/s on a shared machine, where the load
# generator competes for the same cores.
#
#   bash scripts/cpu-per-request.sh [BIN] [OP] [RUNS]
set -euo pipefail
bin=${1:-bin/cella}
op=${2:-get}
runs=${3:-3}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$bin" serve --data-dir "$dir" --listen 127.0.0.1:17443 --log-level warn >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -f "$dir/kubeconfig" ] && break; sleep 0.1; done
sleep 0.5
hz=$(getconf CLK_TCK)
for _ in $(seq "$runs"); do
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  line=$("$bin" bench --kubeconfig "$dir/kubeconfig" --concurrency 32 --duration 8s --ops "$op" 2>&1 | tail -1)
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  n=$(awk '{print $2}' <<<"$line")
  rate=$(awk '{print $4}' <<<"$line")
  echo "$op req/s=$rate server_cpu_per_req=$(( (t1 - t0) * 1000000 / hz / n )) µs"
done
