-- Usage counters in stripes, so that group-commit batches in flight side by side
-- (`usage::recorder`, IN_FLIGHT) and gateway processes sharing the database do not
-- queue on each other's row locks.
--
-- Every recorded request adds to eight counter rows (its organization's and its
-- key's day, week, month and total windows), whether or not a limit reads them.
-- With one row per window, every batch in flight for the same key updated the
-- same eight rows and held them until its commit was flushed: the batches (and
-- two processes) wrote one after the other, each waiting out the fsync of the one
-- before. A window now has a row per stripe: each batch in flight adds its usage
-- to the stripe it was given (a process takes a block of stripes, one per batch
-- in flight), and what a window used is the sum of its stripes (`quota_usage`).
--
-- Stripe 0 is the quota's own row: reservations live there, admission locks it
-- (`take_leases`), and a recording settles its draws there. Admission reads the
-- sums after taking that lock, so a recording that drew on the quota is either
-- wholly seen (usage and settlement) or waited for.
ALTER TABLE quota_counters ADD COLUMN stripe smallint NOT NULL DEFAULT 0 CHECK (stripe >= 0);
ALTER TABLE quota_counters DROP CONSTRAINT quota_counters_pkey;
ALTER TABLE quota_counters ADD PRIMARY KEY (scope, owner_id, period, start, model, stripe);

-- What each window used and holds reserved: its stripes summed.
CREATE VIEW quota_usage AS
SELECT scope, owner_id, period, start, model,
       sum(requests)::bigint            AS requests,
       sum(tokens)::bigint              AS tokens,
       sum(cost_nanos)::bigint          AS cost_nanos,
       sum(reserved_requests)::bigint   AS reserved_requests,
       sum(reserved_tokens)::bigint     AS reserved_tokens,
       sum(reserved_cost_nanos)::bigint AS reserved_cost_nanos
  FROM quota_counters
 GROUP BY scope, owner_id, period, start, model;

-- `take_leases` as in 20261130000900_quota_leases.sql, but for how it reads a
-- quota: its stripe-0 row locked, then its stripes summed.
CREATE OR REPLACE FUNCTION take_leases(
    p_process integer, p_scopes text[], p_owners uuid[], p_periods text[], p_starts timestamptz[], p_models text[],
    p_limit_requests bigint[], p_limit_tokens bigint[], p_limit_costs bigint[],
    p_want_requests bigint[], p_want_tokens bigint[], p_want_costs bigint[], p_names text[])
    RETURNS TABLE (refused text, granted_requests bigint, granted_tokens bigint, granted_cost bigint,
                   left_requests bigint, left_tokens bigint, left_cost bigint)
    LANGUAGE plpgsql AS $$
DECLARE
    n integer := cardinality(p_scopes);
    c quota_counters;
    counters quota_counters[] := '{}';
    lr bigint;
    lt bigint;
    lc bigint;
    gr bigint;
    gt bigint;
    gc bigint;
BEGIN
    -- Makes and locks this process's lease rows in one step: DO UPDATE locks an
    -- existing row, and waits for (then replaces) one that a recording is deleting
    -- for being empty. (DO NOTHING would lock nothing, and a grant could land on
    -- a row deleted meanwhile.)
    INSERT INTO quota_leases AS l (process, scope, owner_id, period, start, model)
    SELECT p_process, s, o, p, st, m FROM UNNEST(p_scopes, p_owners, p_periods, p_starts, p_models) AS q(s, o, p, st, m)
     ORDER BY s, o, p COLLATE "C", st, m COLLATE "C"
    ON CONFLICT (process, scope, owner_id, period, start, model) DO UPDATE SET renewed_at = now();
    INSERT INTO quota_counters (scope, owner_id, period, start, model)
    SELECT s, o, p, st, m FROM UNNEST(p_scopes, p_owners, p_periods, p_starts, p_models) AS q(s, o, p, st, m)
    ON CONFLICT DO NOTHING;
    FOR i IN 1 .. n LOOP
        -- The quota's own row (stripe 0, where reservations live) is locked; then,
        -- in a statement of its own (so with a snapshot taken after the lock was
        -- granted), all its stripes are summed: a recording that settled a draw of
        -- this quota has committed its usage stripe with it.
        PERFORM 1 FROM quota_counters
         WHERE (scope, owner_id, period, start, model, stripe) = (p_scopes[i], p_owners[i], p_periods[i], p_starts[i], p_models[i], 0)
           FOR UPDATE;
        SELECT u.*, 0::smallint INTO c FROM quota_usage u
         WHERE (scope, owner_id, period, start, model) = (p_scopes[i], p_owners[i], p_periods[i], p_starts[i], p_models[i]);
        counters := counters || c;
        IF p_want_requests[i] > 0 AND p_limit_requests[i] IS NOT NULL
               AND c.requests + c.reserved_requests + 1 > p_limit_requests[i]
           OR p_want_tokens[i] > 0 AND p_limit_tokens[i] IS NOT NULL
               AND c.tokens + c.reserved_tokens >= p_limit_tokens[i]
           OR p_want_costs[i] > 0 AND p_limit_costs[i] IS NOT NULL
               AND c.cost_nanos + c.reserved_cost_nanos >= p_limit_costs[i] THEN
            -- Nothing is granted: the lease rows made above for it go again.
            DELETE FROM quota_leases
             WHERE process = p_process AND requests = 0 AND tokens = 0 AND cost_nanos = 0;
            -- which metric, for the answer
            RETURN QUERY SELECT CASE
                WHEN p_want_requests[i] > 0 AND p_limit_requests[i] IS NOT NULL
                     AND c.requests + c.reserved_requests + 1 > p_limit_requests[i]
                    THEN p_names[i] || ':requests'
                WHEN p_want_tokens[i] > 0 AND p_limit_tokens[i] IS NOT NULL
                     AND c.tokens + c.reserved_tokens >= p_limit_tokens[i]
                    THEN p_names[i] || ':tokens'
                ELSE p_names[i] || ':cost' END,
                0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint;
            RETURN;
        END IF;
    END LOOP;
    FOR i IN 1 .. n LOOP
        c := counters[i];
        lr := p_limit_requests[i] - c.requests - c.reserved_requests;
        lt := p_limit_tokens[i] - c.tokens - c.reserved_tokens;
        lc := p_limit_costs[i] - c.cost_nanos - c.reserved_cost_nanos;
        gr := CASE WHEN p_want_requests[i] <= 0 THEN 0
                   WHEN lr IS NULL THEN p_want_requests[i]
                   ELSE LEAST(p_want_requests[i], GREATEST(1, lr / 8)) END;
        gt := CASE WHEN lt IS NULL OR p_want_tokens[i] <= 0 THEN 0
                   ELSE LEAST(lt, GREATEST(p_want_tokens[i], lt / 8, 1)) END;
        gc := CASE WHEN lc IS NULL OR p_want_costs[i] <= 0 THEN 0
                   ELSE LEAST(lc, GREATEST(p_want_costs[i], lc / 8, 1)) END;
        UPDATE quota_counters
           SET reserved_requests = reserved_requests + gr,
               reserved_tokens = reserved_tokens + gt,
               reserved_cost_nanos = reserved_cost_nanos + gc
         WHERE (scope, owner_id, period, start, model, stripe) = (c.scope, c.owner_id, c.period, c.start, c.model, 0);
        UPDATE quota_leases
           SET requests = requests + gr, tokens = tokens + gt, cost_nanos = cost_nanos + gc, renewed_at = now()
         WHERE (process, scope, owner_id, period, start, model) = (p_process, c.scope, c.owner_id, c.period, c.start, c.model);
        RETURN QUERY SELECT NULL::text, gr, gt, gc, lr - gr, lt - gt, lc - gc;
    END LOOP;
END;
$$;

-- Reservations are given back to the stripe-0 rows, where they were taken.
CREATE OR REPLACE FUNCTION return_leases(
    p_process integer, p_scopes text[], p_owners uuid[], p_periods text[], p_starts timestamptz[], p_models text[],
    p_requests bigint[], p_tokens bigint[], p_costs bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    WITH back AS (
        SELECT * FROM UNNEST(p_scopes, p_owners, p_periods, p_starts, p_models, p_requests, p_tokens, p_costs)
            AS b(scope, owner_id, period, start, model, r, t, c)
    ), locked AS (
        SELECT l.* FROM quota_leases l JOIN back b
            ON (l.scope, l.owner_id, l.period, l.start, l.model) = (b.scope, b.owner_id, b.period, b.start, b.model)
         WHERE l.process = p_process
         ORDER BY l.scope, l.owner_id, l.period COLLATE "C", l.start, l.model COLLATE "C"
           FOR UPDATE OF l
    ), given AS (
        UPDATE quota_leases l
           SET requests = l.requests - b.r, tokens = l.tokens - b.t, cost_nanos = l.cost_nanos - b.c
          FROM back b, locked k
         WHERE l.process = p_process
           AND (l.scope, l.owner_id, l.period, l.start, l.model) = (b.scope, b.owner_id, b.period, b.start, b.model)
           AND (k.scope, k.owner_id, k.period, k.start, k.model) = (b.scope, b.owner_id, b.period, b.start, b.model)
        RETURNING b.*
    )
    UPDATE quota_counters q
       SET reserved_requests = q.reserved_requests - g.r,
           reserved_tokens = q.reserved_tokens - g.t,
           reserved_cost_nanos = q.reserved_cost_nanos - g.c
      FROM given g
     WHERE (q.scope, q.owner_id, q.period, q.start, q.model) = (g.scope, g.owner_id, g.period, g.start, g.model)
       AND q.stripe = 0;
    DELETE FROM quota_leases
     WHERE process = p_process AND requests = 0 AND tokens = 0 AND cost_nanos = 0;
END;
$$;

CREATE OR REPLACE FUNCTION release_orphaned_leases() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    released integer;
BEGIN
    WITH dead AS (
        DELETE FROM quota_leases l
         WHERE NOT EXISTS (
             SELECT 1 FROM pg_locks k
              WHERE k.locktype = 'advisory' AND k.granted
                AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND k.classid = 1196900697::oid AND k.objid = l.process::oid AND k.objsubid = 2)
        RETURNING l.*
    ), sums AS (
        SELECT scope, owner_id, period, start, model, sum(requests) AS r, sum(tokens) AS t, sum(cost_nanos) AS c
          FROM dead GROUP BY scope, owner_id, period, start, model
    ), given AS (
        UPDATE quota_counters q
           SET reserved_requests = q.reserved_requests - s.r,
               reserved_tokens = q.reserved_tokens - s.t,
               reserved_cost_nanos = q.reserved_cost_nanos - s.c
          FROM sums s
         WHERE (q.scope, q.owner_id, q.period, q.start, q.model) = (s.scope, s.owner_id, s.period, s.start, s.model)
           AND q.stripe = 0
        RETURNING 1
    )
    SELECT count(*) INTO released FROM dead;
    DELETE FROM quota_leases WHERE period = 'minute' AND start < now() - interval '1 hour';
    DELETE FROM quota_counters WHERE period = 'minute' AND start < now() - interval '1 hour';
    RETURN released;
END;
$$;

-- `record_requests` as in 20261202000100_concurrent_group_commits.sql, but for the
-- stripe (`p_stripe`) its usage goes to, in a statement of its own; the draws, when
-- a batch has any, are settled in stripe 0 by a second one. Payloads come as `json`,
-- as the column holds them, not `jsonb`: each was parsed into jsonb's binary form and
-- printed back as text for nothing (pgbench of a batch of ten: 0.92 ms with jsonb[],
-- 0.77-0.86 ms with json[]; see scripts/bench/README.md), and is stored as the
-- gateway wrote it (compact, its own key order).
CREATE FUNCTION record_requests(
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
    WITH requests AS (
        SELECT p_orgs[r.ord] AS org, p_keys[r.ord] AS key, p_starts[r.ord] AS started,
               p_tokens[r.ord] AS tokens, p_costs[r.ord] AS cost
          FROM UNNEST(done) AS r(ord)
    ), windows AS (
        SELECT w.period, CASE w.period WHEN 'total' THEN 'epoch'::timestamptz
                                       ELSE date_trunc(w.period, r.started, 'UTC') END AS start, r.*
          FROM requests r CROSS JOIN (VALUES ('day'), ('week'), ('month'), ('total')) AS w(period)
    ), usage AS (
        SELECT 'organization' AS scope, org AS owner_id, period, start, tokens, cost FROM windows
        UNION ALL
        SELECT 'api_key', key, period, start, tokens, cost FROM windows
    )
    INSERT INTO quota_counters AS q (scope, owner_id, period, start, model, stripe, requests, tokens, cost_nanos)
    SELECT scope, owner_id, period, start, '', p_stripe, count(*), sum(tokens), sum(cost)
      FROM usage GROUP BY scope, owner_id, period, start
     ORDER BY scope, owner_id, period COLLATE "C", start
    ON CONFLICT (scope, owner_id, period, start, model, stripe) DO UPDATE SET
        requests = q.requests + EXCLUDED.requests,
        tokens = q.tokens + EXCLUDED.tokens,
        cost_nanos = q.cost_nanos + EXCLUDED.cost_nanos;

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

-- The signature without a stripe stays, for a process of the previous version still
-- running during a rolling upgrade: its batches count in stripe 0 (the quota's own
-- row, which every reader sums with the others), as all of them did before.
CREATE OR REPLACE FUNCTION record_requests(
    p_version text, p_ids text[], p_payloads jsonb[], p_metadata jsonb[], p_orgs uuid[], p_keys uuid[],
    p_starts timestamptz[], p_tokens bigint[], p_costs bigint[], p_process integer,
    p_draw_of integer[], p_draw_scopes text[], p_draw_owners uuid[], p_draw_periods text[],
    p_draw_starts timestamptz[], p_draw_models text[], p_draw_requests bigint[], p_draw_tokens bigint[],
    p_draw_costs bigint[])
    RETURNS integer LANGUAGE sql AS $$
    SELECT record_requests(p_version, p_ids, p_payloads::json[], p_metadata::json[], p_orgs, p_keys, p_starts,
                           p_tokens, p_costs, p_process, p_draw_of, p_draw_scopes, p_draw_owners, p_draw_periods,
                           p_draw_starts, p_draw_models, p_draw_requests, p_draw_tokens, p_draw_costs, 0::smallint)
$$;
