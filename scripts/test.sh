#!/usr/bin/env bash
# Runs every test of the project: vet, the unit and API suites with the race
# detector, each fuzz target for a short bounded time, then the end-to-end
# suite against a real kubectl.
#
# FUZZTIME sets how long each fuzz target runs (default 10000x: ten thousand
# inputs, a few seconds each here); FUZZTIME=0 skips fuzzing. The default is
# a count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" failure when the time runs
# out on a loaded machine (go.dev/issue/75804, fixed in Go 1.27).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== go vet"
go vet ./...
echo "== go test -race ./..."
go test -race -count=1 -timeout 20m ./...
fuzztime="${FUZZTIME:-10000x}"
if [ "$fuzztime" != "0" ]; then
  echo "== fuzz (each target for $fuzztime)"
  for dir in $(grep -l '^func Fuzz' --include='*_test.go' -r internal | xargs -n1 dirname | sort -u); do
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //'); do
      echo "-- $dir $target"
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir"
    done
  done
fi
if [ -d e2e ]; then
  echo "== e2e (real kubectl)"
  go test -tags e2e -count=1 -timeout 15m ./e2e/...
fi
