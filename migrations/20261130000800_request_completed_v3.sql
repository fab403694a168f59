-- RequestCompleted 3.0: the ingress a request came by (chat_completions, messages),
-- its cache writes (five-minute and one-hour, priced apart) and its reasoning tokens.
-- Old 1.0 and 2.0 events stay as they are and are upcast on reading: they all came
-- by chat completions, with no cache writes or reasoning counted apart, which is
-- exactly what the defaults below fill in, so no projection has to be rebuilt.

ALTER TABLE usage_daily ADD COLUMN cache_write_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN cache_write_1h_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN reasoning_tokens bigint NOT NULL DEFAULT 0;

ALTER TABLE request_log ADD COLUMN ingress text NOT NULL DEFAULT 'chat_completions';
ALTER TABLE request_log ADD COLUMN cache_write_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE request_log ADD COLUMN cache_write_1h_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE request_log ADD COLUMN reasoning_tokens bigint NOT NULL DEFAULT 0;
-- The default stays: a process still running the previous binary during a rolling
-- upgrade projects rows without an ingress, and all of its requests were chat completions.
CREATE INDEX request_log_ingress ON request_log (ingress, id DESC);

-- The writer now names the version it writes, so the next event version needs no
-- new copy of this function. Same body as 20261130000700 otherwise.
CREATE FUNCTION record_requests(
    p_version text, p_ids text[], p_payloads jsonb[], p_metadata jsonb[], p_orgs uuid[], p_keys uuid[], p_months date[],
    p_tokens bigint[], p_costs bigint[], p_reserved_tokens bigint[], p_reserved_costs bigint[])
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    recorded integer;
BEGIN
    WITH batch AS (
        SELECT * FROM UNNEST(p_ids, p_payloads, p_metadata, p_orgs, p_keys, p_months, p_tokens, p_costs)
            AS b(id, payload, meta, org, key, month, tokens, cost)
    ), appended AS (
        INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
        SELECT 'Request', id, 1, 'RequestCompleted', p_version, payload, meta FROM batch
        ON CONFLICT DO NOTHING
        RETURNING aggregate_id
    ), done AS (
        SELECT b.* FROM batch b JOIN appended a ON a.aggregate_id = b.id
    ), released AS (
        DELETE FROM usage_reservations WHERE request_id IN (SELECT id::uuid FROM done)
        RETURNING request_id, tokens, cost_nanos
    ), settled AS (
        SELECT d.*, r.request_id IS NOT NULL AS held, coalesce(r.tokens, 0) AS reserved_tokens,
               coalesce(r.cost_nanos, 0) AS reserved_cost
          FROM done d LEFT JOIN released r ON r.request_id = d.id::uuid
    ), deltas AS (
        SELECT 'organization' AS scope, 0 AS rank, org AS owner, month, count(*) AS n, sum(tokens) AS t,
               sum(cost) AS c, count(*) FILTER (WHERE held) AS rn, sum(reserved_tokens) AS rt,
               sum(reserved_cost) AS rc
          FROM settled GROUP BY org, month
        UNION ALL
        SELECT 'api_key', 1, key, month, count(*), sum(tokens), sum(cost), count(*) FILTER (WHERE held),
               sum(reserved_tokens), sum(reserved_cost)
          FROM settled GROUP BY key, month
    ), counted AS (
        INSERT INTO usage_counters AS u (scope, owner_id, month, requests, tokens, cost_nanos,
                                         reserved_requests, reserved_tokens, reserved_cost_nanos)
        SELECT scope, owner, month, n, t, c, -rn, -rt, -rc FROM deltas ORDER BY rank, owner, month
        ON CONFLICT (scope, owner_id, month) DO UPDATE SET
            requests = u.requests + EXCLUDED.requests,
            tokens = u.tokens + EXCLUDED.tokens,
            cost_nanos = u.cost_nanos + EXCLUDED.cost_nanos,
            reserved_requests = u.reserved_requests + EXCLUDED.reserved_requests,
            reserved_tokens = u.reserved_tokens + EXCLUDED.reserved_tokens,
            reserved_cost_nanos = u.reserved_cost_nanos + EXCLUDED.reserved_cost_nanos
        RETURNING 1
    )
    SELECT count(*) INTO recorded FROM done;
    RETURN recorded;
END;
$$;

-- The previous binary's ten-argument call keeps working during a rolling upgrade: it
-- writes 2.0 events, which every reader upcasts.
CREATE OR REPLACE FUNCTION record_requests(
    p_ids text[], p_payloads jsonb[], p_metadata jsonb[], p_orgs uuid[], p_keys uuid[], p_months date[],
    p_tokens bigint[], p_costs bigint[], p_reserved_tokens bigint[], p_reserved_costs bigint[])
    RETURNS integer LANGUAGE sql AS $$
    SELECT record_requests('2.0', p_ids, p_payloads, p_metadata, p_orgs, p_keys, p_months, p_tokens, p_costs,
                           p_reserved_tokens, p_reserved_costs);
$$;
