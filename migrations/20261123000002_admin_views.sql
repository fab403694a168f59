-- Admin read models. Each row is the fold of one aggregate's events up to `version`
-- (its last applied sequence); a row behind its stream is repaired from the events.
CREATE TABLE organization_view
(
    id                 uuid PRIMARY KEY,
    version            bigint      NOT NULL,
    name               text        NOT NULL,
    status             text        NOT NULL,
    monthly_requests   bigint,
    monthly_tokens     bigint,
    monthly_cost_nanos bigint,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

CREATE TABLE api_key_view
(
    id                 uuid PRIMARY KEY,
    version            bigint      NOT NULL,
    organization_id    uuid        NOT NULL,
    name               text        NOT NULL,
    permission         text        NOT NULL,
    monthly_requests   bigint,
    monthly_tokens     bigint,
    monthly_cost_nanos bigint,
    public_id          text        NOT NULL UNIQUE,
    secret_hash        text        NOT NULL,
    expires_at         timestamptz,
    revoked_at         timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

CREATE INDEX api_key_view_organization ON api_key_view (organization_id, id);

CREATE TABLE operator_view
(
    id            uuid PRIMARY KEY,
    version       bigint      NOT NULL,
    username      text        NOT NULL,
    password_hash text        NOT NULL,
    disabled      boolean     NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Set validation for unique names (organizations, operator usernames): a name is
-- claimed before the command that takes it runs, and released when it is freed.
CREATE TABLE name_claims
(
    scope      text        NOT NULL,
    name_key   text        NOT NULL,
    owner_id   uuid        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, name_key)
);
