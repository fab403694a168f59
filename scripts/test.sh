#!/usr/bin/env bash
# Runs every test: formatting, lints, Rust unit and integration tests against a
# throwaway PostgreSQL cluster (a fresh database per test), the dashboard's unit
# tests, type check and build, and its end-to-end test in headless Chromium.
# Installs what is missing first. Ends with the real totals of every runner
# ("N passed, M failed") and fails when a runner fails, runs nothing, or a step
# it must run is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_rust
ensure_postgres

# A throwaway cluster, stopped and removed whatever happens. fsync off: these tests
# check behaviour, not crash durability.
start_throwaway_postgres "-c fsync=off -c synchronous_commit=off"
export TEST_DATABASE_URL="$PG_URL"

total_passed=0
total_failed=0
broken=()
logs=$(mktemp -d)

# $1 runner, $2 passed, $3 failed, $4 exit status of the runner.
# Tallies the last "<prefix>: N passed, M failed" line a runner printed into <log>.
tally_summary() {
  local log_file=$1 prefix=$2 runner=$3 status=$4 line passed failed
  line=$(grep -E "^$prefix: " "$log_file" | tail -n 1 || true)
  passed=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  failed=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  tally "$runner" "$passed" "$failed" "$status"
}

tally() {
  local runner=$1 passed=${2:-0} failed=${3:-0} status=$4
  log "$runner: $passed passed, $failed failed"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  if [ "$status" -ne 0 ] || [ "$failed" -gt 0 ]; then
    broken+=("$runner failed")
  fi
  if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    broken+=("$runner ran no test")
  fi
}

require() {
  [ -e "$1" ] || { broken+=("missing: $1"); log "missing: $1"; return 1; }
}

strip_ansi() { sed 's/\x1b\[[0-9;]*m//g'; }

# The dashboard is built first: the gaiarouter binary embeds frontend/dist when it
# is compiled, and the cargo tests check the dashboard it serves. (A missing
# frontend is reported once, by the dashboard step below.)
if [ -f frontend/package.json ]; then
  ensure_node
  log "dashboard: install and build (embedded by the binary)"
  (cd frontend && npm ci --no-audit --no-fund && npm run build)
fi

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "cargo tests"
status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$logs/rust" || status=$?
  summary=$(strip_ansi <"$logs/rust" | grep -E '[0-9]+ tests? run: ' | tail -n 1 || true)
  rust_passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  rust_failed=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
else
  cargo test --workspace --no-fail-fast 2>&1 | tee "$logs/rust" || status=$?
  rust_passed=$(grep -oE 'test result: .* [0-9]+ passed' "$logs/rust" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  rust_failed=$(grep -oE '[0-9]+ failed;' "$logs/rust" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
fi
tally "cargo tests" "${rust_passed:-0}" "${rust_failed:-0}" "$status"

if require scripts/fuzz_api.sh; then
  log "OpenAPI: Schemathesis over /openapi.json, then a client generated from it"
  status=0
  bash scripts/fuzz_api.sh 2>&1 | tee "$logs/fuzz" || status=$?
  tally_summary "$logs/fuzz" 'api-fuzz' "OpenAPI fuzz checks" "$status"
  tally_summary "$logs/fuzz" 'api-client' "generated OpenAPI client checks" "$status"
fi

if require frontend/package.json; then
  ensure_node
  log "dashboard: unit tests"
  status=0
  (cd frontend && npm test 2>&1) | tee "$logs/vitest" || status=$?
  line=$(strip_ansi <"$logs/vitest" | grep -E '^ *Tests +' | tail -n 1 || true)
  vitest_passed=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  vitest_failed=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  tally "dashboard unit tests" "$vitest_passed" "$vitest_failed" "$status"

  if require frontend/e2e/run.mjs && require scripts/e2e.sh; then
    status=0
    bash scripts/e2e.sh 2>&1 | tee "$logs/e2e" || status=$?
    tally_summary "$logs/e2e" 'e2e' "dashboard end-to-end steps" "$status"
    tally_summary "$logs/e2e" 'sdk' "OpenAI Python SDK checks" "$status"
    tally_summary "$logs/e2e" 'anthropic-sdk' "Anthropic Python SDK checks" "$status"
    tally_summary "$logs/e2e" 'anthropic-ts-sdk' "Anthropic TypeScript SDK checks" "$status"
    tally_summary "$logs/e2e" 'claude-code' "Claude Code checks" "$status"
    tally_summary "$logs/e2e" 'readme' "README example blocks" "$status"
  fi
fi

if [ "${#broken[@]}" -gt 0 ]; then
  for problem in "${broken[@]}"; do log "FAILED: $problem"; done
  [ "$total_failed" -gt 0 ] || total_failed=${#broken[@]}
  echo "$total_passed passed, $total_failed failed"
  exit 1
fi
log "all tests passed"
echo "$total_passed passed, $total_failed failed"
