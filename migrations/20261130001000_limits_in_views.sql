-- Limits now hold budgets per day, week and total, rates and per-model rates:
-- the admin views keep the whole limits value (as the events carry it) beside
-- the monthly columns, which stay for the queries that filter on them.
ALTER TABLE organization_view ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';
ALTER TABLE api_key_view ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';
UPDATE organization_view SET limits = jsonb_build_object(
    'monthly_requests', monthly_requests, 'monthly_tokens', monthly_tokens, 'monthly_cost', monthly_cost_nanos);
UPDATE api_key_view SET limits = jsonb_build_object(
    'monthly_requests', monthly_requests, 'monthly_tokens', monthly_tokens, 'monthly_cost', monthly_cost_nanos);
