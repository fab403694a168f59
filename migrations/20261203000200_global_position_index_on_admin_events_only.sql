-- `global_position` alone is searched only by the audit log, which reads admin
-- events (newest first, `ORDER BY global_position DESC`). On the `Request`
-- partitions the index cost each recorded request one more index insert on the hot
-- path and was never read: projectors walk `(tx_id, global_position)`, requests are
-- found by id, an archived month is read whole. Kept on the admin partition alone,
-- as `recorded_at` is (20261202000200).
DROP INDEX events_global_position;
CREATE INDEX events_admin_global_position ON events_admin (global_position);
