-- Reservations name the gateway process that admitted them. Each process holds a
-- session-level advisory lock (namespace 1196900697 = "GWAY", key = its owner id)
-- for as long as it lives; a process that dies loses the lock with its
-- connection, so its reservations can be told from live ones and released at
-- once (at the next start or sweep), not only after they expire.
ALTER TABLE usage_reservations ADD COLUMN owner integer;

DROP FUNCTION admit_request(uuid, date, uuid, uuid, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint);

-- As before (see 20261123000003_usage.sql), plus the owner of the reservation.
CREATE FUNCTION admit_request(
    p_request uuid, p_month date, p_org uuid, p_key uuid,
    p_org_requests bigint, p_org_tokens bigint, p_org_cost bigint,
    p_key_requests bigint, p_key_tokens bigint, p_key_cost bigint,
    p_tokens bigint, p_cost bigint, p_owner integer) RETURNS text LANGUAGE plpgsql AS $$
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
    INSERT INTO usage_reservations (request_id, organization_id, api_key_id, month, tokens, cost_nanos, owner)
    VALUES (p_request, p_org, p_key, p_month, p_tokens, p_cost, p_owner);
    RETURN NULL;
END;
$$;

-- Releases the reservations of processes that no longer hold their lock (they
-- died). Answers how many were released.
CREATE FUNCTION release_orphaned_reservations() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    orphaned uuid[];
BEGIN
    SELECT array_agg(r.request_id) INTO orphaned
      FROM usage_reservations r
     WHERE r.owner IS NOT NULL
       AND NOT EXISTS (
           SELECT 1 FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid = 1196900697::oid AND l.objid = r.owner::oid AND l.objsubid = 2);
    IF orphaned IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM release_reservations(orphaned);
    RETURN cardinality(orphaned);
END;
$$;
