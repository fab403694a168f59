#!/usr/bin/env bash
# Disk used per million requests: the `events` table and the request log, heap,
# TOAST and indexes, on the schema before monthly partitioning (every migration
# but 20261201000100..199) and on the partitioned one; then, on the partitioned
# one, after `gaiarouter events archive` moved the older month to a file.
#   scripts/bench/storage.sh [requests]   (default 200000; half last month, half this month)
# Requests are written through `record_requests` (the group-commit statement) in
# batches of 1,000 with realistic RequestCompleted 3.0 payloads; the request log is
# filled from them with the columns its projector writes. Throwaway PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

ensure_rust
ensure_postgres
requests=${1:-200000}
batches=$(((requests + 999) / 1000))
requests=$((batches * 1000))

log "building gaiarouter (dev profile: sizes do not depend on optimisation)"
cargo build --quiet --bin gaiarouter
bin="${CARGO_TARGET_DIR:-target}/debug/gaiarouter"

start_throwaway_postgres "-c fsync=off -c synchronous_commit=off"
trap stop_throwaway_postgres EXIT

# The schema before partitioning: the migration files applied in order with psql.
apply_main_schema() {
  for file in migrations/*.sql; do
    case "$(basename "$file")" in 202612010001[0-9][0-9]_*) continue ;; esac
    psql "$1" -q -v ON_ERROR_STOP=1 -1 -f "$file" >/dev/null
  done
}

record() { # $1: database URL
  psql "$1" -q -v ON_ERROR_STOP=1 <<SQL
DO \$\$
DECLARE
    b integer;
BEGIN
    FOR b IN 0 .. $batches - 1 LOOP
        PERFORM record_requests('3.0', ids, payloads, metas, orgs, keys, starts, tokens, costs, 1,
                                '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')
          FROM (
            SELECT array_agg(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-'
                             || substr(h, 17, 4) || '-' || substr(h, 21, 12)) AS ids,
                   array_agg(jsonb_build_object('RequestCompleted', p)) AS payloads,
                   array_agg(jsonb_build_object('actor_type', 'api_key', 'actor_id', p ->> 'api_key_id')) AS metas,
                   array_agg((p ->> 'organization_id')::uuid) AS orgs,
                   array_agg((p ->> 'api_key_id')::uuid) AS keys,
                   array_agg(t) AS starts,
                   array_agg((p ->> 'prompt_tokens')::bigint + (p ->> 'completion_tokens')::bigint) AS tokens,
                   array_agg((p ->> 'cost')::bigint) AS costs
              FROM (
                SELECT t, lpad(to_hex(floor(extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
                          || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15) AS h,
                       jsonb_build_object(
                         'organization_id', ('00000000-0000-7000-8000-0000000000' || lpad((i % 10)::text, 2, '0')),
                         'api_key_id', ('00000000-0000-7000-8000-0000000001' || lpad((i % 100)::text, 2, '0')),
                         'model', m.model, 'provider', m.provider, 'deployment', m.provider,
                         'prompt_tokens', 100 + i % 1900, 'completion_tokens', 20 + i % 700, 'cached_tokens', 0,
                         'cost', 20000 + (i % 997) * 1300, 'latency_ms', 300 + (i::bigint * 7919) % 4000,
                         'time_to_first_token_ms', CASE WHEN i % 2 = 0 THEN 80 + i % 400 END,
                         'status', CASE WHEN i % 50 = 0 THEN 'error' ELSE 'success' END,
                         'http_status', CASE WHEN i % 50 = 0 THEN 502 ELSE 200 END,
                         'error_kind', CASE WHEN i % 50 = 0 THEN 'upstream_server_error' END,
                         'streamed', i % 2 = 0, 'ingress', 'chat_completions',
                         'started_at', t, 'finished_at', t + interval '1.2 seconds',
                         'attempts', jsonb_build_array(jsonb_build_object(
                             'model', m.upstream, 'provider', m.provider, 'deployment', m.provider,
                             'error_kind', CASE WHEN i % 50 = 0 THEN 'upstream_server_error' END,
                             'latency_ms', 300 + (i::bigint * 7919) % 4000,
                             'http_status', CASE WHEN i % 50 = 0 THEN 502 ELSE 200 END))) AS p
                  FROM generate_series(b * 1000, b * 1000 + 999) AS i
                  CROSS JOIN LATERAL (SELECT CASE WHEN i % 2 = 0
                      -- half last month, half this month (never in the future)
                      THEN date_trunc('month', now()) - interval '1 month' + (i::bigint * 1009 % 2400000) * interval '1 second'
                      ELSE now() - (i::bigint * 7919 % greatest(1, extract(epoch FROM now() - date_trunc('month', now()))::bigint))
                                   * interval '1 second' END AS t) at
                  CROSS JOIN LATERAL (SELECT (ARRAY['openai/gpt-4o', 'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5',
                                                    'google/gemini-2.5-flash'])[1 + i % 4] AS model,
                                             (ARRAY['openai', 'openai', 'anthropic', 'google'])[1 + i % 4] AS provider,
                                             (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash'])[1 + i % 4] AS upstream) m
              ) g
          ) x;
    END LOOP;
END;
\$\$;
INSERT INTO request_log (id, started_at, finished_at, organization_id, api_key_id, model, provider, prompt_tokens,
                         completion_tokens, cached_tokens, cost_nanos, latency_ms, time_to_first_token_ms, status,
                         http_status, error_kind, streamed, deployment, attempts, ingress)
SELECT aggregate_id::uuid, (p ->> 'started_at')::timestamptz, (p ->> 'finished_at')::timestamptz,
       (p ->> 'organization_id')::uuid, (p ->> 'api_key_id')::uuid, p ->> 'model', p ->> 'provider',
       (p ->> 'prompt_tokens')::bigint, (p ->> 'completion_tokens')::bigint, (p ->> 'cached_tokens')::bigint,
       (p ->> 'cost')::bigint, (p ->> 'latency_ms')::bigint, (p ->> 'time_to_first_token_ms')::bigint, p ->> 'status',
       (p ->> 'http_status')::int, p ->> 'error_kind', (p ->> 'streamed')::bool, p ->> 'deployment',
       (p -> 'attempts')::jsonb, p ->> 'ingress'
  FROM (SELECT aggregate_id, payload -> 'RequestCompleted' AS p FROM events WHERE aggregate_type = 'Request') e;
VACUUM ANALYZE;
SQL
}

# "events|request_log|total" bytes per million requests (heap + TOAST + indexes,
# summed over every partition), and how many requests the tables hold.
sizes() { # $1: database URL
  psql "$1" -At -F'|' <<SQL
WITH parts AS (
    -- every partition of a partitioned table; a plain table is its own only part
    SELECT r.root, coalesce(t.relid, r.root::regclass) AS relid
      FROM (VALUES ('events'), ('request_log')) AS r(root)
      LEFT JOIN LATERAL (SELECT relid FROM pg_partition_tree(r.root::regclass) WHERE isleaf) t ON true
), bytes AS (
    SELECT root, sum(pg_table_size(relid)) AS heap, sum(pg_indexes_size(relid)) AS idx FROM parts GROUP BY root
)
SELECT (SELECT count(*) FROM events WHERE aggregate_type = 'Request'),
       max(heap) FILTER (WHERE root = 'events'), max(idx) FILTER (WHERE root = 'events'),
       max(heap) FILTER (WHERE root = 'request_log'), max(idx) FILTER (WHERE root = 'request_log')
  FROM bytes;
SQL
}

per_million() { # bytes requests
  awk -v b="$1" -v n="$2" 'BEGIN { printf "%8.0f MB", b / n * 1000000 / 1048576 }'
}

row() { # label "count|events heap|events idx|log heap|log idx" requests-for-the-rate
  IFS='|' read -r count eh ei lh li <<<"$2"
  local n=${3:-$count}
  printf '%-34s %9s  %s %s  %s %s  %s\n' "$1" "$count" "$(per_million "$eh" "$n")" "$(per_million "$ei" "$n")" \
    "$(per_million "$lh" "$n")" "$(per_million "$li" "$n")" "$(per_million $((eh + ei + lh + li)) "$n")"
}

psql "$PG_URL" -qc "CREATE DATABASE before_partitioning" -c "CREATE DATABASE partitioned"
main_url="${PG_URL%/*}/before_partitioning"
new_url="${PG_URL%/*}/partitioned"

log "schema before partitioning: recording $requests requests"
apply_main_schema "$main_url"
record "$main_url"
main_sizes=$(sizes "$main_url")

log "partitioned schema: recording $requests requests"
DATABASE_URL="$new_url" "$bin" migrate >/dev/null
psql "$new_url" -qc "SELECT ensure_month_partitions(now() - interval '1 month')" >/dev/null
record "$new_url"
new_sizes=$(sizes "$new_url")
default_rows=$(psql "$new_url" -Atc "SELECT count(*) FROM events_request_default")

log "archiving last month"
# The request log above was filled directly, not by the projectors: mark them
# caught up, as they are on a running server, so the archive may go ahead.
psql "$new_url" -q <<'SQL'
INSERT INTO projection_checkpoints (name, last_tx_id, last_position)
SELECT n, (SELECT max(tx_id) FROM events), (SELECT max(global_position) FROM events)
  FROM UNNEST(ARRAY['usage_rollups', 'usage_hourly', 'monthly_usage', 'request_log', 'budget_alerts', 'webhook_outbox']) AS n
ON CONFLICT (name) DO UPDATE SET last_tx_id = EXCLUDED.last_tx_id, last_position = EXCLUDED.last_position;
SQL
archive_dir="$PG_TMP/archive"
DATABASE_URL="$new_url" GAIAROUTER_DATA_DIR="$PG_TMP" "$bin" events archive --before "$(date -u +%Y-%m)" \
  --dir "$archive_dir" >/dev/null
psql "$new_url" -qc "VACUUM ANALYZE" >/dev/null
after_sizes=$(sizes "$new_url")
archived=$(psql "$new_url" -Atc "SELECT coalesce(sum(events), 0) FROM event_archives")
archive_bytes=$(cat "$archive_dir"/*.jsonl.gz | wc -c)

echo
echo "Disk per million requests ($requests recorded; PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"
printf '%-34s %9s  %-11s %-11s  %-11s %-11s  %s\n' "" requests "events" "events idx" "log" "log idx" "total"
row "before partitioning" "$main_sizes"
row "partitioned" "$new_sizes"
row "partitioned, last month archived" "$after_sizes" "$requests"
echo "  (the last row is per million requests recorded: $archived of them now live in"
echo "   $(per_million "$archive_bytes" "$archived") of gzip files per million archived; the request log keeps"
echo "   its rows until its retention removes them)"
echo "rows in events_request_default: $default_rows (0: every id found its month)"
