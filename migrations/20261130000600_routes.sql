-- Routes (model names clients send, mapped to deployments): the admin view of the
-- Route aggregate. The spec is kept whole as JSON (it is only ever read whole: the
-- admin API and the gateways' in-memory route tables); it holds credential NAMES,
-- never credential values.
CREATE TABLE route_view
(
    id         uuid PRIMARY KEY,
    version    bigint      NOT NULL,
    name       text        NOT NULL,
    spec       jsonb       NOT NULL,
    deleted    boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX route_view_live_name ON route_view (name) WHERE NOT deleted;
