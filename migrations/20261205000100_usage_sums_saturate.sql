-- Usage sums saturate instead of overflowing. A provider's usage is its own report:
-- one answer claiming ~2^63 tokens (or a cost at an absurd price) put an
-- organization's counter rows at bigint's maximum, and every later addition to them
-- overflowed (22003): the organization's requests failed as not recorded, in the
-- `total` window for good. The gateway now bounds each answer's figures and cost
-- (`MAX_RECORDED_TOKENS`, `MAX_RECORDED_COST_NANOS`); here the sums stop at a ceiling
-- rather than fail, so no count of answers, and no event recorded before the
-- bounds, can wedge a window; and windows already filled are recounted.

-- a + b, held inside bigint (a plain SQL function: the planner inlines it).
CREATE FUNCTION saturating_add(a bigint, b bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN b >= 0 THEN LEAST(a, 9223372036854775807 - b) + b
                ELSE GREATEST(a, (-9223372036854775807 - 1) - b) + b END
$$;

-- What each window used and holds reserved, its usage at most 2^62 - 1. Admission
-- (`take_leases`) adds a window's usage to its reservations, and a reservation is
-- never more than the limit, which the gateway passes at most 2^62 - 1
-- (`usage::quota::store`): the sum stays inside bigint. A counter row stops at
-- bigint's maximum, so a window's stripes summed could pass it. Reservations live
-- in one row (stripe 0) and are summed as before.
CREATE OR REPLACE VIEW quota_usage AS
SELECT scope, owner_id, period, start, model,
       LEAST(sum(requests), 4611686018427387903)::bigint   AS requests,
       LEAST(sum(tokens), 4611686018427387903)::bigint     AS tokens,
       LEAST(sum(cost_nanos), 4611686018427387903)::bigint AS cost_nanos,
       sum(reserved_requests)::bigint                      AS reserved_requests,
       sum(reserved_tokens)::bigint                        AS reserved_tokens,
       sum(reserved_cost_nanos)::bigint                    AS reserved_cost_nanos
  FROM quota_counters
 GROUP BY scope, owner_id, period, start, model;

-- Windows an absurd report already filled (recorded before the gateway bounded
-- reports) are recounted from their events, each read within today's bounds (2^32
-- tokens a figure, 2^44 nano-USD a request: `RequestCompleted::within_bounds`), as
-- the gateway counts now: left as they are, their organization or key would stay
-- refused by any budget of that window, and `total` never resets. A window's
-- recount goes to its first stripe, its other stripes to zero (reservations stay).
-- Unless such a report was recorded there is no such window, and no event is read.
DO $$
BEGIN
    CREATE TEMPORARY TABLE wedged ON COMMIT DROP AS
    SELECT scope, owner_id, period, start, min(stripe) AS first_stripe FROM quota_counters
     WHERE model = '' AND period IN ('day', 'week', 'month', 'total')
     GROUP BY scope, owner_id, period, start
    HAVING sum(tokens) > 4611686018427387903 OR sum(cost_nanos) > 4611686018427387903;
    IF NOT EXISTS (SELECT 1 FROM wedged) THEN
        RETURN;
    END IF;
    WITH requests AS (
        SELECT (r->>'organization_id')::uuid AS org, (r->>'api_key_id')::uuid AS key,
               (r->>'started_at')::timestamptz AS started,
               LEAST((r->>'prompt_tokens')::numeric, 4294967296)
                 + LEAST((r->>'completion_tokens')::numeric, 4294967296) AS tokens,
               LEAST((r->>'cost')::numeric, 17592186044416) AS cost
          FROM (SELECT payload->'RequestCompleted' AS r FROM events
                 WHERE aggregate_type = 'Request' AND event_type = 'RequestCompleted') e
         WHERE (r->>'organization_id')::uuid IN (SELECT owner_id FROM wedged WHERE scope = 'organization')
            OR (r->>'api_key_id')::uuid IN (SELECT owner_id FROM wedged WHERE scope = 'api_key')
    ), recounted AS (
        SELECT w.scope, w.owner_id, w.period, w.start, w.first_stripe, count(r.started) AS requests,
               LEAST(coalesce(sum(r.tokens), 0), 4611686018427387903) AS tokens,
               LEAST(coalesce(sum(r.cost), 0), 4611686018427387903) AS cost
          FROM wedged w
          LEFT JOIN requests r
            ON CASE w.scope WHEN 'organization' THEN r.org ELSE r.key END = w.owner_id
           AND r.started >= w.start
           AND (w.period = 'total'
                OR r.started < (w.start AT TIME ZONE 'UTC'
                                + CASE w.period WHEN 'day' THEN interval '1 day'
                                                WHEN 'week' THEN interval '7 days'
                                                ELSE interval '1 month' END) AT TIME ZONE 'UTC')
         GROUP BY w.scope, w.owner_id, w.period, w.start, w.first_stripe
    )
    UPDATE quota_counters q
       SET requests = CASE WHEN q.stripe = c.first_stripe THEN c.requests ELSE 0 END,
           tokens = CASE WHEN q.stripe = c.first_stripe THEN c.tokens ELSE 0 END,
           cost_nanos = CASE WHEN q.stripe = c.first_stripe THEN c.cost ELSE 0 END
      FROM recounted c
     WHERE (q.scope, q.owner_id, q.period, q.start, q.model) = (c.scope, c.owner_id, c.period, c.start, '');
END;
$$;

-- `record_requests` as in 20261204000100_usage_counters_summed_per_day.sql, but its
-- sums (a batch's, per window, and onto the counter rows) saturate.
CREATE OR REPLACE FUNCTION record_requests(
    p_version text, p_ids text[], p_payloads json[], p_metadata json[], p_orgs uuid[], p_keys uuid[],
    p_starts timestamptz[], p_tokens bigint[], p_costs bigint[], p_process integer,
    p_draw_of integer[], p_draw_scopes text[], p_draw_owners uuid[], p_draw_periods text[],
    p_draw_starts timestamptz[], p_draw_models text[], p_draw_requests bigint[], p_draw_tokens bigint[],
    p_draw_costs bigint[], p_stripe smallint)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    recorded integer;
    done integer[];
BEGIN
    -- jsonb refused a payload holding NUL (`\u0000`), which no text column of a
    -- projection can hold either; json does not, so the refusal is here: the batch
    -- fails with the error jsonb gave, and the recorder writes its other records
    -- without it. Escaped backslashes are dropped first (`\\u0000` is text, not NUL).
    IF EXISTS (SELECT 1 FROM unnest(p_payloads) AS p(j)
                WHERE strpos(j::text, '\u0000') > 0 AND strpos(replace(j::text, '\\', ''), '\u0000') > 0) THEN
        RAISE EXCEPTION 'unsupported Unicode escape sequence'
            USING ERRCODE = 'untranslatable_character', DETAIL = '\u0000 cannot be converted to text.';
    END IF;
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

    -- Usage, in this batch's stripe: the day, week, month and total windows of each
    -- request's organization and key.
    -- The requests are summed per organization, key and day first: a batch is
    -- mostly one or a few of those, so the windows are worked out (a `date_trunc` in
    -- UTC each) for a handful of rows, not four for every request.
    WITH days AS (
        SELECT p_orgs[r.ord] AS org, p_keys[r.ord] AS key, date_trunc('day', p_starts[r.ord], 'UTC') AS day,
               count(*) AS requests, LEAST(sum(p_tokens[r.ord]), 9223372036854775807)::bigint AS tokens,
               LEAST(sum(p_costs[r.ord]), 9223372036854775807)::bigint AS cost
          FROM UNNEST(done) AS r(ord)
         GROUP BY 1, 2, 3
    ), windows AS (
        SELECT w.period, CASE w.period WHEN 'total' THEN 'epoch'::timestamptz
                                       WHEN 'day' THEN d.day
                                       ELSE date_trunc(w.period, d.day, 'UTC') END AS start, d.*
          FROM days d CROSS JOIN (VALUES ('day'), ('week'), ('month'), ('total')) AS w(period)
    ), usage AS (
        SELECT 'organization' AS scope, org AS owner_id, period, start, requests, tokens, cost FROM windows
        UNION ALL
        SELECT 'api_key', key, period, start, requests, tokens, cost FROM windows
    )
    INSERT INTO quota_counters AS q (scope, owner_id, period, start, model, stripe, requests, tokens, cost_nanos)
    SELECT scope, owner_id, period, start, '', p_stripe, sum(requests),
           LEAST(sum(tokens), 9223372036854775807), LEAST(sum(cost), 9223372036854775807)
      FROM usage GROUP BY scope, owner_id, period, start
     ORDER BY scope, owner_id, period COLLATE "C", start
    ON CONFLICT (scope, owner_id, period, start, model, stripe) DO UPDATE SET
        requests = saturating_add(q.requests, EXCLUDED.requests),
        tokens = saturating_add(q.tokens, EXCLUDED.tokens),
        cost_nanos = saturating_add(q.cost_nanos, EXCLUDED.cost_nanos);

    -- A batch that drew on no lease (none of its requests met a limit that leases:
    -- the common case) is done; it emptied no lease either.
    IF cardinality(p_draw_of) = 0 THEN
        RETURN recorded;
    END IF;

    -- Draws: each lease's reservation is settled (only if the lease still existed),
    -- and a minute window counts the usage; both in the quota's own row (stripe 0),
    -- the one admission locks. Rows are locked leases first, then counters, each in
    -- key order, as every writer of them does.
    WITH draws AS (
        SELECT d.*, p_tokens[d.of] AS used_tokens, p_costs[d.of] AS used_cost
          FROM UNNEST(p_draw_of, p_draw_scopes, p_draw_owners, p_draw_periods, p_draw_starts, p_draw_models,
                      p_draw_requests, p_draw_tokens, p_draw_costs)
               AS d(of, scope, owner_id, period, start, model, r, t, c)
         WHERE d.of = ANY (done)
    ), per_lease AS (
        SELECT scope, owner_id, period, start, model, sum(r) AS r, sum(t) AS t, sum(c) AS c,
               count(*) AS n, LEAST(sum(used_tokens), 9223372036854775807) AS ut,
               LEAST(sum(used_cost), 9223372036854775807) AS uc
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
    ), deltas AS (
        SELECT d.scope, d.owner_id, d.period, d.start, d.model,
               CASE WHEN d.period = 'minute' THEN d.n ELSE 0 END AS n,
               CASE WHEN d.period = 'minute' THEN d.ut ELSE 0 END AS t,
               CASE WHEN d.period = 'minute' THEN d.uc ELSE 0 END AS c,
               CASE WHEN s.scope IS NULL THEN 0 ELSE d.r END AS rr,
               CASE WHEN s.scope IS NULL THEN 0 ELSE d.t END AS rt,
               CASE WHEN s.scope IS NULL THEN 0 ELSE d.c END AS rc
          FROM per_lease d
          LEFT JOIN settled s
            ON (s.scope, s.owner_id, s.period, s.start, s.model) = (d.scope, d.owner_id, d.period, d.start, d.model)
    )
    INSERT INTO quota_counters AS q (scope, owner_id, period, start, model, stripe, requests, tokens, cost_nanos,
                                     reserved_requests, reserved_tokens, reserved_cost_nanos)
    SELECT scope, owner_id, period, start, model, 0, n, t, c, -rr, -rt, -rc FROM deltas
     ORDER BY scope, owner_id, period COLLATE "C", start, model COLLATE "C"
    ON CONFLICT (scope, owner_id, period, start, model, stripe) DO UPDATE SET
        requests = saturating_add(q.requests, EXCLUDED.requests),
        tokens = saturating_add(q.tokens, EXCLUDED.tokens),
        cost_nanos = saturating_add(q.cost_nanos, EXCLUDED.cost_nanos),
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
