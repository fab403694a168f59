//! Configuration: defaults, then an optional TOML file (`--config` or
//! `GAIAROUTER_CONFIG`), then environment variables, which win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Unset: an embedded PostgreSQL cluster under `data_dir` is started.
    pub database_url: Option<Secret>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Unset: generated once and kept in `data_dir/jwt_secret`.
    pub jwt_secret: Option<Secret>,
    pub jwt_ttl_seconds: i64,
    /// The first operator, created on first start only.
    pub admin_username: Option<String>,
    pub admin_password: Option<Secret>,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// The built dashboard (`frontend/dist`), served at `/`.
    pub static_dir: Option<PathBuf>,
    pub db_max_connections: u32,
    pub max_body_bytes: usize,
    /// From a request's first byte to the end of its headers (slowloris guard).
    pub header_read_timeout_ms: u64,
    /// From the end of the headers to the end of the body; a late body gets a 408.
    pub body_read_timeout_ms: u64,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout_ms: u64,
    /// Open client connections at most; past it new ones are closed at once
    /// (file descriptors and memory stay bounded whatever clients do).
    pub max_connections: usize,
    /// Password hashes (argon2, ~19 MiB each) run at once; unset: half the cores.
    pub password_hash_concurrency: Option<usize>,
    /// Password checks that may wait for a slot; beyond it logins get a 429.
    pub password_hash_queue: usize,
    /// Failed logins per username before it is locked (1 s, doubling per failure).
    pub login_max_failures_per_username: u32,
    /// Failed logins per client address (across usernames) before it is locked.
    pub login_max_failures_per_ip: u32,
    /// The longest lockout, and how long a quiet key's failures are remembered.
    pub login_max_lock_seconds: u64,
    /// Usernames and addresses tracked for throttling (oldest evicted beyond it).
    pub login_max_tracked: usize,
    /// The pause before answering a refusal of a key that is hammering the
    /// gateway (refused more than 40 times a second); 0 answers every refusal at once.
    pub refusal_pause_ms: u64,
    /// Named provider credentials for route deployments: `name = "value"` or
    /// `name = "env:VAR"`. Deployments name them; values never leave memory.
    pub credentials: std::collections::BTreeMap<String, Secret>,
    /// The environment variables a route's deployment may name as `env:VAR`,
    /// comma-separated; `GAIAROUTER_CREDENTIAL_VARS`. None by default: whoever manages
    /// routes names only what the deployer set aside for it.
    pub credential_vars: Option<String>,
    /// Routes created at start if absent (TOML `[[routes]]` or a JSON list);
    /// `GAIAROUTER_ROUTES_FILE`.
    pub routes_file: Option<PathBuf>,
    /// The server secret that webhook signing secrets are encrypted with (a key is
    /// derived from it); `GAIAROUTER_SECRET_KEY`. Unset: generated once and kept in
    /// `data_dir/secret_key`. Losing it makes stored webhook secrets unreadable.
    pub secret_key: Option<Secret>,
    /// The first webhook retry waits this long; each next one twice as long (with
    /// jitter), up to `webhook_retry_max_ms`, until 24 h after the event.
    pub webhook_retry_base_ms: u64,
    pub webhook_retry_max_ms: u64,
    /// Deliver webhooks only to public addresses (refuse loopback, private,
    /// link-local and metadata addresses): set it where tenants are not trusted.
    pub webhook_block_private_addresses: bool,
    /// On SIGTERM, how long open requests and streams may take to finish before
    /// they are cut (and recorded as cut); then the process commits and exits.
    pub shutdown_grace_seconds: u64,
    /// Extra models and prices (a JSON list); `GAIAROUTER_MODELS_FILE`.
    pub models_file: Option<PathBuf>,
    /// Bearer token `GET /metrics` requires (`GAIAROUTER_METRICS_TOKEN`). Unset:
    /// `/metrics` answers only direct loopback clients (a scraper on this host).
    pub metrics_token: Option<Secret>,
    /// `text` (default, for people) or `json` (one object a line, for log
    /// pipelines); `GAIAROUTER_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// OTLP/HTTP endpoint traces are exported to (`<endpoint>/v1/traces`);
    /// `GAIAROUTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`. Unset: no traces.
    pub otlp_endpoint: Option<String>,
    /// The most of each request and each response body stored when an organization
    /// logs bodies (`GAIAROUTER_BODY_LOG_MAX_BYTES`, 1 byte to 16 MiB); longer ones
    /// are cut and flagged truncated.
    pub body_log_max_bytes: usize,
    /// Stored bodies older than this are deleted (`GAIAROUTER_BODY_LOG_RETENTION_DAYS`, at least 1).
    pub body_log_retention_days: u32,
    /// Request log rows older than this many days are removed (whole month
    /// partitions dropped, the rest deleted) and never projected again by a
    /// rebuild; `GAIAROUTER_REQUEST_LOG_RETENTION_DAYS`. Unset: kept forever.
    /// Events, rollups and monthly counters are not affected.
    pub request_log_retention_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            data_dir: PathBuf::from("./data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            jwt_secret: None,
            jwt_ttl_seconds: 12 * 3600,
            admin_username: None,
            admin_password: None,
            trust_forwarded_for: false,
            static_dir: None,
            db_max_connections: 32,
            max_body_bytes: 8 * 1024 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            max_connections: 10_000,
            password_hash_concurrency: None,
            password_hash_queue: 8,
            login_max_failures_per_username: 5,
            login_max_failures_per_ip: 20,
            login_max_lock_seconds: 15 * 60,
            login_max_tracked: 10_000,
            refusal_pause_ms: 1_000,
            credentials: std::collections::BTreeMap::new(),
            credential_vars: None,
            routes_file: None,
            secret_key: None,
            webhook_retry_base_ms: 10_000,
            webhook_retry_max_ms: 3_600_000,
            webhook_block_private_addresses: false,
            shutdown_grace_seconds: 30,
            models_file: None,
            metrics_token: None,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            body_log_max_bytes: 64 * 1024,
            body_log_retention_days: 30,
            request_log_retention_days: None,
        }
    }
}

impl Config {
    /// Defaults ← file ← environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("GAIAROUTER_CONFIG").map(PathBuf::from));
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        if let Some(v) = set("DATABASE_URL") {
            self.database_url = Some(Secret::new(v));
        }
        if let Some(v) = set("GAIAROUTER_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = set("GAIAROUTER_LISTEN") {
            self.listen = v.parse().map_err(|e| anyhow::anyhow!("GAIAROUTER_LISTEN={v}: {e}"))?;
        }
        if let Some(v) = set("GAIAROUTER_JWT_SECRET") {
            self.jwt_secret = Some(Secret::new(v));
        }
        if let Some(v) = set("GAIAROUTER_JWT_TTL_SECONDS") {
            self.jwt_ttl_seconds = v.parse().map_err(|e| anyhow::anyhow!("GAIAROUTER_JWT_TTL_SECONDS={v}: {e}"))?;
        }
        if let Some(v) = set("GAIAROUTER_ADMIN_USERNAME") {
            self.admin_username = Some(v);
        }
        if let Some(v) = set("GAIAROUTER_ADMIN_PASSWORD") {
            self.admin_password = Some(Secret::new(v));
        }
        if let Some(v) = set("GAIAROUTER_TRUST_FORWARDED_FOR") {
            self.trust_forwarded_for = parse_bool("GAIAROUTER_TRUST_FORWARDED_FOR", &v)?;
        }
        if let Some(v) = set("GAIAROUTER_STATIC_DIR") {
            self.static_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = set("GAIAROUTER_CREDENTIAL_VARS") {
            self.credential_vars = Some(v);
        }
        if let Some(v) = set("GAIAROUTER_ROUTES_FILE") {
            self.routes_file = Some(PathBuf::from(v));
        }
        if let Some(v) = set("GAIAROUTER_WEBHOOK_BLOCK_PRIVATE_ADDRESSES") {
            self.webhook_block_private_addresses = parse_bool("GAIAROUTER_WEBHOOK_BLOCK_PRIVATE_ADDRESSES", &v)?;
        }
        if let Some(v) = set("GAIAROUTER_SECRET_KEY") {
            self.secret_key = Some(Secret::new(v));
        }
        for (name, field) in [
            ("GAIAROUTER_WEBHOOK_RETRY_BASE_MS", &mut self.webhook_retry_base_ms),
            ("GAIAROUTER_WEBHOOK_RETRY_MAX_MS", &mut self.webhook_retry_max_ms),
        ] {
            if let Some(v) = set(name) {
                *field = v.parse().map_err(|e| anyhow::anyhow!("{name}={v}: {e}"))?;
            }
        }
        if let Some(v) = set("GAIAROUTER_DB_MAX_CONNECTIONS") {
            self.db_max_connections =
                v.parse().map_err(|e| anyhow::anyhow!("GAIAROUTER_DB_MAX_CONNECTIONS={v}: {e}"))?;
        }
        for (name, field) in [
            ("GAIAROUTER_HEADER_READ_TIMEOUT_MS", &mut self.header_read_timeout_ms),
            ("GAIAROUTER_BODY_READ_TIMEOUT_MS", &mut self.body_read_timeout_ms),
            ("GAIAROUTER_IDLE_TIMEOUT_MS", &mut self.idle_timeout_ms),
        ] {
            if let Some(v) = set(name) {
                *field = v.parse().map_err(|e| anyhow::anyhow!("{name}={v}: {e}"))?;
            }
        }
        if let Some(v) = set("GAIAROUTER_MAX_CONNECTIONS") {
            self.max_connections = v.parse().map_err(|e| anyhow::anyhow!("GAIAROUTER_MAX_CONNECTIONS={v}: {e}"))?;
        }
        self.apply_login_env(&set)?;
        if let Some(v) = set("GAIAROUTER_SHUTDOWN_GRACE_SECONDS") {
            self.shutdown_grace_seconds =
                v.parse().map_err(|e| anyhow::anyhow!("GAIAROUTER_SHUTDOWN_GRACE_SECONDS={v}: {e}"))?;
        }
        if let Some(v) = set("GAIAROUTER_MODELS_FILE") {
            self.models_file = Some(PathBuf::from(v));
        }
        self.apply_observability_env(&set)?;
        if let Some(v) = set("GAIAROUTER_REQUEST_LOG_RETENTION_DAYS") {
            self.request_log_retention_days =
                Some(v.parse().map_err(|e| anyhow::anyhow!("GAIAROUTER_REQUEST_LOG_RETENTION_DAYS={v}: {e}"))?);
        }
        self.check_server_limits()
    }

    /// A zero timeout would close every connection at once: refused rather than
    /// silently read as "no timeout", which would bring slowloris back.
    fn check_server_limits(&self) -> anyhow::Result<()> {
        // Zero days would empty the request log: surely a mistake, not a policy.
        if self.request_log_retention_days == Some(0) {
            anyhow::bail!("request_log_retention_days must be at least 1 (unset keeps the request log forever)");
        }
        if self.max_connections == 0 {
            anyhow::bail!("max_connections must be at least 1");
        }
        for (name, value) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
        ] {
            if value == 0 {
                anyhow::bail!("{name} must be at least 1 millisecond");
            }
        }
        Ok(())
    }

    fn apply_login_env(&mut self, set: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e| anyhow::anyhow!("{name}={value}: {e}"))
        }
        if let Some(v) = set("GAIAROUTER_PASSWORD_HASH_CONCURRENCY") {
            self.password_hash_concurrency = Some(parse("GAIAROUTER_PASSWORD_HASH_CONCURRENCY", v)?);
        }
        if let Some(v) = set("GAIAROUTER_PASSWORD_HASH_QUEUE") {
            self.password_hash_queue = parse("GAIAROUTER_PASSWORD_HASH_QUEUE", v)?;
        }
        if let Some(v) = set("GAIAROUTER_LOGIN_MAX_FAILURES_PER_USERNAME") {
            self.login_max_failures_per_username = parse("GAIAROUTER_LOGIN_MAX_FAILURES_PER_USERNAME", v)?;
        }
        if let Some(v) = set("GAIAROUTER_LOGIN_MAX_FAILURES_PER_IP") {
            self.login_max_failures_per_ip = parse("GAIAROUTER_LOGIN_MAX_FAILURES_PER_IP", v)?;
        }
        if let Some(v) = set("GAIAROUTER_LOGIN_MAX_LOCK_SECONDS") {
            self.login_max_lock_seconds = parse("GAIAROUTER_LOGIN_MAX_LOCK_SECONDS", v)?;
        }
        if let Some(v) = set("GAIAROUTER_REFUSAL_PAUSE_MS") {
            self.refusal_pause_ms = parse("GAIAROUTER_REFUSAL_PAUSE_MS", v)?;
        }
        if let Some(v) = set("GAIAROUTER_LOGIN_MAX_TRACKED") {
            self.login_max_tracked = parse("GAIAROUTER_LOGIN_MAX_TRACKED", v)?;
        }
        if let Some(v) = set("GAIAROUTER_BODY_LOG_MAX_BYTES") {
            self.body_log_max_bytes = parse("GAIAROUTER_BODY_LOG_MAX_BYTES", v)?;
        }
        if let Some(v) = set("GAIAROUTER_BODY_LOG_RETENTION_DAYS") {
            self.body_log_retention_days = parse("GAIAROUTER_BODY_LOG_RETENTION_DAYS", v)?;
        }
        self.check_body_log()
    }

    /// Body logging settings in range, from the file or the environment.
    fn check_body_log(&self) -> anyhow::Result<()> {
        if !(1..=MAX_BODY_LOG_BYTES).contains(&self.body_log_max_bytes) {
            anyhow::bail!("GAIAROUTER_BODY_LOG_MAX_BYTES must be between 1 and {MAX_BODY_LOG_BYTES}");
        }
        if self.body_log_retention_days == 0 {
            anyhow::bail!("GAIAROUTER_BODY_LOG_RETENTION_DAYS must be at least 1");
        }
        Ok(())
    }

    fn apply_observability_env(&mut self, set: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = set("GAIAROUTER_METRICS_TOKEN") {
            self.metrics_token = Some(Secret::new(v));
        }
        // An empty token would be matched by a request sending none.
        if self.metrics_token.as_ref().is_some_and(|token| token.expose().trim().is_empty()) {
            anyhow::bail!("metrics_token must not be empty (leave it unset to serve /metrics to this host only)");
        }
        if let Some(v) = set("GAIAROUTER_LOG_FORMAT") {
            self.log_format = match v.to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => anyhow::bail!("GAIAROUTER_LOG_FORMAT={v}: expected `text` or `json`"),
            };
        }
        // Ours first; else the OpenTelemetry convention every SDK reads.
        if let Some(v) = set("GAIAROUTER_OTLP_ENDPOINT").or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            self.otlp_endpoint = Some(v);
        }
        Ok(())
    }

    pub fn server_timeouts(&self) -> ServerTimeouts {
        ServerTimeouts {
            header_read: Duration::from_millis(self.header_read_timeout_ms),
            body_read: Duration::from_millis(self.body_read_timeout_ms),
            idle: Duration::from_millis(self.idle_timeout_ms),
        }
    }

    pub fn server_limits(&self) -> ServerLimits {
        ServerLimits {
            timeouts: self.server_timeouts(),
            max_connections: self.max_connections,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
        }
    }
}

/// The most of one body that may be stored: bodies are held in memory until written.
const MAX_BODY_LOG_BYTES: usize = 16 * 1024 * 1024;

/// The connection timeouts, as durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimeouts {
    pub header_read: Duration,
    pub body_read: Duration,
    pub idle: Duration,
}

/// A yes-or-no setting. Every common spelling, in any case, is understood; anything
/// else stops the start with the variable named (an unreadable `TRUE` was once
/// silently false).
fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(anyhow::anyhow!("{name}={value}: expected true or false (also 1/0, yes/no, on/off)")),
    }
}

/// What the server allows each client connection, and how many there may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    pub timeouts: ServerTimeouts,
    pub max_connections: usize,
    /// After a shutdown signal, how long requests in flight may still run.
    pub shutdown_grace: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults_and_secrets_stay_hidden() {
        let mut config = Config::default();
        config
            .apply_env(|name| match name {
                "GAIAROUTER_LISTEN" => Some("0.0.0.0:9000".into()),
                "GAIAROUTER_JWT_SECRET" => Some("super-secret-value".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert!(!format!("{config:?}").contains("super-secret-value"));
    }

    #[test]
    fn yes_or_no_settings_take_every_common_spelling_and_refuse_the_rest() {
        for (value, expected) in
            [("TRUE", true), ("Yes", true), ("on", true), ("1", true), ("False", false), ("0", false)]
        {
            let mut config = Config::default();
            config.apply_env(|n| (n == "GAIAROUTER_TRUST_FORWARDED_FOR").then(|| value.into())).unwrap();
            assert_eq!(config.trust_forwarded_for, expected, "{value}");
        }
        let mut config = Config::default();
        let error = config.apply_env(|n| (n == "GAIAROUTER_WEBHOOK_BLOCK_PRIVATE_ADDRESSES").then(|| "treu".into()));
        assert!(error.is_err_and(|e| e.to_string().contains("GAIAROUTER_WEBHOOK_BLOCK_PRIVATE_ADDRESSES")));
    }

    #[test]
    fn named_credentials_come_from_the_file_and_stay_hidden() {
        let config: Config =
            toml::from_str("[credentials]\nazure-east = \"sk-file-secret\"\nvllm = \"env:VLLM_KEY\"\n").unwrap();
        assert_eq!(config.credentials.get("azure-east").map(Secret::expose), Some("sk-file-secret"));
        assert_eq!(config.credentials.get("vllm").map(Secret::expose), Some("env:VLLM_KEY"));
        assert!(!format!("{config:?}").contains("sk-file-secret"));
    }

    #[test]
    fn timeouts_come_from_the_environment_and_zero_is_refused() {
        let mut config = Config::default();
        config
            .apply_env(|name| match name {
                "GAIAROUTER_HEADER_READ_TIMEOUT_MS" => Some("1500".into()),
                "GAIAROUTER_IDLE_TIMEOUT_MS" => Some("90000".into()),
                _ => None,
            })
            .unwrap();
        let timeouts = config.server_timeouts();
        assert_eq!(timeouts.header_read, Duration::from_millis(1500));
        assert_eq!(timeouts.body_read, Duration::from_secs(30), "the default stays");
        assert_eq!(timeouts.idle, Duration::from_secs(90));

        let mut zero = Config::default();
        assert!(zero.apply_env(|n| (n == "GAIAROUTER_BODY_READ_TIMEOUT_MS").then(|| "0".into())).is_err());
        let mut junk = Config::default();
        assert!(junk.apply_env(|n| (n == "GAIAROUTER_IDLE_TIMEOUT_MS").then(|| "soon".into())).is_err());
        let mut no_connections = Config::default();
        assert!(no_connections.apply_env(|n| (n == "GAIAROUTER_MAX_CONNECTIONS").then(|| "0".into())).is_err());
    }

    #[test]
    fn the_server_secret_and_webhook_retries_come_from_the_environment_and_stay_hidden() {
        let mut config = Config::default();
        config
            .apply_env(|name| match name {
                "GAIAROUTER_SECRET_KEY" => Some("server-secret-server-secret-0123456789".into()),
                "GAIAROUTER_WEBHOOK_RETRY_BASE_MS" => Some("250".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.secret_key.as_ref().map(Secret::expose), Some("server-secret-server-secret-0123456789"));
        assert_eq!((config.webhook_retry_base_ms, config.webhook_retry_max_ms), (250, 3_600_000));
        assert!(!format!("{config:?}").contains("server-secret"));
        let mut junk = Config::default();
        assert!(junk.apply_env(|n| (n == "GAIAROUTER_WEBHOOK_RETRY_BASE_MS").then(|| "fast".into())).is_err());
    }

    /// The settings the README's table documents, as (variable, TOML key): a row
    /// `A` / `_B` names two (`_B` replaces as many trailing words of `A`); a row
    /// `A` or `B` names one setting two variables set.
    fn documented_settings() -> Vec<(String, String)> {
        let readme = include_str!("../README.md");
        let table = readme.split("| variable | default | meaning |").nth(1).expect("the README's settings table");
        let mut settings = Vec::new();
        for row in table.lines().skip(2).take_while(|line| line.starts_with('|')) {
            let first_cell = row.split('|').nth(1).unwrap_or_default();
            if first_cell.contains("--config") {
                continue; // the file itself
            }
            let names: Vec<&str> = first_cell.split('`').skip(1).step_by(2).collect();
            let Some(first) = names.first() else { continue };
            let key_of = |variable: &str| variable.trim_start_matches("GAIAROUTER_").to_lowercase();
            settings.push((first.to_string(), key_of(first)));
            for other in &names[1..] {
                if other.starts_with('_') {
                    // `A` / `_B`: B replaces as many trailing words of A (another setting).
                    let words = other.trim_start_matches('_').split('_').count();
                    let kept: Vec<&str> = first.split('_').collect();
                    let variable = format!("{}{other}", kept[..kept.len().saturating_sub(words)].join("_"));
                    settings.push((variable.clone(), key_of(&variable)));
                } else {
                    // `A` or `B`: another variable for the same setting (its file key is A's).
                    settings.push((other.to_string(), key_of(first)));
                }
            }
        }
        settings
    }

    #[test]
    fn every_setting_in_the_readme_table_is_taken_from_the_toml_file_and_the_environment() {
        let settings = documented_settings();
        assert!(settings.len() > 20, "the table was read: {settings:?}");
        let default = format!("{:?}", Config::default());
        // A value of each shape a setting takes; one of them fits each setting.
        let candidates =
            [("1234", "1234"), ("true", "true"), ("\"127.0.0.1:9999\"", "127.0.0.1:9999"), ("\"json\"", "json")];
        for (variable, key) in settings {
            let from_file = candidates.iter().find_map(|(toml_value, _)| {
                let config: Config = toml::from_str(&format!("{key} = {toml_value}")).ok()?;
                (format!("{config:?}") != default).then_some(())
            });
            assert!(from_file.is_some(), "the README documents {variable}, but the TOML file takes no `{key}`");
            let from_env = candidates.iter().find_map(|(_, env_value)| {
                let mut config = Config::default();
                config.apply_env(|name| (name == variable).then(|| env_value.to_string())).ok()?;
                (format!("{config:?}") != default).then_some(())
            });
            assert!(from_env.is_some(), "the README documents {variable}, but the environment does not set it");
        }
    }

    #[test]
    fn body_logging_bounds_come_from_the_environment_and_out_of_range_is_refused() {
        let mut config = Config::default();
        assert_eq!((config.body_log_max_bytes, config.body_log_retention_days), (65_536, 30));
        config
            .apply_env(|name| match name {
                "GAIAROUTER_BODY_LOG_MAX_BYTES" => Some("1024".into()),
                "GAIAROUTER_BODY_LOG_RETENTION_DAYS" => Some("7".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!((config.body_log_max_bytes, config.body_log_retention_days), (1024, 7));
        for (name, value) in [
            ("GAIAROUTER_BODY_LOG_MAX_BYTES", "0"),
            ("GAIAROUTER_BODY_LOG_MAX_BYTES", "99999999999"),
            ("GAIAROUTER_BODY_LOG_RETENTION_DAYS", "0"),
        ] {
            let mut bad = Config::default();
            assert!(bad.apply_env(|n| (n == name).then(|| value.into())).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn request_log_retention_comes_from_the_file_or_the_environment_and_zero_is_refused() {
        assert_eq!(Config::default().request_log_retention_days, None, "kept forever by default");
        let mut config: Config = toml::from_str("request_log_retention_days = 90\n").unwrap();
        assert_eq!(config.request_log_retention_days, Some(90));
        config.apply_env(|n| (n == "GAIAROUTER_REQUEST_LOG_RETENTION_DAYS").then(|| "30".into())).unwrap();
        assert_eq!(config.request_log_retention_days, Some(30), "the environment overrides the file");
        for bad in ["0", "-1", "a month"] {
            let mut config = Config::default();
            let error = config.apply_env(|n| (n == "GAIAROUTER_REQUEST_LOG_RETENTION_DAYS").then(|| bad.into()));
            assert!(error.is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_listen_address_is_an_error() {
        let mut config = Config::default();
        assert!(config.apply_env(|n| (n == "GAIAROUTER_LISTEN").then(|| "nope".into())).is_err());
    }

    #[test]
    fn observability_settings_come_from_the_file_then_the_environment_and_the_token_stays_hidden() {
        let mut config: Config = toml::from_str(
            "metrics_token = \"scrape-secret\"\nlog_format = \"json\"\notlp_endpoint = \"http://file:4318\"\n",
        )
        .unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(!format!("{config:?}").contains("scrape-secret"));
        config.apply_env(|n| (n == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://otel:4318".into())).unwrap();
        assert_eq!(config.otlp_endpoint.as_deref(), Some("http://otel:4318"));
        config
            .apply_env(|n| match n {
                "GAIAROUTER_OTLP_ENDPOINT" => Some("http://ours:4318".into()),
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://otel:4318".into()),
                "GAIAROUTER_LOG_FORMAT" => Some("TEXT".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.otlp_endpoint.as_deref(), Some("http://ours:4318"), "ours wins");
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.apply_env(|n| (n == "GAIAROUTER_LOG_FORMAT").then(|| "xml".into())).is_err());
        let mut empty: Config = toml::from_str("metrics_token = \" \"\n").unwrap();
        assert!(empty.apply_env(|_| None).is_err(), "an empty metrics token is refused");
    }
}
