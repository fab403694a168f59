-- `recorded_at` is searched only by the audit log, which reads admin events: the
-- index on every `Request` partition cost each recorded request one more index insert
-- on the hot path and was never read (requests are found by id, by `(tx_id,
-- global_position)`, and through the request log). Kept on the admin partition alone.
DROP INDEX events_recorded_at;
CREATE INDEX events_admin_recorded_at ON events_admin (recorded_at);
