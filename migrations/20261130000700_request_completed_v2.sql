-- RequestCompleted 2.0: every event records the deployment that served and every
-- upstream attempt (domain/src/request). Old "1.0" events stay as they are and are
-- upcast on reading (deployment = provider, one attempt built from the request).

-- Rollups gain `deployment` in their grain. Every row so far comes from 1.0 events,
-- whose upcast deployment is their provider, so filling it from `provider` gives
-- exactly what a rebuild would: no rebuild and no gap in the statistics.
ALTER TABLE usage_daily ADD COLUMN deployment text NOT NULL DEFAULT '';
UPDATE usage_daily SET deployment = provider;
ALTER TABLE usage_daily ALTER COLUMN deployment DROP DEFAULT;
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey;
ALTER TABLE usage_daily ADD PRIMARY KEY (day, organization_id, api_key_id, model, provider, deployment);

ALTER TABLE usage_daily_latency ADD COLUMN deployment text NOT NULL DEFAULT '';
UPDATE usage_daily_latency SET deployment = provider;
ALTER TABLE usage_daily_latency ALTER COLUMN deployment DROP DEFAULT;
ALTER TABLE usage_daily_latency DROP CONSTRAINT usage_daily_latency_pkey;
ALTER TABLE usage_daily_latency ADD PRIMARY KEY (day, organization_id, api_key_id, model, provider, deployment, bucket);

ALTER TABLE usage_daily_errors ADD COLUMN deployment text NOT NULL DEFAULT '';
UPDATE usage_daily_errors SET deployment = provider;
ALTER TABLE usage_daily_errors ALTER COLUMN deployment DROP DEFAULT;
ALTER TABLE usage_daily_errors DROP CONSTRAINT usage_daily_errors_pkey;
ALTER TABLE usage_daily_errors ADD PRIMARY KEY (day, organization_id, api_key_id, model, provider, deployment, error_kind);

-- The request log gains the deployment and the attempts. `deployment` is filled as
-- the upcast would; the attempts are the upcaster's to build, so the request log's
-- projector is asked to rebuild (the projecting process does it at start; until it
-- has, old rows show no attempts). A database without checkpoints yet projects from
-- the beginning anyway.
ALTER TABLE request_log ADD COLUMN deployment text NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN attempts jsonb NOT NULL DEFAULT '[]';
UPDATE request_log SET deployment = provider;
ALTER TABLE request_log ALTER COLUMN deployment DROP DEFAULT;
ALTER TABLE request_log ALTER COLUMN attempts DROP DEFAULT;
CREATE INDEX request_log_deployment ON request_log (deployment, id DESC);
UPDATE projection_checkpoints SET rebuild_requested = true, state = 'rebuilding', updated_at = now()
 WHERE name = 'request_log';

-- The body of 20261130000500_record_requests_release_once.sql, unchanged but for the
-- event version it writes.
CREATE OR REPLACE FUNCTION record_requests(
    p_ids text[], p_payloads jsonb[], p_metadata jsonb[], p_orgs uuid[], p_keys uuid[], p_months date[],
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
        SELECT 'Request', id, 1, 'RequestCompleted', '2.0', payload, meta FROM batch
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
