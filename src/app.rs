//! Wiring: database, migrations, view repair, first operator, router, serving.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::admin::{Actor, AdminService};
use crate::auth::jwt::JwtKeys;
use crate::auth::password;
use crate::config::Config;
use crate::postgres;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub admin: Arc<AdminService>,
    pub jwt: Arc<JwtKeys>,
    pub config: Arc<Config>,
}

/// Connects to `database_url`, migrates, repairs views and makes the first operator.
pub async fn prepare(config: Config, database_url: &str) -> anyhow::Result<AppState> {
    let pool = postgres::connect(database_url, config.db_max_connections).await?;
    postgres::migrate(&pool).await?;
    let admin = Arc::new(AdminService::new(pool.clone()));
    let repaired = admin.repair_views().await.map_err(|e| anyhow::anyhow!("repairing views: {}", e.message))?;
    if repaired > 0 {
        tracing::warn!(repaired, "admin views were behind their event streams and have been repaired");
    }
    ensure_first_operator(&admin, &config).await?;
    let secret = jwt_secret(&config)?;
    let jwt = Arc::new(JwtKeys::new(secret.as_bytes(), config.jwt_ttl_seconds));
    Ok(AppState { pool, admin, jwt, config: Arc::new(config) })
}

/// On first start only: the configured operator, or `admin` with a random password
/// shown once on the terminal (never a default password, never in a log line).
async fn ensure_first_operator(admin: &AdminService, config: &Config) -> anyhow::Result<()> {
    if admin.operator_count().await.map_err(|e| anyhow::anyhow!(e.message))? > 0 {
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
        .map_err(|e| anyhow::anyhow!("creating the first operator: {}", e.message))?;
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

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = crate::http::router(state);
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
