//! End-to-end tests through the real server and a real PostgreSQL (one fresh
//! database per test, so they run in parallel). `scripts/test.sh` starts the
//! cluster and sets `TEST_DATABASE_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout, clippy::print_stderr)]

mod admin_audit;
mod admin_concurrency;
mod admin_input;
mod admin_security;
mod api_description;
mod budget_alerts;
mod dashboard_access;
mod demo_seed;
mod durability;
mod edge;
#[allow(dead_code)]
#[path = "../providers/fakes/mod.rs"]
mod fakes;
mod gateway;
mod helpers;
mod hostile_upstreams;
mod limits;
mod login_throttle;
mod messages;
mod messages_hostile;
mod metrics;
mod models_first_day;
mod operations;
mod operators;
mod operators_cli;
mod projection_oracle;
mod projection_quarantine;
mod projections;
mod provider_keys;
mod provider_usage;
mod quotas;
mod recorder_poison;
mod refusals;
mod request_bodies;
mod request_event_versions;
mod routes;
mod routing;
mod sessions;
mod stats;
mod storage;
mod telemetry;
mod tenant_safety;
mod tool_loops;
mod usage_ceilings;
mod webhooks;
