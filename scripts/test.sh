#!/usr/bin/env bash
# Runs every test of the project: vet, the unit and API suites with the race
# detector, then the end-to-end suite against a real kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== go vet"
go vet ./...
echo "== go test -race ./..."
go test -race -count=1 -timeout 20m ./...
if [ -d e2e ]; then
  echo "== e2e (real kubectl)"
  go test -tags e2e -count=1 -timeout 15m ./e2e/...
fi
