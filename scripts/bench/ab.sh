#!/usr/bin/env bash
# Alternating runs of two builds, for a change whose effect is smaller than this VM's
# run-to-run spread: `BENCH_ONLY=routing` (two rows of 64-client JSON through an
# upstream; `BENCH_ONLY=streaming` for a JSON and a streamed row) with build A, then
# B, then A, ... ROUNDS times (3). Prints each row's throughput, the gateway's and
# PostgreSQL's CPU per request (ms) and their ratio, then the means per build and
# kind (JSON, streamed). PostgreSQL's CPU per request is unchanged by a gateway-only change
# and moves with the VM's speed as the gateway's does, so the ratio is the steadier
# figure for such a change.
#
# Usage: scripts/bench/ab.sh <target dir of build A> <target dir of build B>
# (each holds release/gaiarouter and release/fake_upstream, e.g. two CARGO_TARGET_DIRs).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 2 ] || { echo "usage: $0 <target dir A> <target dir B>" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((round = 1; round <= ROUNDS; round++)); do
  for target in "$1" "$2"; do
    log=$(mktemp)
    BENCH_NO_BUILD=1 BENCH_ONLY="${BENCH_ONLY:-routing}" BENCH_DURATION="${BENCH_DURATION:-10}" CARGO_TARGET_DIR="$target" \
      bash scripts/bench/run.sh >"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
    # scenario req/s p50 p99 ok errors gw% pg% ...
    grep -E '^gateway-[a-z0-9]+_(json|stream)_c64 ' "$log" | awk -v t="$target" \
      '$2 > 0 { printf "%s %s %d %.3f %.3f %.2f\n", t, $1, $2, $7 * 10 / $2, $8 * 10 / $2, $7 / $8 }' | tee -a "$out"
    rm -f "$log"
  done
done
echo "build: mean req/s, gateway ms/request, PostgreSQL ms/request, gateway/PostgreSQL"
awk '{ k = $1 " " ($2 ~ /_stream_/ ? "streamed" : "json"); n[k]++; r[k] += $3; g[k] += $4; p[k] += $5; q[k] += $6 }
     END { for (t in n) printf "%s: %.0f req/s, %.3f, %.3f, %.2f (%d rows)\n", t, r[t] / n[t], g[t] / n[t], p[t] / n[t], q[t] / n[t], n[t] }' "$out"
