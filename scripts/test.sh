#!/usr/bin/env bash
# Runs every test: formatting, lints, Rust unit and integration tests against a
# throwaway PostgreSQL cluster (a fresh database per test), and the dashboard's
# tests when it exists. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_rust
ensure_postgres

# A throwaway cluster, stopped and removed whatever happens. fsync off: these tests
# check behaviour, not crash durability.
start_throwaway_postgres "-c fsync=off -c synchronous_commit=off"
export TEST_DATABASE_URL="$PG_URL"

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo tests"
rust_log=$(mktemp)
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$rust_log"
else
  cargo test --workspace --no-fail-fast 2>&1 | tee "$rust_log"
fi
rust_passed=$(grep -oE '[0-9]+ tests run: [0-9]+ passed' "$rust_log" | tail -n 1 | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
frontend_passed=0

if [ -f frontend/package.json ]; then
  ensure_node
  log "dashboard: install, unit tests, type check and build"
  (cd frontend && npm ci --no-audit --no-fund && npm test 2>&1 | tee "$rust_log.vitest" && npm run build)
  frontend_passed=$(sed 's/\x1b\[[0-9;]*m//g' "$rust_log.vitest" | grep -E '^ *Tests +[0-9]+ passed' | grep -oE '[0-9]+' | head -n 1 || echo 0)
  if [ -f frontend/e2e/run.mjs ] && [ -x scripts/e2e.sh ]; then
    scripts/e2e.sh
  fi
fi
log "all tests passed"
echo "$((rust_passed + frontend_passed)) passed, 0 failed"
