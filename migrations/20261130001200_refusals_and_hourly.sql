-- Refused requests (`RequestRefused` events) and an hourly grain for the rollups.
--
-- A refused request was turned away before any provider: it is not one of the
-- `requests` (served, or failed upstream) but is counted beside them, by reason.
-- Identical refusals close together arrive folded in one event, so the log row
-- carries how many it stands for.
ALTER TABLE request_log ADD COLUMN refused_count bigint NOT NULL DEFAULT 1;
ALTER TABLE request_log ADD COLUMN error_message text;
-- The last served request of a key or organization ("last used") and the
-- refusals of the month are read per owner.
CREATE INDEX request_log_refused ON request_log (organization_id, started_at) WHERE status = 'refused';
CREATE INDEX request_log_key_refused ON request_log (api_key_id, started_at) WHERE status = 'refused';

ALTER TABLE usage_daily ADD COLUMN refused bigint NOT NULL DEFAULT 0;

CREATE TABLE usage_daily_refusals
(
    day             date   NOT NULL,
    organization_id uuid   NOT NULL,
    api_key_id      uuid   NOT NULL,
    model           text   NOT NULL,
    provider        text   NOT NULL,
    deployment      text   NOT NULL,
    reason          text   NOT NULL,
    count           bigint NOT NULL,
    PRIMARY KEY (day, organization_id, api_key_id, model, provider, deployment, reason)
);

-- The same rollups by UTC hour, for views of up to two days. A projector of its
-- own (`usage_hourly`), so an upgraded deployment builds it from the whole log.
CREATE TABLE usage_hourly (LIKE usage_daily INCLUDING DEFAULTS);
ALTER TABLE usage_hourly DROP COLUMN day;
ALTER TABLE usage_hourly ADD COLUMN hour timestamptz NOT NULL;
ALTER TABLE usage_hourly ADD PRIMARY KEY (hour, organization_id, api_key_id, model, provider, deployment);
CREATE INDEX usage_hourly_org ON usage_hourly (organization_id, hour);
CREATE INDEX usage_hourly_key ON usage_hourly (api_key_id, hour);

CREATE TABLE usage_hourly_latency
(
    hour            timestamptz NOT NULL,
    organization_id uuid        NOT NULL,
    api_key_id      uuid        NOT NULL,
    model           text        NOT NULL,
    provider        text        NOT NULL,
    deployment      text        NOT NULL,
    bucket          smallint    NOT NULL,
    count           bigint      NOT NULL,
    PRIMARY KEY (hour, organization_id, api_key_id, model, provider, deployment, bucket)
);

CREATE TABLE usage_hourly_errors
(
    hour            timestamptz NOT NULL,
    organization_id uuid        NOT NULL,
    api_key_id      uuid        NOT NULL,
    model           text        NOT NULL,
    provider        text        NOT NULL,
    deployment      text        NOT NULL,
    error_kind      text        NOT NULL,
    count           bigint      NOT NULL,
    PRIMARY KEY (hour, organization_id, api_key_id, model, provider, deployment, error_kind)
);

CREATE TABLE usage_hourly_refusals
(
    hour            timestamptz NOT NULL,
    organization_id uuid        NOT NULL,
    api_key_id      uuid        NOT NULL,
    model           text        NOT NULL,
    provider        text        NOT NULL,
    deployment      text        NOT NULL,
    reason          text        NOT NULL,
    count           bigint      NOT NULL,
    PRIMARY KEY (hour, organization_id, api_key_id, model, provider, deployment, reason)
);
