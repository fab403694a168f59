#!/usr/bin/env bash
# Property-based fuzzing of the API against its own description: Schemathesis
# (pinned, from PyPI, in a virtualenv this script creates) reads the running
# server's /openapi.json and sends generated requests to every operation, valid
# and invalid, as an operator (session token) and as an API key. It fails on any
# 5xx, any status, content type or body the document does not declare. Then a
# Python client is generated from the same document (openapi-python-client) and
# checked: every operation is there, with its query parameters as query parameters.
#
# Alone: `scripts/fuzz_api.sh` (starts a throwaway PostgreSQL when TEST_DATABASE_URL
# is unset). In scripts/test.sh it prints `api-fuzz: N passed, M failed` (one per
# operation and identity fuzzed) and `api-client: ...`, which the test summary tallies.
# FUZZ_MAX_EXAMPLES (default 30) bounds the generated requests per operation.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

SCHEMATHESIS_VERSION=4.32.5
OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
HYPOTHESIS_VERSION=6.170.15
max_examples=${FUZZ_MAX_EXAMPLES:-30}

venv="${GAIAROUTER_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gaiarouter}/api-fuzz-venv"
# What is installed, read whole (`grep -q` on a pipe would fail it under pipefail).
installed=$("$venv/bin/pip" freeze 2>/dev/null || true)
if ! grep -qx "schemathesis==$SCHEMATHESIS_VERSION" <<<"$installed" ||
  ! grep -qx "hypothesis==$HYPOTHESIS_VERSION" <<<"$installed" ||
  ! grep -qx "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION" <<<"$installed"; then
  log "installing Schemathesis $SCHEMATHESIS_VERSION and openapi-python-client in $venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "hypothesis==$HYPOTHESIS_VERSION" \
    "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION"
fi

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  ensure_postgres
  start_throwaway_postgres "-c fsync=off -c synchronous_commit=off"
  TEST_DATABASE_URL="$PG_URL"
fi
db="gr_fuzz_$(date +%s)_$$"
psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $db" >/dev/null
port=$(free_port)
base="http://127.0.0.1:$port"
password="fuzz-$(date +%s%N)"
cargo build --quiet --bin gaiarouter
work=$(mktemp -d /tmp/gaiarouter-fuzz-XXXXXX)
DATABASE_URL="${TEST_DATABASE_URL%/*}/$db" \
GAIAROUTER_LISTEN="127.0.0.1:$port" \
GAIAROUTER_ADMIN_PASSWORD="$password" \
GAIAROUTER_JWT_SECRET="fuzz-jwt-secret-fuzz-jwt-secret-fuzz-jwt-secret" \
GAIAROUTER_DATA_DIR="$work/data" \
  "${CARGO_TARGET_DIR:-target}/debug/gaiarouter" serve >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null || true
  stop_throwaway_postgres
  # What a failure needs (the server log's tail, the fuzzers' output) is printed before.
  rm -rf "$work"
}
trap cleanup EXIT
wait_for "$base/health" 30 || { tail -n 50 "$work/server.log"; exit 1; }

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
token=$(curl -fs "$base/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" | json_field access_token)
org=$(curl -fs "$base/v1/organizations" -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name":"Fuzz"}' | json_field id)
key=$(curl -fs "$base/v1/api-keys" -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"organization_id\":\"$org\",\"name\":\"fuzz\",\"permission\":\"admin\"}" | json_field key)
curl -fs "$base/openapi.json" >"$work/openapi.json"

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
common=(--checks "$checks" --max-examples "$max_examples" --phases examples,coverage,fuzzing
  --seed 13 --no-shrink --suppress-health-check all --request-timeout 30 --url "$base")
gateway='^/v1/(chat/completions|models|messages(/count_tokens)?)$'
# Not fuzzed as the operator: logout, a password change and sessions/end end the
# very session the run fuzzes with (every later answer would be a documented but
# useless 401). The gateway routes take API keys: the key run fuzzes them, first,
# before the operator run may rotate or revoke that key. Streamed answers
# (`stream: true`) are SSE, whose body Schemathesis does not read: their status
# and content type are still checked.
session_enders='^/v1/auth/logout$|^/v1/operators/[^/]+/(password|sessions/end)$'

passed=0
failed=0
run_as() {
  local who=$1 status=0 counts
  shift
  log "Schemathesis over /openapi.json as $who"
  # Run from the scratch directory: Schemathesis keeps a cache in its working directory.
  (cd "$work" && "$venv/bin/st" run "$work/openapi.json" "${common[@]}" "$@" --report junit \
    --report-junit-path "$work/$who.xml") 2>&1 | tee "$work/$who.log" || status=$?
  # One test case per operation in the JUnit report; a failing one carries <failure>.
  counts=$("$venv/bin/python" - "$work/$who.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
bad = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
print(len(cases) - bad, bad)
PY
  ) || counts="0 1"
  passed=$((passed + ${counts% *}))
  failed=$((failed + ${counts#* }))
  # A run that failed without a failing case (a crash, a bad option) still fails.
  if [ "$status" -ne 0 ] && [ "${counts#* }" -eq 0 ]; then failed=$((failed + 1)); fi
}
# One worker for the gateway's free-form bodies: Hypothesis's lambda-description cache
# is not thread-safe, and drawing any-JSON values on two threads crashes it ("KeyError"
# in lambda_sources, reported as "Inconsistent results").
run_as api_key --workers 1 -H "Authorization: Bearer $key" -H "x-api-key: $key" --include-path-regex "$gateway"
run_as operator --workers 2 -H "Authorization: Bearer $token" --exclude-path-regex "$gateway|$session_enders"
echo "api-fuzz: $passed passed, $failed failed"

log "a Python client generated from /openapi.json (openapi-python-client)"
client_status=0
"$venv/bin/python" tests/openapi/check_generated_client.py "$venv/bin/openapi-python-client" "$work/openapi.json" "$work/client" \
  || client_status=$?
[ "$failed" -eq 0 ] && [ "$client_status" -eq 0 ] || { tail -n 30 "$work/server.log"; exit 1; }
