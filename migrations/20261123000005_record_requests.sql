-- The group-commit writer's batch in ONE statement (one round trip, autocommit):
-- append the RequestCompleted events (a retried append of a recorded id is skipped),
-- add what the newly recorded requests used to the monthly counters of their
-- organization and key (organizations first, each by id: the lock order admission
-- uses too), and give back their reservations. Per request the caller passes its
-- month, total tokens and cost (the arithmetic the monthly_usage projection uses;
-- the property tests check both agree), and its reservation (NULL: none).
CREATE FUNCTION record_requests(
    p_ids text[], p_payloads jsonb[], p_metadata jsonb[], p_orgs uuid[], p_keys uuid[], p_months date[],
    p_tokens bigint[], p_costs bigint[], p_reserved_tokens bigint[], p_reserved_costs bigint[])
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    recorded integer;
BEGIN
    WITH batch AS (
        SELECT * FROM UNNEST(p_ids, p_payloads, p_metadata, p_orgs, p_keys, p_months, p_tokens, p_costs,
                             p_reserved_tokens, p_reserved_costs)
            AS b(id, payload, meta, org, key, month, tokens, cost, reserved_tokens, reserved_cost)
    ), appended AS (
        INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
        SELECT 'Request', id, 1, 'RequestCompleted', '1.0', payload, meta FROM batch
        ON CONFLICT DO NOTHING
        RETURNING aggregate_id
    ), done AS (
        SELECT b.* FROM batch b JOIN appended a ON a.aggregate_id = b.id
    ), deltas AS (
        SELECT 'organization' AS scope, 0 AS rank, org AS owner, month, count(*) AS n, sum(tokens) AS t,
               sum(cost) AS c, count(reserved_tokens) AS rn, coalesce(sum(reserved_tokens), 0) AS rt,
               coalesce(sum(reserved_cost), 0) AS rc
          FROM done GROUP BY org, month
        UNION ALL
        SELECT 'api_key', 1, key, month, count(*), sum(tokens), sum(cost), count(reserved_tokens),
               coalesce(sum(reserved_tokens), 0), coalesce(sum(reserved_cost), 0)
          FROM done GROUP BY key, month
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
    ), released AS (
        DELETE FROM usage_reservations
         WHERE request_id IN (SELECT id::uuid FROM done WHERE reserved_tokens IS NOT NULL)
        RETURNING 1
    )
    SELECT count(*) INTO recorded FROM done;
    RETURN recorded;
END;
$$;
