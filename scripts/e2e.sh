#!/usr/bin/env bash
# The dashboard's end-to-end test: the real gaiarouter server (debug build) on a
# fresh database, serving the built dashboard, driven by headless Chromium
# (Debian's package, through playwright-core). Then the official SDKs against the
# same server: OpenAI's (Python) over the echo provider, Anthropic's (Python and
# TypeScript) over routes to a fake upstream (src/bin/fake_upstream.rs) speaking
# Anthropic, OpenAI and Gemini. Needs TEST_DATABASE_URL (set by scripts/test.sh) and
# a built frontend (npm run build).
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
cargo build --quiet --bin gaiarouter --bin fake_upstream
log_file=$(mktemp /tmp/gaiarouter-e2e-XXXXXX.log)
data_dir=$(mktemp -d)
upstream_port=$(free_port)
"${CARGO_TARGET_DIR:-target}/debug/fake_upstream" --listen "127.0.0.1:$upstream_port" 2>/dev/null &
upstream=$!
DATABASE_URL="${TEST_DATABASE_URL%/*}/$db" \
GAIAROUTER_LISTEN="127.0.0.1:$port" \
GAIAROUTER_ADMIN_PASSWORD="$password" \
GAIAROUTER_JWT_SECRET="e2e-jwt-secret-e2e-jwt-secret-e2e-jwt-secret" \
GAIAROUTER_STATIC_DIR="$PWD/frontend/dist" \
GAIAROUTER_DATA_DIR="$data_dir" \
FAKE_UPSTREAM_KEY="fake-upstream-key" \
GAIAROUTER_CREDENTIAL_VARS=FAKE_UPSTREAM_KEY \
  "${CARGO_TARGET_DIR:-target}/debug/gaiarouter" serve >"$log_file" 2>&1 &
server=$!
# The log's tail is printed on a failure before the exit; then it goes with the data dir.
trap 'kill $server $upstream 2>/dev/null; wait $server $upstream 2>/dev/null || true; rm -rf "$log_file" "$data_dir"' EXIT
wait_for "http://127.0.0.1:$port/health" 20 || { cat "$log_file"; exit 1; }
curl -fs "http://127.0.0.1:$upstream_port/health" >/dev/null || { log "fake upstream did not start"; exit 1; }

log "dashboard end-to-end test in headless Chromium"
(cd frontend && GAIAROUTER_URL="http://127.0.0.1:$port" GAIAROUTER_ADMIN_USERNAME=admin \
  GAIAROUTER_ADMIN_PASSWORD="$password" npm run e2e) || { tail -n 50 "$log_file"; exit 1; }

log "API docs page in headless Chromium (embedded Swagger UI under the CSP)"
(cd frontend && GAIAROUTER_URL="http://127.0.0.1:$port" node e2e/docs.mjs) || { tail -n 50 "$log_file"; exit 1; }

log "the official OpenAI Python SDK against the server"
python3 -c 'import openai' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check openai
# Every SDK check runs even when one before it fails: scripts/test.sh tallies each line.
status=0
python3 tests/sdk/openai_sdk.py "http://127.0.0.1:$port" admin "$password" || status=$?

log "the official Anthropic Python SDK against the server (Anthropic, OpenAI and Gemini routes)"
# The checks use messages.count_tokens outside the beta namespace (GA since late 2024;
# anthropic >= 0.50 is sure to have it): an older install is upgraded.
python3 -c 'import anthropic, sys; sys.exit(tuple(map(int, anthropic.__version__.split(".")[:2])) < (0, 50))' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check --upgrade anthropic
python3 tests/sdk/anthropic_sdk.py "http://127.0.0.1:$port" admin "$password" \
  "http://127.0.0.1:$upstream_port" env:FAKE_UPSTREAM_KEY || status=$?

log "the official Anthropic TypeScript SDK against the server (Anthropic, OpenAI and Gemini routes)"
(cd tests/sdk && npm ci --no-audit --no-fund --silent)
node tests/sdk/anthropic_sdk.mjs "http://127.0.0.1:$port" admin "$password" \
  "http://127.0.0.1:$upstream_port" env:FAKE_UPSTREAM_KEY || status=$?
log "Claude Code against the server (a real tool use through /v1/messages)"
python3 tests/sdk/claude_code.py "http://127.0.0.1:$port" admin "$password" env:FAKE_UPSTREAM_KEY \
  "$PWD/tests/sdk/node_modules/.bin/claude" "http://127.0.0.1:$upstream_port" || status=$?
log "the README's examples, top to bottom, against the server (scripts/readme_check.py)"
command -v jq >/dev/null || apt_install jq
python3 scripts/readme_check.py --base "http://127.0.0.1:$port" --password "$password" || status=$?
[ "$status" -eq 0 ] || { tail -n 50 "$log_file"; exit 1; }
