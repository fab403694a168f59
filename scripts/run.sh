#!/usr/bin/env bash
# Installs what is missing, builds the dashboard and then the binary that embeds
# it, and serves the API and the dashboard on one port (GAIAROUTER_LISTEN,
# default 127.0.0.1:8080). Without DATABASE_URL an
# embedded PostgreSQL cluster is started under GAIAROUTER_DATA_DIR (./data).
# GAIAROUTER_BUILD=debug builds faster (about 6 instead of 16 minutes when clean).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_rust
if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres
  export GAIAROUTER_PG_BIN="$PG_BIN"
fi

if [ -f frontend/package.json ]; then
  ensure_node
  if [ ! -d frontend/node_modules ]; then
    log "installing the dashboard's npm packages"
    (cd frontend && npm ci --no-audit --no-fund)
  fi
  # Rebuild the dashboard when any of its sources is newer than the last build.
  # Before cargo: the binary embeds frontend/dist as it is when it is compiled.
  if [ ! -f frontend/dist/index.html ] || [ -n "$(find frontend/src frontend/public frontend/index.html frontend/package.json -newer frontend/dist/index.html 2>/dev/null | head -n 1)" ]; then
    log "building the dashboard"
    (cd frontend && npm run build)
  fi
fi

profile="${GAIAROUTER_BUILD:-release}"
log "building gaiarouter ($profile)"
if [ "$profile" = "release" ]; then
  cargo build --release --bin gaiarouter
  binary="${CARGO_TARGET_DIR:-target}/release/gaiarouter"
else
  cargo build --bin gaiarouter
  binary="${CARGO_TARGET_DIR:-target}/debug/gaiarouter"
fi

log "starting GaiaRouter on ${GAIAROUTER_LISTEN:-127.0.0.1:8080}"
exec "$binary" serve "$@"
