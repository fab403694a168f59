-- Events a checkpointed projector could not apply (a payload that does not decode,
-- a value its tables cannot hold). The projector records them here, skips them and
-- goes on, so one bad event never stops analytics for everyone. A rebuild clears a
-- projection's rows and finds them again. `reason` is bounded by the writer; the
-- payload itself is never copied here.
CREATE TABLE projection_quarantine
(
    projection      text        NOT NULL,
    global_position bigint      NOT NULL,
    tx_id           xid8        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL,
    event_type      text        NOT NULL,
    event_version   text        NOT NULL,
    reason          text        NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, global_position)
);
