-- Group-commit batches written side by side (`usage::recorder`, IN_FLIGHT).
--
-- 1. The group commit stops announcing its own events from inside its transaction.
-- NOTIFY takes a database-wide lock when its transaction commits and holds it until
-- the commit is flushed, so every transaction that notifies commits one after the
-- other: two group-commit batches in flight (or two gateway processes) waited on
-- each other's fsync. A transaction that sets `gaiarouter.quiet` (transaction-local)
-- is not announced by the trigger; the recorder announces its commits itself, after
-- them and at most a few times a second (`usage::recorder::Announcer`).
CREATE OR REPLACE FUNCTION notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('gaiarouter.quiet', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('gaiarouter_events', '');
    END IF;
    RETURN NULL;
END;
$$;

-- 2. `record_requests` as in 20261130000900_quota_leases.sql, but for its last
-- statement: the emptied leases of this process are deleted skipping rows another
-- batch in flight holds.
CREATE OR REPLACE FUNCTION record_requests(
    p_version text, p_ids text[], p_payloads jsonb[], p_metadata jsonb[], p_orgs uuid[], p_keys uuid[],
    p_starts timestamptz[], p_tokens bigint[], p_costs bigint[], p_process integer,
    p_draw_of integer[], p_draw_scopes text[], p_draw_owners uuid[], p_draw_periods text[],
    p_draw_starts timestamptz[], p_draw_models text[], p_draw_requests bigint[], p_draw_tokens bigint[],
    p_draw_costs bigint[])
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    recorded integer;
    done integer[];
BEGIN
    WITH batch AS (
        SELECT * FROM UNNEST(p_ids, p_payloads, p_metadata) WITH ORDINALITY AS b(id, payload, meta, ord)
    ), appended AS (
        INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
        SELECT 'Request', id, 1, 'RequestCompleted', p_version, payload, meta FROM batch
        ON CONFLICT DO NOTHING
        RETURNING aggregate_id
    )
    SELECT coalesce(array_agg(b.ord::integer), '{}') INTO done FROM batch b JOIN appended a ON a.aggregate_id = b.id;
    recorded := cardinality(done);

    WITH draws AS (
        SELECT d.*, p_tokens[d.of] AS used_tokens, p_costs[d.of] AS used_cost
          FROM UNNEST(p_draw_of, p_draw_scopes, p_draw_owners, p_draw_periods, p_draw_starts, p_draw_models,
                      p_draw_requests, p_draw_tokens, p_draw_costs)
               AS d(of, scope, owner_id, period, start, model, r, t, c)
         WHERE d.of = ANY (done)
    ), per_lease AS (
        SELECT scope, owner_id, period, start, model, sum(r) AS r, sum(t) AS t, sum(c) AS c,
               count(*) AS n, sum(used_tokens) AS ut, sum(used_cost) AS uc
          FROM draws GROUP BY scope, owner_id, period, start, model
    ), locked AS (
        SELECT l.scope, l.owner_id, l.period, l.start, l.model FROM quota_leases l JOIN per_lease d
            ON (l.scope, l.owner_id, l.period, l.start, l.model) = (d.scope, d.owner_id, d.period, d.start, d.model)
         WHERE l.process = p_process
         ORDER BY l.scope, l.owner_id, l.period COLLATE "C", l.start, l.model COLLATE "C"
           FOR UPDATE OF l
    ), settled AS (
        UPDATE quota_leases l
           SET requests = l.requests - d.r, tokens = l.tokens - d.t, cost_nanos = l.cost_nanos - d.c
          FROM per_lease d, locked k
         WHERE l.process = p_process
           AND (l.scope, l.owner_id, l.period, l.start, l.model) = (d.scope, d.owner_id, d.period, d.start, d.model)
           AND (k.scope, k.owner_id, k.period, k.start, k.model) = (d.scope, d.owner_id, d.period, d.start, d.model)
        RETURNING d.scope, d.owner_id, d.period, d.start, d.model
    ), requests AS (
        SELECT r.ord, p_orgs[r.ord] AS org, p_keys[r.ord] AS key, p_starts[r.ord] AS started,
               p_tokens[r.ord] AS tokens, p_costs[r.ord] AS cost
          FROM UNNEST(done) AS r(ord)
    ), windows AS (
        SELECT w.period, CASE w.period WHEN 'total' THEN 'epoch'::timestamptz
                                       ELSE date_trunc(w.period, r.started, 'UTC') END AS start, r.*
          FROM requests r CROSS JOIN (VALUES ('day'), ('week'), ('month'), ('total')) AS w(period)
    ), deltas AS (
        -- budget windows: usage
        SELECT 'organization' AS scope, org AS owner_id, period, start, '' AS model, 1::bigint AS n, tokens AS t,
               cost AS c, 0::bigint AS rr, 0::bigint AS rt, 0::bigint AS rc
          FROM windows
        UNION ALL
        SELECT 'api_key', key, period, start, '', 1, tokens, cost, 0, 0, 0 FROM windows
        UNION ALL
        -- draws: the lease's reservation is settled (only if the lease still
        -- existed), and a minute window counts the usage
        SELECT d.scope, d.owner_id, d.period, d.start, d.model,
               CASE WHEN d.period = 'minute' THEN d.n ELSE 0 END,
               CASE WHEN d.period = 'minute' THEN d.ut ELSE 0 END,
               CASE WHEN d.period = 'minute' THEN d.uc ELSE 0 END,
               CASE WHEN s.scope IS NULL THEN 0 ELSE d.r END,
               CASE WHEN s.scope IS NULL THEN 0 ELSE d.t END,
               CASE WHEN s.scope IS NULL THEN 0 ELSE d.c END
          FROM per_lease d
          LEFT JOIN settled s
            ON (s.scope, s.owner_id, s.period, s.start, s.model) = (d.scope, d.owner_id, d.period, d.start, d.model)
    ), summed AS (
        SELECT scope, owner_id, period, start, model, sum(n) AS n, sum(t) AS t, sum(c) AS c,
               sum(rr) AS rr, sum(rt) AS rt, sum(rc) AS rc
          FROM deltas GROUP BY scope, owner_id, period, start, model
    )
    INSERT INTO quota_counters AS q (scope, owner_id, period, start, model, requests, tokens, cost_nanos,
                                     reserved_requests, reserved_tokens, reserved_cost_nanos)
    SELECT scope, owner_id, period, start, model, n, t, c, -rr, -rt, -rc FROM summed
     ORDER BY scope, owner_id, period COLLATE "C", start, model COLLATE "C"
    ON CONFLICT (scope, owner_id, period, start, model) DO UPDATE SET
        requests = q.requests + EXCLUDED.requests,
        tokens = q.tokens + EXCLUDED.tokens,
        cost_nanos = q.cost_nanos + EXCLUDED.cost_nanos,
        reserved_requests = q.reserved_requests + EXCLUDED.reserved_requests,
        reserved_tokens = q.reserved_tokens + EXCLUDED.reserved_tokens,
        reserved_cost_nanos = q.reserved_cost_nanos + EXCLUDED.reserved_cost_nanos;

    -- Emptied leases go; one locked by another batch in flight is left to it (that
    -- batch deletes it if it is still empty), so two batches never wait on each other
    -- here in an order their other locks do not follow.
    DELETE FROM quota_leases
     WHERE ctid IN (SELECT ctid FROM quota_leases
                     WHERE process = p_process AND requests = 0 AND tokens = 0 AND cost_nanos = 0
                       FOR UPDATE SKIP LOCKED);
    RETURN recorded;
END;
$$;
