#!/usr/bin/env bash
# Analytics at scale: replay speed of the projections and the latency of a 30-day
# stats query, with 100,000 and then 1,000,000 RequestCompleted events in the store.
# Uses a throwaway PostgreSQL (fsync on) and the release build. Prints the figures.
#   scripts/bench/projections.sh [event counts...]   (default: 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

ensure_rust
ensure_postgres
counts=("${@:-100000 1000000}")
read -r -a counts <<<"${counts[*]}"

log "building gaiarouter (release)"
cargo build --release --quiet --bin gaiarouter
bin=target/release/gaiarouter

start_throwaway_postgres ""
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  stop_throwaway_postgres
}
trap cleanup EXIT

results=()
for count in "${counts[@]}"; do
  db="bench_$count"
  psql "$PG_URL" -qc "CREATE DATABASE $db"
  url="${PG_URL%/*}/$db"
  DATABASE_URL="$url" "$bin" migrate >/dev/null

  log "generating $count RequestCompleted events (10 orgs, 100 keys, 6 models, 60 days)"
  psql "$url" -q <<SQL
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'Request', gen_random_uuid()::text, 1, 'RequestCompleted', '1.0',
  json_build_object('RequestCompleted', json_build_object(
    'organization_id', ('00000000-0000-0000-0000-0000000000' || lpad((i % 10)::text, 2, '0'))::uuid,
    'api_key_id', ('00000000-0000-0000-0000-0000000001' || lpad((i % 100)::text, 2, '0'))::uuid,
    'model', (ARRAY['openai/gpt-4o','openai/gpt-4o-mini','anthropic/claude-sonnet-4-5','google/gemini-2.5-flash','echo/bench','openrouter/meta/llama'])[1 + i % 6],
    'provider', (ARRAY['openai','openai','anthropic','google','echo','openrouter'])[1 + i % 6],
    'prompt_tokens', 100 + i % 900, 'completion_tokens', 50 + i % 450, 'cached_tokens', 0,
    'cost', 1000 + (i % 997) * 13, 'latency_ms', 20 + (i::bigint * 7919) % 2000,
    'time_to_first_token_ms', CASE WHEN i % 3 = 0 THEN 5 + i % 300 END,
    'status', CASE WHEN i % 50 = 0 THEN 'error' ELSE 'success' END,
    'http_status', CASE WHEN i % 50 = 0 THEN 502 ELSE 200 END,
    'error_kind', CASE WHEN i % 50 = 0 THEN 'upstream_server_error' END,
    'streamed', i % 2 = 0,
    'started_at', now() - ((i % 60) || ' days')::interval - ((i % 86400) || ' seconds')::interval,
    'finished_at', now() - ((i % 60) || ' days')::interval)),
  '{}'
FROM generate_series(1, $count) AS i;
SQL

  for projection in usage_rollups monthly_usage request_log; do
    start=$(date +%s.%N)
    DATABASE_URL="$url" RUST_LOG=error "$bin" projections rebuild "$projection" >/dev/null
    end=$(date +%s.%N)
    rate=$(python3 -c "print(f'{$count / ($end - $start):,.0f}')")
    seconds=$(python3 -c "print(f'{$end - $start:.2f}')")
    results+=("replay $projection, $count events: ${seconds} s = $rate events/s")
    log "${results[-1]}"
  done

  port=$(free_port)
  DATABASE_URL="$url" GAIAROUTER_LISTEN="127.0.0.1:$port" GAIAROUTER_ADMIN_PASSWORD=bench-password \
    GAIAROUTER_JWT_SECRET=bench-secret-bench-secret-bench-secret GAIAROUTER_DATA_DIR="$(mktemp -d)" \
    RUST_LOG=warn "$bin" serve &
  server=$!
  wait_for "http://127.0.0.1:$port/health" 10
  token=$(curl -fs "http://127.0.0.1:$port/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"bench-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  for group in day model organization key; do
    times=()
    for _ in 1 2 3 4 5 6; do
      times+=("$(curl -fs -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$port/v1/stats?group_by=$group")")
    done
    median=$(python3 -c "import statistics,sys; print(f'{statistics.median([float(t) for t in sys.argv[2:]]) * 1000:.1f}')" x "${times[@]:1}")
    results+=("30-day stats, group_by=$group, $count requests in store: median ${median} ms")
    log "${results[-1]}"
  done
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
done

echo
echo "== GaiaRouter analytics benchmark ($(nproc) cores) =="
printf '%s\n' "${results[@]}"
