-- The event store, as postgres-es expects it, plus three columns postgres-es does
-- not name in its INSERT (so they fill by default):
--   global_position: a global order of all events;
--   tx_id:           the writing transaction, so projectors can tail safely
--                    (identity values are not handed out in commit order);
--   recorded_at:     wall-clock time of the write, for audit and "as of" queries.
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         json                         NOT NULL,
    metadata        json                         NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    tx_id           xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX events_tx_position ON events (tx_id, global_position);
CREATE INDEX events_recorded_at ON events (recorded_at);

-- Required by postgres-es; GaiaRouter keeps admin streams short and never snapshots.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Wake projectors once per writing statement (payload-free, so one per transaction).
CREATE FUNCTION notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gaiarouter_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events();

-- Tell every gateway process which admin aggregate changed, so in-memory key caches
-- follow admin changes made by other processes. Request events are not announced.
CREATE FUNCTION notify_admin_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gaiarouter_admin', NEW.aggregate_type || ':' || NEW.aggregate_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify_admin AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.aggregate_type <> 'Request') EXECUTE FUNCTION notify_admin_event();
