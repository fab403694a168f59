#!/usr/bin/env bash
# The dashboard's end-to-end test: the real gaiarouter server (debug build) on a
# fresh database, serving the built dashboard, driven by headless Chromium
# (Debian's package, through playwright-core). Needs TEST_DATABASE_URL (set by
# scripts/test.sh) and a built frontend (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if [ ! -x /usr/bin/chromium ]; then
  log "installing Chromium (apt-get)"
  apt_install chromium
fi
: "${TEST_DATABASE_URL:?run through scripts/test.sh, which starts the test database}"

db="gr_e2e_$(date +%s)_$$"
psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null
port=$(free_port)
password="e2e-$(date +%s%N)"
cargo build --quiet --bin gaiarouter
log_file=$(mktemp /tmp/gaiarouter-e2e-XXXXXX.log)
DATABASE_URL="${TEST_DATABASE_URL%/*}/$db" \
GAIAROUTER_LISTEN="127.0.0.1:$port" \
GAIAROUTER_ADMIN_PASSWORD="$password" \
GAIAROUTER_JWT_SECRET="e2e-jwt-secret-e2e-jwt-secret-e2e-jwt-secret" \
GAIAROUTER_STATIC_DIR="$PWD/frontend/dist" \
GAIAROUTER_DATA_DIR="$(mktemp -d)" \
  "${CARGO_TARGET_DIR:-target}/debug/gaiarouter" serve >"$log_file" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$port/health" >/dev/null || { cat "$log_file"; exit 1; }

log "dashboard end-to-end test in headless Chromium"
(cd frontend && GAIAROUTER_URL="http://127.0.0.1:$port" GAIAROUTER_ADMIN_USERNAME=admin \
  GAIAROUTER_ADMIN_PASSWORD="$password" npm run e2e) || { tail -n 50 "$log_file"; exit 1; }

log "API docs page in headless Chromium (embedded Swagger UI under the CSP)"
(cd frontend && GAIAROUTER_URL="http://127.0.0.1:$port" node e2e/docs.mjs) || { tail -n 50 "$log_file"; exit 1; }

log "the official OpenAI Python SDK against the server"
python3 -c 'import openai' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check openai
python3 tests/sdk/openai_sdk.py "http://127.0.0.1:$port" admin "$password" || { tail -n 50 "$log_file"; exit 1; }
