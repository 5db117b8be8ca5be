#!/usr/bin/env bash
# Measures the time from exec of `cella serve` to the first 200 from /readyz,
# on a fresh data directory and on restarts. Polling is done in-process by
# python3 (a new curl per try would add its own start-up to every sample).
# Usage: scripts/startup-time.sh [path-to-cella-binary] [runs] [data-dir]
set -euo pipefail
bin=${1:-./bin/cella}
runs=${2:-5}
dir=${3:-$(mktemp -d)/data}
python3 - "$bin" "$runs" "$dir" <<'PY'
import subprocess, sys, time, urllib.request
bin, runs, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
url = "http://127.0.0.1:17999/readyz"
def measure():
    t0 = time.monotonic()
    p = subprocess.Popen([bin, "serve", "--data-dir", data, "--listen", "127.0.0.1:17999",
                          "--tls=false", "--log-level", "error"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if urllib.request.urlopen(url, timeout=1).status == 200:
                    return (time.monotonic() - t0) * 1000
            except Exception:
                if time.monotonic() - t0 > 30:
                    raise SystemExit("not ready in 30s")
                time.sleep(0.0005)
    finally:
        p.terminate(); p.wait()
print("start 1 (data directory as given): %.0f ms" % measure())
for i in range(runs):
    print("restart %d: %.0f ms" % (i + 1, measure()))
PY
