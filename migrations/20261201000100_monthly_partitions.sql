-- Bounded storage: the `Request` events and the request log partitioned by month,
-- so old months can be archived (detached and dropped) or expired in one cheap
-- step instead of a DELETE over the biggest tables.
--
-- events        LIST (aggregate_type)
--   events_admin      DEFAULT: every admin aggregate type (never archived)
--   events_request    'Request', itself RANGE (aggregate_id) by month
--     events_request_YYYY_MM   one per UTC month of the UUIDv7 ids
--     events_request_default   anything else (an id that is not a UUIDv7, or a
--                              month whose partition is missing): nothing is lost
-- request_log   RANGE (id) by month, the same months, plus request_log_default.
--
-- Why these keys: the primary key (aggregate_type, aggregate_id, sequence) must
-- keep deduplicating (postgres-es's optimistic concurrency, and `record_requests`
-- relies on ON CONFLICT DO NOTHING to make a retried append a no-op), and a
-- unique index of a partitioned table must contain the partition key. Request ids
-- are UUIDv7: their first 48 bits are the Unix time in milliseconds, so their text
-- sorts by time in byte order, and a month is a range of id prefixes. The
-- `aggregate_id` column is COLLATE "C" so the range compares bytes, whatever the
-- database's collation (equality is unchanged; a non-default implicit collation
-- wins over the default one in comparisons with other text).
--
-- Upgrade note: `aggregate_id` changes collation, so statements that processes of
-- the previous version prepared on `events` fail once with "cached plan must not
-- change result type": stop them before starting this version (as the quota
-- leases migration already requires).
--
-- `global_position` stays an identity, but no longer a UNIQUE constraint (it
-- would have to contain the partition key): the identity alone hands out unique
-- values, nothing inserts it explicitly, and readers keep an index on it.

-- The text prefix of the UUIDv7 ids made at `at` ('xxxxxxxx-xxxx'): the first 48
-- bits of the id, in hex, with the id's first hyphen.
CREATE FUNCTION uuidv7_prefix(at timestamptz) RETURNS text IMMUTABLE LANGUAGE sql AS $$
    SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4)
      FROM (SELECT lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') AS h) x;
$$;

-- When a UUIDv7 was made (NULL for an id that is not a UUIDv7).
CREATE FUNCTION uuidv7_time(id text) RETURNS timestamptz IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE WHEN id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
                THEN to_timestamp(('x' || substr(replace(id, '-', ''), 1, 12))::bit(48)::bigint / 1000.0) END;
$$;

-- Makes sure the month holding `at` (UTC) has its partitions of the Request
-- events and of the request log. Rows the DEFAULT partitions hold for that month
-- (written while the partition was missing) are moved into it, in the same
-- transaction. Answers true when it created them. Safe to call concurrently.
CREATE FUNCTION ensure_month_partitions(at timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    -- Month arithmetic on UTC wall-clock time: timestamptz + '1 month' would
    -- follow the session's time zone.
    month_start timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    lo text := uuidv7_prefix(month_start AT TIME ZONE 'UTC');
    hi text := uuidv7_prefix((month_start + interval '1 month') AT TIME ZONE 'UTC');
    suffix text := to_char(month_start, 'YYYY_MM');
    events_part text := 'events_request_' || suffix;
    log_part text := 'request_log_' || suffix;
    created boolean := false;
BEGIN
    -- One maker at a time ("GaiaPart"), so two replicas never race on the DDL.
    PERFORM pg_advisory_xact_lock(5144251145390830196);
    IF to_regclass(events_part) IS NULL THEN
        -- Readers that planned with the DEFAULT partition finish first; later ones
        -- plan with the new one: no read misses the rows being moved (a projector
        -- would pass them for good).
        LOCK TABLE events_request_default IN ACCESS EXCLUSIVE MODE;
        EXECUTE format('CREATE TABLE %I (LIKE events_request INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', events_part);
        EXECUTE format('WITH moved AS (DELETE FROM events_request_default WHERE aggregate_id >= %L AND aggregate_id < %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, events_part);
        EXECUTE format('ALTER TABLE events_request ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       events_part, lo, hi);
        created := true;
    END IF;
    IF to_regclass(log_part) IS NULL THEN
        LOCK TABLE request_log_default IN ACCESS EXCLUSIVE MODE;
        EXECUTE format('CREATE TABLE %I (LIKE request_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', log_part);
        EXECUTE format('WITH moved AS (DELETE FROM request_log_default WHERE id >= %L::uuid AND id < %L::uuid '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                       lo || '-0000-0000-000000000000', hi || '-0000-0000-000000000000', log_part);
        EXECUTE format('ALTER TABLE request_log ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', log_part,
                       lo || '-0000-0000-000000000000', hi || '-0000-0000-000000000000');
        created := true;
    END IF;
    RETURN created;
END;
$$;

-- The months that have a partition of their own, of `parent` (events_request or
-- request_log), oldest first.
CREATE FUNCTION month_partitions(parent regclass) RETURNS TABLE (month date, partition text)
    LANGUAGE sql STABLE AS $$
    SELECT to_date(right(c.relname, 7), 'YYYY_MM'), c.relname::text
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = parent AND c.relname ~ '_[0-9]{4}_[0-9]{2}$'
     ORDER BY 1;
$$;

-- ---------------------------------------------------------------------------
-- The event store, partitioned. The old table's rows are copied with their
-- positions, transaction ids and times, then the old table goes.
ALTER TABLE events RENAME TO events_unpartitioned;
ALTER TABLE events_unpartitioned DROP CONSTRAINT events_pkey;
ALTER TABLE events_unpartitioned DROP CONSTRAINT events_global_position_key;
DROP INDEX events_tx_position;
DROP INDEX events_recorded_at;
CREATE TEMPORARY TABLE events_next_position ON COMMIT DROP AS
SELECT greatest((SELECT last_value FROM events_global_position_seq),
                (SELECT coalesce(max(global_position), 0) FROM events_unpartitioned)) AS next;
ALTER TABLE events_unpartitioned ALTER COLUMN global_position DROP IDENTITY;

CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text COLLATE "C"             NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         json                         NOT NULL,
    metadata        json                         NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    tx_id           xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) PARTITION BY LIST (aggregate_type);
CREATE TABLE events_admin PARTITION OF events DEFAULT;
CREATE TABLE events_request PARTITION OF events FOR VALUES IN ('Request') PARTITION BY RANGE (aggregate_id);
CREATE TABLE events_request_default PARTITION OF events_request DEFAULT;

CREATE INDEX events_tx_position ON events (tx_id, global_position);
CREATE INDEX events_global_position ON events (global_position);
CREATE INDEX events_recorded_at ON events (recorded_at);

-- ---------------------------------------------------------------------------
-- The request log, partitioned the same way.
ALTER TABLE request_log RENAME TO request_log_unpartitioned;
ALTER TABLE request_log_unpartitioned DROP CONSTRAINT request_log_pkey;
DROP INDEX request_log_org, request_log_key, request_log_started, request_log_deployment, request_log_ingress,
    request_log_refused, request_log_key_refused;

CREATE TABLE request_log
(
    id                     uuid        NOT NULL PRIMARY KEY,
    started_at             timestamptz NOT NULL,
    finished_at            timestamptz NOT NULL,
    organization_id        uuid        NOT NULL,
    api_key_id             uuid        NOT NULL,
    model                  text        NOT NULL,
    provider               text        NOT NULL,
    prompt_tokens          bigint      NOT NULL,
    completion_tokens      bigint      NOT NULL,
    cached_tokens          bigint      NOT NULL,
    cost_nanos             bigint      NOT NULL,
    latency_ms             bigint      NOT NULL,
    time_to_first_token_ms bigint,
    status                 text        NOT NULL,
    http_status            integer     NOT NULL,
    error_kind             text,
    streamed               boolean     NOT NULL,
    deployment             text        NOT NULL,
    attempts               jsonb       NOT NULL,
    ingress                text        NOT NULL DEFAULT 'chat_completions',
    cache_write_tokens     bigint      NOT NULL DEFAULT 0,
    cache_write_1h_tokens  bigint      NOT NULL DEFAULT 0,
    reasoning_tokens       bigint      NOT NULL DEFAULT 0,
    refused_count          bigint      NOT NULL DEFAULT 1,
    error_message          text
) PARTITION BY RANGE (id);
CREATE TABLE request_log_default PARTITION OF request_log DEFAULT;
CREATE INDEX request_log_org ON request_log (organization_id, id DESC);
CREATE INDEX request_log_key ON request_log (api_key_id, id DESC);
CREATE INDEX request_log_started ON request_log (started_at);
CREATE INDEX request_log_deployment ON request_log (deployment, id DESC);
CREATE INDEX request_log_ingress ON request_log (ingress, id DESC);
CREATE INDEX request_log_refused ON request_log (organization_id, started_at) WHERE status = 'refused';
CREATE INDEX request_log_key_refused ON request_log (api_key_id, started_at) WHERE status = 'refused';

-- ---------------------------------------------------------------------------
-- A partition for every month the existing requests were made in, and for this
-- month and the next two, before copying (so nothing has to move twice).
SELECT ensure_month_partitions(m)
  FROM (SELECT DISTINCT date_trunc('month', uuidv7_time(aggregate_id), 'UTC') AS m
          FROM events_unpartitioned WHERE aggregate_type = 'Request'
        UNION
        SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + n * interval '1 month') AT TIME ZONE 'UTC'
          FROM generate_series(0, 2) AS n) months
 WHERE m IS NOT NULL;

INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
                    global_position, tx_id, recorded_at)
    OVERRIDING SYSTEM VALUE
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
       global_position, tx_id, recorded_at
  FROM events_unpartitioned ORDER BY global_position;
SELECT setval(pg_get_serial_sequence('events', 'global_position'), next) FROM events_next_position WHERE next > 0;
DROP TABLE events_unpartitioned;

INSERT INTO request_log SELECT id, started_at, finished_at, organization_id, api_key_id, model, provider,
       prompt_tokens, completion_tokens, cached_tokens, cost_nanos, latency_ms, time_to_first_token_ms, status,
       http_status, error_kind, streamed, deployment, attempts, ingress, cache_write_tokens, cache_write_1h_tokens,
       reasoning_tokens, refused_count, error_message
  FROM request_log_unpartitioned;
DROP TABLE request_log_unpartitioned;

-- The triggers again (made after the copy: the copied rows announce nothing).
-- A statement trigger on the partitioned table fires for inserts through it; the
-- row trigger is cloned onto every partition, present and future.
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events();
CREATE TRIGGER events_notify_admin AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.aggregate_type <> 'Request') EXECUTE FUNCTION notify_admin_event();

-- ---------------------------------------------------------------------------
-- Archived months (`gaiarouter events archive`): where their Request events went,
-- so a rebuild replays them before the live events.
CREATE TABLE event_archives
(
    month        date PRIMARY KEY,
    file         text        NOT NULL,
    events       bigint      NOT NULL,
    min_position bigint,
    max_position bigint,
    sha256       text        NOT NULL,
    archived_at  timestamptz NOT NULL DEFAULT now()
);
