-- Optional request and response bodies (issue 13), per organization, off by default.
-- The switch is an organization event; the view keeps it for the key cache.
ALTER TABLE organization_view ADD COLUMN log_bodies boolean NOT NULL DEFAULT false;

-- Bodies live apart from the event store: never in an event (they may hold personal
-- data, they are large, and they must be deletable), written best-effort off the
-- completion path and deleted after their own retention.
CREATE TABLE request_bodies
(
    request_id         uuid PRIMARY KEY,
    organization_id    uuid        NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    request_body       text        NOT NULL,
    request_truncated  boolean     NOT NULL,
    response_body      text        NOT NULL,
    response_truncated boolean     NOT NULL
);

-- Retention deletes the oldest rows first, in batches.
CREATE INDEX request_bodies_recorded_at ON request_bodies (recorded_at);
