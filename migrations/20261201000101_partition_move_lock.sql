-- Moving a month's rows out of a DEFAULT partition into the month's new partition
-- must not race a projector's read: a query planned before the ATTACH commits (it
-- knows only the DEFAULT partition) but run with a snapshot taken after (the rows
-- are gone from it) would see the month's rows nowhere, and its checkpoint would
-- pass them for good. Locking the DEFAULT partition first makes the move wait for
-- the readers that planned with it, and the readers that come after wait for the
-- move and plan with the new partition.
CREATE OR REPLACE FUNCTION ensure_month_partitions(at timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
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
