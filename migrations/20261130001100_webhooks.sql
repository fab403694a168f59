-- Webhook endpoints (admin view of the WebhookEndpoint aggregate) and the outbox:
-- one delivery per subscribed event x endpoint, written by the `webhook_outbox`
-- projector in the transaction that moves its checkpoint, and every attempt to
-- send it. The signing secret is kept only sealed (AES-256-GCM), never in clear.
CREATE TABLE webhook_endpoint_view
(
    id                uuid PRIMARY KEY,
    version           bigint      NOT NULL,
    -- NULL: a gateway-wide endpoint (created by an operator), receives every event.
    organization_id   uuid,
    url               text        NOT NULL,
    description       text,
    event_types       text[]      NOT NULL,
    enabled           boolean     NOT NULL,
    secret_nonce      text        NOT NULL,
    secret_ciphertext text        NOT NULL,
    deleted           boolean     NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE INDEX webhook_endpoint_view_organization ON webhook_endpoint_view (organization_id) WHERE NOT deleted;

CREATE TABLE webhook_deliveries
(
    id              uuid PRIMARY KEY,
    endpoint_id     uuid        NOT NULL,
    -- The event's global position (NULL for a test ping): one delivery per event
    -- and endpoint, whatever replays or restarts happen.
    event_position  bigint,
    -- The idempotency key sent as `webhook-id`, the same on every attempt.
    message_id      text        NOT NULL,
    event_type      text        NOT NULL,
    organization_id uuid,
    -- The exact body sent on every attempt.
    body            text        NOT NULL,
    -- pending, delivered or failed (gave up after the retry window).
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_status     integer,
    last_error      text,
    UNIQUE (endpoint_id, event_position)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);

CREATE TABLE webhook_attempts
(
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    attempted_at timestamptz NOT NULL,
    -- NULL: no HTTP answer (refused, timed out, TLS failure).
    status_code  integer,
    latency_ms   bigint      NOT NULL,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);
