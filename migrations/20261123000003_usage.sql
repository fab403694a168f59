-- Monthly usage per organization and per API key (UTC calendar month). `requests`,
-- `tokens` and `cost_nanos` are updated in the same transaction that appends the
-- RequestCompleted events, so limits can never disagree with the log. `reserved_*`
-- hold what requests in flight were admitted with.
CREATE TABLE usage_counters
(
    scope               text   NOT NULL CHECK (scope IN ('organization', 'api_key')),
    owner_id            uuid   NOT NULL,
    month               date   NOT NULL,
    requests            bigint NOT NULL DEFAULT 0,
    tokens              bigint NOT NULL DEFAULT 0,
    cost_nanos          bigint NOT NULL DEFAULT 0,
    reserved_requests   bigint NOT NULL DEFAULT 0,
    reserved_tokens     bigint NOT NULL DEFAULT 0,
    reserved_cost_nanos bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, owner_id, month)
);

-- One row per admitted request in flight, so a crashed process's reservations can be
-- released (they expire) instead of blocking the quota forever.
CREATE TABLE usage_reservations
(
    request_id      uuid PRIMARY KEY,
    organization_id uuid        NOT NULL,
    api_key_id      uuid        NOT NULL,
    month           date        NOT NULL,
    tokens          bigint      NOT NULL,
    cost_nanos      bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Admission in one round trip: locks the organization's row, then the key's (always
-- in that order, as the recorder does, so they never deadlock), checks every limit
-- against used + reserved, and reserves. Answers NULL when admitted, else the name
-- of the first limit that is reached. NULL limits are unlimited.
CREATE FUNCTION admit_request(
    p_request uuid, p_month date, p_org uuid, p_key uuid,
    p_org_requests bigint, p_org_tokens bigint, p_org_cost bigint,
    p_key_requests bigint, p_key_tokens bigint, p_key_cost bigint,
    p_tokens bigint, p_cost bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    o usage_counters;
    k usage_counters;
BEGIN
    INSERT INTO usage_counters (scope, owner_id, month)
    VALUES ('organization', p_org, p_month), ('api_key', p_key, p_month)
    ON CONFLICT DO NOTHING;
    SELECT * INTO o FROM usage_counters WHERE scope = 'organization' AND owner_id = p_org AND month = p_month FOR UPDATE;
    SELECT * INTO k FROM usage_counters WHERE scope = 'api_key' AND owner_id = p_key AND month = p_month FOR UPDATE;
    IF p_org_requests IS NOT NULL AND o.requests + o.reserved_requests + 1 > p_org_requests THEN
        RETURN 'organization_monthly_requests';
    END IF;
    IF p_org_tokens IS NOT NULL AND o.tokens + o.reserved_tokens >= p_org_tokens THEN
        RETURN 'organization_monthly_tokens';
    END IF;
    IF p_org_cost IS NOT NULL AND o.cost_nanos + o.reserved_cost_nanos >= p_org_cost THEN
        RETURN 'organization_monthly_cost';
    END IF;
    IF p_key_requests IS NOT NULL AND k.requests + k.reserved_requests + 1 > p_key_requests THEN
        RETURN 'api_key_monthly_requests';
    END IF;
    IF p_key_tokens IS NOT NULL AND k.tokens + k.reserved_tokens >= p_key_tokens THEN
        RETURN 'api_key_monthly_tokens';
    END IF;
    IF p_key_cost IS NOT NULL AND k.cost_nanos + k.reserved_cost_nanos >= p_key_cost THEN
        RETURN 'api_key_monthly_cost';
    END IF;
    UPDATE usage_counters
       SET reserved_requests = reserved_requests + 1,
           reserved_tokens = reserved_tokens + p_tokens,
           reserved_cost_nanos = reserved_cost_nanos + p_cost
     WHERE month = p_month
       AND ((scope = 'organization' AND owner_id = p_org) OR (scope = 'api_key' AND owner_id = p_key));
    INSERT INTO usage_reservations (request_id, organization_id, api_key_id, month, tokens, cost_nanos)
    VALUES (p_request, p_org, p_key, p_month, p_tokens, p_cost);
    RETURN NULL;
END;
$$;

-- Releases reservations without recording (the request never reached a provider, or
-- its process died: then the reservation is older than any request can take).
CREATE FUNCTION release_reservations(p_requests uuid[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    released integer;
BEGIN
    WITH gone AS (
        DELETE FROM usage_reservations WHERE request_id = ANY (p_requests) RETURNING *
    ), deltas AS (
        SELECT 'organization' AS scope, organization_id AS owner_id, month, count(*) AS n, sum(tokens) AS t, sum(cost_nanos) AS c
          FROM gone GROUP BY organization_id, month
        UNION ALL
        SELECT 'api_key', api_key_id, month, count(*), sum(tokens), sum(cost_nanos) FROM gone GROUP BY api_key_id, month
    )
    UPDATE usage_counters u
       SET reserved_requests = u.reserved_requests - d.n,
           reserved_tokens = u.reserved_tokens - d.t,
           reserved_cost_nanos = u.reserved_cost_nanos - d.c
      FROM deltas d
     WHERE u.scope = d.scope AND u.owner_id = d.owner_id AND u.month = d.month;
    GET DIAGNOSTICS released = ROW_COUNT;
    RETURN released;
END;
$$;
