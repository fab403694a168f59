#!/usr/bin/env bash
# Runs every test: formatting, lints, Rust unit and integration tests against a
# throwaway PostgreSQL cluster (a fresh database per test), and the dashboard's
# tests when it exists. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_rust
ensure_postgres

# A throwaway cluster, stopped and removed whatever happens.
PG_TMP=$(mktemp -d /tmp/gaiarouter-test-XXXXXX)
chmod 755 "$PG_TMP"
[ "$(id -u)" -eq 0 ] && { id postgres >/dev/null 2>&1 && chown postgres "$PG_TMP" || chown nobody "$PG_TMP"; }
PG_PORT=$(free_port)
cleanup() {
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_TMP"
}
trap cleanup EXIT
log "starting a throwaway PostgreSQL on 127.0.0.1:$PG_PORT"
as_pg_user "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres --auth=trust -E UTF8 >/dev/null
# fsync off: these tests check behaviour, not crash durability; max_connections for parallel tests.
as_pg_user "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/postgres.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_TMP -c max_connections=1000 -c fsync=off -c synchronous_commit=off -c shared_buffers=256MB" \
  start >/dev/null
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

if [ -f frontend/package.json ]; then
  ensure_node
  log "dashboard: install, unit tests, type check and build"
  (cd frontend && npm ci --no-audit --no-fund && npm test && npm run build)
  if [ -f frontend/e2e/run.mjs ] && [ -x scripts/e2e.sh ]; then
    scripts/e2e.sh
  fi
fi
log "all tests passed"
