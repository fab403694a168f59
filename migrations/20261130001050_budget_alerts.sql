-- Usage per budget window as the budget-alert projector has seen it (it runs
-- behind the inline counters, so it keeps its own): crossing a threshold is
-- decided from the usage before and after each batch of RequestCompleted events,
-- in the same transaction that advances its checkpoint. Rebuildable.
CREATE TABLE budget_alert_usage
(
    scope      text        NOT NULL,
    owner_id   uuid        NOT NULL,
    period     text        NOT NULL,
    start      timestamptz NOT NULL,
    requests   bigint      NOT NULL DEFAULT 0,
    tokens     bigint      NOT NULL DEFAULT 0,
    cost_nanos bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, owner_id, period, start)
);
