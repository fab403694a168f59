//! `gaiarouter demo seed`: a month of realistic traffic for a new installation, so
//! the dashboard is alive at first sight. Organizations and keys are created through
//! the admin use cases (in the audit trail, by `system`/`demo-seed`); requests go
//! through the real recording path (the group-commit writer: events, usage counters)
//! and refusals through the refusal writer, so every projection, rollup and limit
//! sees them exactly as it sees live traffic.

pub mod traffic;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use gaiarouter_domain::limits::{Limits, RateLimits};
use gaiarouter_domain::request::{month_of, RequestCompleted, CHAT_COMPLETIONS};
use gaiarouter_domain::{Money, Permission};
use sqlx::PgPool;
use uuid::Uuid;

use crate::admin::api_keys::NewApiKey;
use crate::admin::organizations::OrganizationChanges;
use crate::admin::{Actor, AdminError, AdminService};
use crate::auth::key_cache::KeyCache;
use crate::gateway::ModelRegistry;
use crate::usage::process_lock::ProcessLock;
use crate::usage::recorder::{PendingRecord, RecordError, Recorder};
use crate::usage::refusals;
use traffic::{Generated, KeyProfile, ModelProfile, TrafficPlan};

/// Requests recorded at once (the group-commit writer batches them).
const IN_FLIGHT: usize = 512;
/// Refusal events appended per statement.
const REFUSALS_PER_INSERT: usize = 1_000;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub days: u32,
    pub requests_per_day: u32,
    pub seed: u64,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub organizations: usize,
    pub api_keys: usize,
    pub requests: u64,
    pub failed: u64,
    pub refusal_events: u64,
    pub refused_requests: u64,
    pub cost: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("creating the demo organizations and keys: {0}")]
    Admin(#[from] AdminError),
    #[error("a demo model is unknown to the registry: {0}")]
    Model(String),
    #[error("recording the demo traffic: {0}")]
    Record(#[from] RecordError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A demo organization: its keys and how full its monthly budget is at the end
/// (so the dashboard shows one comfortable, one close and one nearly spent).
struct Tenant {
    name: &'static str,
    budget_used: f64,
    keys: &'static [DemoKey],
}

struct DemoKey {
    name: &'static str,
    weight: f64,
    models: &'static [(&'static str, f64)],
    streamed: f64,
    ingress: &'static str,
    requests_per_minute: Option<u64>,
}

const MESSAGES: &str = "messages";

const TENANTS: [Tenant; 3] = [
    Tenant {
        name: "Acme Robotics",
        budget_used: 0.55,
        keys: &[
            DemoKey {
                name: "prod-backend",
                weight: 5.0,
                models: &[("openai/gpt-4o-mini", 5.0), ("anthropic/claude-sonnet-4-5", 2.0), ("openai/gpt-4.1", 1.0)],
                streamed: 0.6,
                ingress: CHAT_COMPLETIONS,
                requests_per_minute: None,
            },
            DemoKey {
                name: "claude-code",
                weight: 2.0,
                models: &[("anthropic/claude-sonnet-4-5", 3.0), ("anthropic/claude-haiku-4-5", 1.0)],
                streamed: 0.95,
                ingress: MESSAGES,
                requests_per_minute: None,
            },
        ],
    },
    Tenant {
        name: "Globex Research",
        budget_used: 0.82,
        keys: &[
            DemoKey {
                name: "notebooks",
                weight: 2.0,
                models: &[("google/gemini-2.5-pro", 2.0), ("google/gemini-2.5-flash", 3.0), ("openai/o4-mini", 1.0)],
                streamed: 0.3,
                ingress: CHAT_COMPLETIONS,
                requests_per_minute: None,
            },
            DemoKey {
                name: "batch-summaries",
                weight: 1.5,
                models: &[("openai/gpt-4.1-nano", 2.0), ("google/gemini-2.5-flash-lite", 3.0)],
                streamed: 0.0,
                ingress: CHAT_COMPLETIONS,
                requests_per_minute: Some(60),
            },
        ],
    },
    Tenant {
        name: "Initech Support",
        budget_used: 0.93,
        keys: &[DemoKey {
            name: "support-bot",
            weight: 1.0,
            models: &[("anthropic/claude-haiku-4-5", 3.0), ("openai/gpt-4o-mini", 2.0)],
            streamed: 0.8,
            ingress: CHAT_COMPLETIONS,
            requests_per_minute: Some(30),
        }],
    },
];

/// How each demo model behaves: median prompt and completion tokens, and the
/// median time for a typical completion (ms).
const MODEL_BEHAVIOUR: [(&str, f64, f64, f64); 10] = [
    ("openai/gpt-4o-mini", 1_200.0, 350.0, 1_100.0),
    ("openai/gpt-4.1", 2_500.0, 500.0, 2_600.0),
    ("openai/gpt-4.1-nano", 3_000.0, 250.0, 600.0),
    ("openai/o4-mini", 1_800.0, 1_400.0, 7_000.0),
    ("anthropic/claude-sonnet-4-5", 9_000.0, 700.0, 5_200.0),
    ("anthropic/claude-haiku-4-5", 2_000.0, 400.0, 1_500.0),
    ("google/gemini-2.5-pro", 4_000.0, 900.0, 6_500.0),
    ("google/gemini-2.5-flash", 2_000.0, 500.0, 1_300.0),
    ("google/gemini-2.5-flash-lite", 2_500.0, 200.0, 500.0),
    ("openai/gpt-4o", 1_500.0, 400.0, 2_000.0),
];

/// Creates the demo organizations and keys (reusing those a previous run made)
/// and records `options.days` days of traffic ending at `options.end`.
pub async fn seed(pool: &PgPool, registry: &ModelRegistry, options: &SeedOptions) -> Result<SeedReport, SeedError> {
    let admin = AdminService::new(pool.clone(), Arc::new(KeyCache::default()));
    let actor = Actor::system("demo-seed");
    let models = model_profiles(registry)?;
    let mut report = SeedReport::default();
    let mut keys = Vec::new();
    let mut organizations = Vec::new();
    for tenant in &TENANTS {
        let organization_id = organization(&admin, pool, tenant.name, &actor).await?;
        organizations.push((organization_id, tenant));
        report.organizations += 1;
        for key in tenant.keys {
            let api_key_id = api_key(&admin, pool, organization_id, key, &actor).await?;
            report.api_keys += 1;
            keys.push(KeyProfile {
                organization_id,
                api_key_id,
                weight: key.weight,
                models: key
                    .models
                    .iter()
                    .filter_map(|(id, w)| models.iter().position(|m| m.id == *id).map(|i| (i, *w)))
                    .collect(),
                streamed: key.streamed,
                ingress: key.ingress,
                requests_per_minute: key.requests_per_minute,
            });
        }
    }
    let plan = TrafficPlan {
        models,
        keys,
        end: options.end,
        days: options.days,
        requests_per_day: options.requests_per_day,
        seed: options.seed,
    };
    let traffic = traffic::generate(&plan);
    // The month partitions the traffic lands in (the server makes only the coming ones).
    crate::storage::ensure_partitions_between(pool, traffic::first_midnight(&plan), plan.end).await?;
    let spend = spend_this_month(&traffic, options.end);
    for (organization_id, tenant) in &organizations {
        let spent = spend.get(organization_id).copied().unwrap_or(Money::ZERO);
        set_monthly_budget(&admin, *organization_id, spent, tenant.budget_used, &actor).await?;
    }
    record(pool, traffic, &mut report).await?;
    Ok(report)
}

fn model_profiles(registry: &ModelRegistry) -> Result<Vec<ModelProfile>, SeedError> {
    MODEL_BEHAVIOUR
        .iter()
        .map(|(id, prompt, completion, latency)| {
            let resolved = registry.resolve(id).map_err(|e| SeedError::Model(e.to_string()))?;
            Ok(ModelProfile {
                id: (*id).to_string(),
                provider: resolved.provider,
                price: resolved.price,
                prompt_tokens: *prompt,
                completion_tokens: *completion,
                latency_ms: *latency,
            })
        })
        .collect()
}

async fn organization(admin: &AdminService, pool: &PgPool, name: &str, actor: &Actor) -> Result<Uuid, SeedError> {
    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM organization_view WHERE name = $1 AND status <> 'deleted' LIMIT 1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    match existing {
        Some(id) => Ok(id),
        None => Ok(admin.create_organization(name, Limits::default(), actor).await?),
    }
}

async fn api_key(
    admin: &AdminService,
    pool: &PgPool,
    organization_id: Uuid,
    key: &DemoKey,
    actor: &Actor,
) -> Result<Uuid, SeedError> {
    let existing: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM api_key_view WHERE organization_id = $1 AND name = $2 AND revoked_at IS NULL LIMIT 1",
    )
    .bind(organization_id)
    .bind(key.name)
    .fetch_optional(pool)
    .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let limits = Limits {
        rates: RateLimits { requests_per_minute: key.requests_per_minute, ..RateLimits::default() },
        ..Limits::default()
    };
    let new = NewApiKey {
        organization_id,
        name: key.name.to_string(),
        permission: Permission::Write,
        limits,
        expires_at: None,
    };
    // The secret is not shown: nobody calls with demo keys (rotate one to use it).
    let (id, _secret) = admin.issue_api_key(new, actor).await?;
    Ok(id)
}

/// What each organization's demo requests cost in the month of `end`.
fn spend_this_month(traffic: &[Generated], end: DateTime<Utc>) -> HashMap<Uuid, Money> {
    let month = month_of(end);
    let mut spend: HashMap<Uuid, Money> = HashMap::new();
    for item in traffic {
        if let Generated::Completed(_, event) = item {
            if event.month() == month {
                let total = spend.entry(event.organization_id).or_insert(Money::ZERO);
                *total = total.saturating_add(event.cost);
            }
        }
    }
    spend
}

/// Sets the monthly cost budget that the month's demo spend fills to `used`.
async fn set_monthly_budget(
    admin: &AdminService,
    organization_id: Uuid,
    spent: Money,
    used: f64,
    actor: &Actor,
) -> Result<(), SeedError> {
    let limits = Limits { monthly_cost: Some(monthly_budget(spent, used)), ..Limits::default() };
    let changes = OrganizationChanges { limits: Some(limits), ..OrganizationChanges::default() };
    admin.update_organization(organization_id, changes, actor).await?;
    Ok(())
}

/// The budget `spent` fills to `used` (a fraction): in whole cents from a dollar up
/// (rounding up then moves the fill by under a point), exact below it, so a month that
/// began hours ago still shows its planned fill. Nothing spent yet: one cent.
fn monthly_budget(spent: Money, used: f64) -> Money {
    use gaiarouter_domain::money::NANOS_PER_USD;
    const NANOS_PER_CENT: i64 = NANOS_PER_USD / 100;
    if spent.nanos() <= 0 || used <= 0.0 {
        return Money::from_nanos(NANOS_PER_CENT);
    }
    let exact = (spent.nanos() as f64 / used).ceil() as i64;
    if exact >= NANOS_PER_USD {
        Money::from_nanos((exact + NANOS_PER_CENT - 1) / NANOS_PER_CENT * NANOS_PER_CENT)
    } else {
        Money::from_nanos(exact.max(1))
    }
}

/// Records the traffic: requests through the group-commit writer (many in flight,
/// so it batches them), refusals through the refusal writer's append.
async fn record(pool: &PgPool, traffic: Vec<Generated>, report: &mut SeedReport) -> Result<(), SeedError> {
    let lock = ProcessLock::acquire(pool).await?;
    // Nobody scrapes this process: its metrics are a sink (whose upkeep still frees
    // each histogram sample).
    let metrics = crate::observability::Metrics::start(Box::new(|_| false));
    let recorder = Recorder::start(pool.clone(), lock.id, lock.stripe_block, metrics);
    let mut completed: Vec<(Uuid, RequestCompleted)> = Vec::new();
    let mut refused = Vec::new();
    for item in traffic {
        match item {
            Generated::Completed(id, event) => completed.push((id, event)),
            Generated::Refused(id, event) => refused.push((id, event)),
        }
    }
    for (_, event) in &completed {
        report.requests += 1;
        report.failed += u64::from(event.http_status != 200);
        report.cost = report.cost.saturating_add(event.cost);
    }
    let recorder_ref = &recorder;
    let results: Vec<Result<(), RecordError>> = stream::iter(completed)
        .map(|(request_id, event)| async move {
            recorder_ref.record(PendingRecord { request_id, event, reservation: Default::default() }).await
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    recorder.shutdown().await;
    results.into_iter().collect::<Result<Vec<()>, RecordError>>()?;
    for chunk in refused.chunks(REFUSALS_PER_INSERT) {
        refusals::append(pool, chunk).await?;
        report.refusal_events += chunk.len() as u64;
        report.refused_requests += chunk.iter().map(|(_, e)| e.count).sum::<u64>();
    }
    lock.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(spent: Money, budget: Money) -> f64 {
        spent.nanos() as f64 * 100.0 / budget.nanos() as f64
    }

    #[test]
    fn given_a_spend_of_dollars_when_budgeted_then_whole_cents_fill_it_within_a_point() {
        let spent = Money::from_nanos(12_345_678_901);
        let budget = monthly_budget(spent, 0.93);
        assert_eq!(budget.nanos() % 10_000_000, 0, "whole cents");
        assert!(fill(spent, budget) <= 93.0 && fill(spent, budget) > 92.0, "{}", fill(spent, budget));
    }

    #[test]
    fn given_the_few_cents_of_a_young_month_when_budgeted_then_the_fill_is_as_planned() {
        let spent = Money::from_nanos(3_210_000);
        let budget = monthly_budget(spent, 0.55);
        assert!((fill(spent, budget) - 55.0).abs() < 0.01, "{}", fill(spent, budget));
    }

    #[test]
    fn given_nothing_spent_when_budgeted_then_one_cent() {
        assert_eq!(monthly_budget(Money::ZERO, 0.82), Money::from_nanos(10_000_000));
    }
}
