#!/usr/bin/env bash
# Retakes the README's dashboard screenshots (frontend/screenshots/) from a month of
# demo traffic: a throwaway PostgreSQL, `gaiarouter demo seed --days 30`, the server
# serving the built dashboard, then headless Chromium over every page in both themes
# (frontend/e2e/screenshots.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_postgres
[ -x /usr/bin/chromium ] || apt_install chromium
start_throwaway_postgres "-c fsync=off -c synchronous_commit=off"
(cd frontend && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
cargo build --quiet --bin gaiarouter
bin="${CARGO_TARGET_DIR:-target}/debug/gaiarouter"

port=$(free_port)
password="shots-$(date +%s%N)"
data_dir=$(mktemp -d)
export DATABASE_URL="$PG_URL" GAIAROUTER_DATA_DIR="$data_dir"
log "recording a month of demo traffic"
"$bin" demo seed --days 30
log_file=$(mktemp /tmp/gaiarouter-shots-XXXXXX.log)
GAIAROUTER_LISTEN="127.0.0.1:$port" GAIAROUTER_ADMIN_PASSWORD="$password" \
  GAIAROUTER_STATIC_DIR="$PWD/frontend/dist" "$bin" serve >"$log_file" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$port/health" 20 || { cat "$log_file"; exit 1; }
log "waiting for the projections to apply the demo traffic"
"$bin" projections status
for _ in $(seq 1 300); do
  lagging=$("$bin" projections status | awk '$6 != 0' | wc -l)
  [ "$lagging" = 0 ] && break
  sleep 0.5
done
"$bin" projections status
(cd frontend && GAIAROUTER_URL="http://127.0.0.1:$port" GAIAROUTER_ADMIN_USERNAME=admin \
  GAIAROUTER_ADMIN_PASSWORD="$password" node e2e/screenshots.mjs) || { tail -n 30 "$log_file"; exit 1; }
