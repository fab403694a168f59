//! Wiring: database, migrations, view repair, first operator, router, serving.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::admin::{Actor, AdminService};
use crate::auth::jwt::JwtKeys;
use crate::auth::key_cache::KeyCache;
use crate::auth::password;
use crate::completion::CompletionService;
use crate::config::Config;
use crate::gateway::{ModelRegistry, ProviderSet, ProvidersConfig};
use crate::postgres;
use crate::state::{AppState, Background};
use crate::usage::process_lock::ProcessLock;
use crate::usage::quota::{store::release_orphaned, Quotas};
use crate::usage::recorder::Recorder;
use crate::usage::refusals::Refusals;
use gaiarouter_projections::budget_alerts::BudgetAlerts;
use gaiarouter_projections::monthly_usage::MonthlyUsage;
use gaiarouter_projections::request_log::RequestLog;
use gaiarouter_projections::usage_rollups::{HourlyRollups, UsageRollups};
use gaiarouter_projections::webhook_outbox::WebhookOutbox;
use gaiarouter_projections::Runner;

/// How often the leases of processes that died are given back: they hold quota
/// no one can use until then.
const LEASE_SWEEP: std::time::Duration = std::time::Duration::from_secs(5);

async fn sweep_leases(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    let released = release_orphaned(pool).await?;
    if released > 0 {
        tracing::warn!(released, "gave back the quota leases of gateway processes that stopped");
    }
    Ok(())
}

/// Connects, migrates, repairs views, makes the first operator and starts the
/// background tasks; providers come from the environment.
pub async fn prepare(config: Config, database_url: &str) -> anyhow::Result<AppState> {
    let providers = ProvidersConfig::from_env().map_err(|e| anyhow::anyhow!("provider configuration: {e}"))?;
    prepare_with_providers(config, database_url, providers).await
}

pub async fn prepare_with_providers(
    config: Config,
    database_url: &str,
    providers: ProvidersConfig,
) -> anyhow::Result<AppState> {
    let hash_concurrency = config.password_hash_concurrency.unwrap_or_else(password::HashGate::default_concurrency);
    password::configure(hash_concurrency, config.password_hash_queue);
    let login_throttle = Arc::new(crate::auth::throttle::LoginThrottle::new(throttle_config(&config)));
    crate::routing::credentials::configure(&config.credentials, config.credential_vars.as_deref())
        .map_err(|e| anyhow::anyhow!("config [credentials]: {e}"))?;
    let pool = postgres::connect(database_url, config.db_max_connections).await?;
    postgres::migrate(&pool).await?;
    let keys = Arc::new(KeyCache::default());
    let admin = Arc::new(AdminService::new(pool.clone(), keys.clone()));
    let repaired = admin.repair_views().await.map_err(|e| anyhow::anyhow!("repairing views: {e}"))?;
    if repaired > 0 {
        tracing::warn!(repaired, "admin views were behind their event streams and have been repaired");
    }
    ensure_first_operator(&admin, &config).await?;
    let secret = jwt_secret(&config)?;
    let jwt = Arc::new(JwtKeys::new(secret.as_bytes(), config.jwt_ttl_seconds));

    keys.load_all(&pool).await?;
    let key_listener = keys.follow(pool.clone());
    let routes = Arc::clone(&admin.route_table);
    routes.load_all(&pool).await?;
    let route_listener = routes.follow(pool.clone());
    // Take this process's lock first, then give back what dead processes held
    // (on a restart after a crash: the leases of the crashed run).
    let process_lock = ProcessLock::acquire(&pool).await?;
    sweep_leases(&pool).await?;
    let sweeper_pool = pool.clone();
    let reservation_sweeper = tokio::spawn(async move {
        let mut every = tokio::time::interval(LEASE_SWEEP);
        loop {
            every.tick().await;
            if let Err(error) = sweep_leases(&sweeper_pool).await {
                tracing::warn!(%error, "sweeping the leases of stopped processes failed");
            }
        }
    });
    let quotas = Arc::new(Quotas::new(pool.clone(), process_lock.id));
    let lease_returner = quotas.spawn_returner();

    let mut registry = match &config.models_file {
        Some(path) => ModelRegistry::with_overrides_file(path)?,
        None => ModelRegistry::new(),
    };
    registry = registry.with_custom_providers(providers.custom_names());
    let metrics = crate::observability::Metrics::start(known_models(&registry, &routes));
    let provider_set = ProviderSet::from_config(&providers).map_err(|e| anyhow::anyhow!("providers: {e}"))?;
    tracing::info!(providers = ?provider_set.names(), "providers configured");
    for warning in registry.startup_warnings(&provider_set.names()) {
        tracing::warn!("{warning}");
    }
    let completions = Arc::new(CompletionService {
        pool: pool.clone(),
        registry,
        providers: provider_set,
        recorder: Arc::new(Recorder::start(
            pool.clone(),
            process_lock.id,
            process_lock.stripe_block,
            Arc::clone(&metrics),
        )),
        refusals: Arc::new(Refusals::start(
            pool.clone(),
            std::time::Duration::from_millis(config.refusal_pause_ms),
            Arc::clone(&metrics),
        )),
        quotas,
        health: Arc::default(),
        routes: Arc::clone(&routes),
        deployments: Default::default(),
        plans: Default::default(),
    });
    if let Some(path) = &config.routes_file {
        let created = crate::admin::routes_file::seed(&admin, &completions.registry, path).await?;
        tracing::info!(created, path = %path.display(), "routes file applied");
    }
    // This month's and the next months' partitions exist before the first request.
    crate::storage::ensure_partitions(&pool, chrono::Utc::now()).await?;
    let storage_maintenance = crate::storage::spawn_maintenance(pool.clone(), config.request_log_retention_days);
    let projections =
        Arc::new(projection_runner_with(&pool, RequestLog { retention_days: config.request_log_retention_days }));
    projections.register().await?;
    let projector = Arc::clone(&projections).spawn();
    let webhooks = Arc::new(crate::webhooks::Webhooks::new(pool.clone(), &config)?);
    webhooks.start_sender();
    let (cooldowns, cooldown_writer) = crate::webhooks::cooldown::start(pool.clone(), Arc::clone(&routes));
    completions.health.set_cooldown_listener(cooldowns);
    let bodies = Arc::new(crate::bodies::BodyLog::start(
        pool.clone(),
        config.body_log_max_bytes,
        config.body_log_retention_days,
    ));
    Ok(AppState {
        pool,
        admin,
        jwt,
        config: Arc::new(config),
        keys,
        completions,
        projections,
        login_throttle,
        routes,
        webhooks,
        metrics,
        bodies,
        background: Arc::new(Background {
            process_lock,
            key_listener,
            route_listener,
            projector,
            reservation_sweeper,
            lease_returner,
            cooldown_writer,
            storage_maintenance,
        }),
    })
}

/// Which model ids metrics may label by name: catalogued models and routes (a
/// name a client invents, `provider/anything` included, is labelled `unknown`).
fn known_models(
    registry: &ModelRegistry,
    routes: &Arc<crate::routing::RouteTable>,
) -> crate::observability::labels::KnownModel {
    let registry = registry.clone();
    let routes = Arc::clone(routes);
    Box::new(move |model| registry.catalogues(model) || routes.get(model).is_some())
}

fn throttle_config(config: &Config) -> crate::auth::throttle::ThrottleConfig {
    crate::auth::throttle::ThrottleConfig {
        max_failures_per_username: config.login_max_failures_per_username.max(1),
        max_failures_per_ip: config.login_max_failures_per_ip.max(1),
        base_lock: std::time::Duration::from_secs(1),
        max_lock: std::time::Duration::from_secs(config.login_max_lock_seconds.max(1)),
        max_entries: config.login_max_tracked.max(1),
    }
}

/// Every checkpointed projector GaiaRouter runs.
pub fn projection_runner(pool: &PgPool) -> Runner {
    projection_runner_with(pool, RequestLog::default())
}

/// The projectors, with the request log's retention from the configuration.
pub fn projection_runner_with(pool: &PgPool, request_log: RequestLog) -> Runner {
    Runner::new(
        pool.clone(),
        vec![
            Arc::new(UsageRollups),
            Arc::new(HourlyRollups),
            Arc::new(MonthlyUsage),
            Arc::new(request_log),
            Arc::new(BudgetAlerts),
            Arc::new(WebhookOutbox),
        ],
    )
}

/// On first start only: the configured operator, or `admin` with a random password
/// shown once on the terminal (never a default password, never in a log line).
async fn ensure_first_operator(admin: &AdminService, config: &Config) -> anyhow::Result<()> {
    if admin.operator_count().await? > 0 {
        return Ok(());
    }
    let username = config.admin_username.clone().unwrap_or_else(|| "admin".to_string());
    let (password, generated) = match &config.admin_password {
        Some(secret) => (secret.expose().to_string(), false),
        None => (password::generate_password(), true),
    };
    admin
        .create_operator(&username, password.clone(), &Actor::system("first-start"))
        .await
        .map_err(|e| anyhow::anyhow!("creating the first operator: {e}"))?;
    if generated {
        crate::cli::show_once(&format!(
            "Created operator `{username}` with password: {password}\nIt is shown only this once; change it or set GAIAROUTER_ADMIN_PASSWORD before the first start."
        ));
    }
    Ok(())
}

/// The configured secret, else one generated once and kept (0600) in the data dir.
fn jwt_secret(config: &Config) -> anyhow::Result<String> {
    if let Some(secret) = &config.jwt_secret {
        if secret.expose().len() < 32 {
            anyhow::bail!("GAIAROUTER_JWT_SECRET must be at least 32 characters");
        }
        return Ok(secret.expose().to_string());
    }
    let path = config.data_dir.join("jwt_secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing.trim().len() >= 32 {
            return Ok(existing.trim().to_string());
        }
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

/// Serves until `shutdown` resolves, then finishes in-flight requests; slow
/// clients are cut off by the configured header, body and idle timeouts, and
/// connections past the configured maximum are refused.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = state.config.server_limits();
    let router = crate::http::router(state);
    crate::server::serve(router, listener, limits, shutdown).await;
    Ok(())
}
