-- Checkpointed projectors: each tails `events` in (tx_id, global_position) order
-- and advances its checkpoint in the same transaction as its changes.
CREATE TABLE projection_checkpoints
(
    name              text PRIMARY KEY,
    last_tx_id        xid8        NOT NULL DEFAULT '0',
    last_position     bigint      NOT NULL DEFAULT 0,
    events_applied    bigint      NOT NULL DEFAULT 0,
    -- `running` normally; `rebuilding` while a rebuild replays the log.
    state             text        NOT NULL DEFAULT 'running',
    rebuild_requested boolean     NOT NULL DEFAULT false,
    rebuild_started_at timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Daily rollups: one row per UTC day × organization × key × model × provider.
CREATE TABLE usage_daily
(
    day               date   NOT NULL,
    organization_id   uuid   NOT NULL,
    api_key_id        uuid   NOT NULL,
    model             text   NOT NULL,
    provider          text   NOT NULL,
    requests          bigint NOT NULL,
    successes         bigint NOT NULL,
    errors            bigint NOT NULL,
    streamed          bigint NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cached_tokens     bigint NOT NULL,
    cost_nanos        bigint NOT NULL,
    latency_sum_ms    bigint NOT NULL,
    latency_min_ms    bigint NOT NULL,
    latency_max_ms    bigint NOT NULL,
    ttft_sum_ms       bigint NOT NULL,
    ttft_count        bigint NOT NULL,
    PRIMARY KEY (day, organization_id, api_key_id, model, provider)
);
CREATE INDEX usage_daily_org ON usage_daily (organization_id, day);
CREATE INDEX usage_daily_key ON usage_daily (api_key_id, day);

-- Latency histogram of each rollup row: log-spaced buckets, for p50/p95/p99.
CREATE TABLE usage_daily_latency
(
    day             date     NOT NULL,
    organization_id uuid     NOT NULL,
    api_key_id      uuid     NOT NULL,
    model           text     NOT NULL,
    provider        text     NOT NULL,
    bucket          smallint NOT NULL,
    count           bigint   NOT NULL,
    PRIMARY KEY (day, organization_id, api_key_id, model, provider, bucket)
);

-- Errors by kind of each rollup row.
CREATE TABLE usage_daily_errors
(
    day             date   NOT NULL,
    organization_id uuid   NOT NULL,
    api_key_id      uuid   NOT NULL,
    model           text   NOT NULL,
    provider        text   NOT NULL,
    error_kind      text   NOT NULL,
    count           bigint NOT NULL,
    PRIMARY KEY (day, organization_id, api_key_id, model, provider, error_kind)
);

-- The monthly usage counters again, as a rebuildable projection: it must always
-- equal the inline `usage_counters` (minus reservations).
CREATE TABLE usage_monthly
(
    scope      text   NOT NULL,
    owner_id   uuid   NOT NULL,
    month      date   NOT NULL,
    requests   bigint NOT NULL,
    tokens     bigint NOT NULL,
    cost_nanos bigint NOT NULL,
    PRIMARY KEY (scope, owner_id, month)
);

-- The request log: one row per request; ids are UUIDv7, so id order is time order.
CREATE TABLE request_log
(
    id                     uuid PRIMARY KEY,
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
    streamed               boolean     NOT NULL
);
CREATE INDEX request_log_org ON request_log (organization_id, id DESC);
CREATE INDEX request_log_key ON request_log (api_key_id, id DESC);
CREATE INDEX request_log_started ON request_log (started_at);
