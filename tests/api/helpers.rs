//! `spawn_app()` and typed helpers, in the zero-to-production style.

use std::net::SocketAddr;

use gaiarouter::app;
use gaiarouter::config::{Config, Secret};
use gaiarouter::gateway::ProvidersConfig;
use gaiarouter::state::AppState;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;
use uuid::Uuid;

pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const JWT_SECRET: &str = "test-jwt-secret-test-jwt-secret-0123456789";

pub struct TestApp {
    pub address: SocketAddr,
    pub database_url: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub admin_token: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl TestApp {
    /// Waits until every projection is running and has applied every event.
    pub async fn wait_for_projections(&self) {
        for _ in 0..100 {
            let status = self.get("/v1/projections", &self.admin_token).await;
            let caught_up = status.body["data"].as_array().is_some_and(|d| {
                !d.is_empty() && d.iter().all(|p| p["lag_events"] == json!(0) && p["state"] == "running")
            });
            if caught_up {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("projections did not catch up");
    }

    /// Counts rows of a query's single bigint column (e.g. `SELECT count(*) ...`).
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.state.pool).await.unwrap()
    }

    /// Gives back what this process's quota leases hold unused and waits (up to
    /// 10 s) until no process holds a lease: then nothing is in flight and
    /// nothing stays reserved (other processes give back theirs within a second
    /// of their last use). Answers whether that happened.
    pub async fn leases_all_returned(&self) -> bool {
        for _ in 0..100 {
            self.state.completions.quotas.give_back_unused(true).await.unwrap();
            let leases = self.scalar("SELECT count(*) FROM quota_leases").await;
            let reserved = self
                .scalar(
                    "SELECT coalesce(sum(abs(reserved_requests) + abs(reserved_tokens) + abs(reserved_cost_nanos)), 0)::bigint \
                     FROM quota_counters",
                )
                .await;
            if leases == 0 && reserved == 0 {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let held: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT scope, period, reserved_requests, reserved_tokens, reserved_cost_nanos FROM quota_counters \
             WHERE reserved_requests <> 0 OR reserved_tokens <> 0 OR reserved_cost_nanos <> 0",
        )
        .fetch_all(&self.state.pool)
        .await
        .unwrap();
        let leases: Vec<(i32, String, String, i64, i64, i64)> =
            sqlx::query_as("SELECT process, scope, period, requests, tokens, cost_nanos FROM quota_leases")
                .fetch_all(&self.state.pool)
                .await
                .unwrap();
        eprintln!("still reserved: {held:?}; leases: {leases:?}");
        false
    }

    /// The payloads of all RequestCompleted events.
    pub async fn request_events(&self) -> Vec<Value> {
        let payloads: Vec<Value> = sqlx::query_scalar(
            "SELECT payload::jsonb FROM events WHERE event_type = 'RequestCompleted' ORDER BY global_position",
        )
        .fetch_all(&self.state.pool)
        .await
        .unwrap();
        payloads.into_iter().map(|p| p["RequestCompleted"].clone()).collect()
    }

    /// POSTs a chat completion with an API key.
    pub async fn chat(&self, key: &str, body: Value) -> Answer {
        self.post("/v1/chat/completions", key, body).await
    }

    /// Streams a chat completion; answers the status and the `data:` payloads.
    pub async fn chat_stream(&self, key: &str, body: Value) -> (StatusCode, Vec<String>) {
        let response =
            self.client.post(self.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let data = text
            .lines()
            .filter_map(|line| line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:")))
            .map(|d| d.trim().to_string())
            .collect();
        (status, data)
    }
}

/// Sleeps until the wall clock is past `moment` (plus a millisecond), for tests of
/// expiry that must not depend on how fast a loaded machine runs them.
pub async fn sleep_past(moment: chrono::DateTime<chrono::Utc>) {
    let left = (moment - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + std::time::Duration::from_millis(1)).await;
    while chrono::Utc::now() <= moment {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

pub fn user_message(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn base_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL is not set: run the tests with scripts/test.sh")
}

/// The usage-counter stripes an owner (organization or key) has rows in, in order.
pub async fn counter_stripes(pool: &sqlx::PgPool, owner: Uuid) -> Vec<i16> {
    sqlx::query_scalar("SELECT DISTINCT stripe FROM quota_counters WHERE owner_id = $1 ORDER BY stripe")
        .bind(owner)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Creates an empty database and answers its URL.
/// The migrations before `version`, to build a database as an earlier version left it.
pub fn migrations_before(version: i64) -> sqlx::migrate::Migrator {
    let all = sqlx::migrate!("./migrations");
    let old: Vec<_> = all.migrations.iter().filter(|m| m.version < version).cloned().collect();
    sqlx::migrate::Migrator { migrations: std::borrow::Cow::Owned(old), ..sqlx::migrate!("./migrations") }
}

pub async fn fresh_database() -> String {
    let base = base_url();
    let name = format!("gr_test_{}", Uuid::now_v7().simple());
    let mut connection = PgConnection::connect(&base).await.expect("connect to test cluster");
    connection.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.expect("create database");
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database");
    format!("{prefix}/{name}")
}

pub fn test_config() -> Config {
    Config {
        jwt_secret: Some(Secret::new(JWT_SECRET)),
        admin_username: Some(ADMIN_USER.into()),
        admin_password: Some(Secret::new(ADMIN_PASSWORD)),
        data_dir: std::env::temp_dir().join("gaiarouter-tests"),
        db_max_connections: 10,
        // Webhook retries in milliseconds, not seconds, so receivers that come back are seen quickly.
        webhook_retry_base_ms: 200,
        webhook_retry_max_ms: 1_000,
        // Tests fire refusals by the hundred on purpose; the pause for a hammering
        // key has its own test (`refusals::a_key_hammered_...`).
        refusal_pause_ms: 0,
        // The variables `routes` tests name as credentials (`GR_ROUTES_TEST_UNLISTED`
        // is named there to be refused).
        credential_vars: Some(
            "GR_ROUTES_TEST_CRUD_KEY,GR_ROUTES_TEST_REFUSE_KEY,GR_ROUTES_TEST_NOT_SET,GR_ROUTES_TEST_SCAN_KEY,\
             GR_ROUTES_TEST_SCAN_MISSING,GR_ROUTES_TEST_SEED_KEY"
                .into(),
        ),
        ..Config::default()
    }
}

/// Starts the server on a free port against a new database.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(&fresh_database().await).await
}

/// Starts (another) server on an existing database, as a restart would.
pub async fn spawn_app_on(database_url: &str) -> TestApp {
    spawn_app_with(database_url, ProvidersConfig::default()).await
}

/// Starts a server whose providers point at the given (fake) upstreams.
pub async fn spawn_app_with(database_url: &str, providers: ProvidersConfig) -> TestApp {
    spawn_app_configured(test_config(), database_url, providers).await
}

/// Starts a server with its own configuration.
pub async fn spawn_app_configured(config: Config, database_url: &str, providers: ProvidersConfig) -> TestApp {
    let state = app::prepare_with_providers(config, database_url, providers).await.expect("app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let serving = state.clone();
    tokio::spawn(async move {
        let _ = app::serve(serving, listener, async move {
            let _ = shutdown_rx.await;
        })
        .await;
    });
    let mut app = TestApp {
        address,
        database_url: database_url.to_string(),
        state,
        client: reqwest::Client::new(),
        admin_token: String::new(),
        shutdown: Some(shutdown),
    };
    app.admin_token = app.login(ADMIN_USER, ADMIN_PASSWORD).await;
    app
}

/// A JSON answer: status and body (Null when the body is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", self.body)).to_string()
    }

    /// Asserts the OpenAI error shape and answers the error code.
    pub fn error_code(&self) -> String {
        let error = &self.body["error"];
        assert!(error["message"].is_string(), "not an error body: {}", self.body);
        assert!(error["type"].is_string(), "not an error body: {}", self.body);
        error["code"].as_str().unwrap_or_default().to_string()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, token, None).await
    }

    pub async fn send_raw(&self, method: Method, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let answer = self.post("/v1/auth/login", "", json!({"username": username, "password": password})).await;
        assert_eq!(answer.status, StatusCode::OK, "login failed: {}", answer.body);
        answer.body["access_token"].as_str().unwrap().to_string()
    }

    /// Creates an organization as the admin operator; answers its id.
    pub async fn create_org(&self, name: &str) -> String {
        let answer = self.post("/v1/organizations", &self.admin_token, json!({"name": name})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.id()
    }

    /// Issues a key as the admin operator; answers (id, full key).
    pub async fn issue_key(&self, organization_id: &str, permission: &str) -> (String, String) {
        self.issue_key_with(
            json!({"organization_id": organization_id, "name": format!("{permission} key"), "permission": permission}),
        )
        .await
    }

    pub async fn issue_key_with(&self, body: Value) -> (String, String) {
        let answer = self.post("/v1/api-keys", &self.admin_token, body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        (answer.id(), answer.body["key"].as_str().unwrap().to_string())
    }

    pub async fn history(&self, path: &str) -> Vec<Value> {
        let answer = self.get(path, &self.admin_token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body["data"].as_array().unwrap().clone()
    }

    pub fn event_types(history: &[Value]) -> Vec<String> {
        history.iter().map(|e| e["event_type"].as_str().unwrap().to_string()).collect()
    }
}

/// What a gateway process wrote on stderr, line by line.
pub type Lines = Arc<std::sync::Mutex<Vec<String>>>;

/// A second gateway: the real binary, on the same database.
pub struct OtherProcess {
    pub child: tokio::process::Child,
    pub base: String,
    /// Everything it logged so far.
    pub log: Lines,
}

impl OtherProcess {
    /// SIGKILL: no shutdown hook runs, nothing is drained or flushed.
    pub async fn kill_hard(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

impl Drop for OtherProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub async fn start_other_process(database_url: &str) -> OtherProcess {
    start_other_process_with(database_url, &[]).await
}

/// Serves `router` on a free loopback port for the rest of the test: its origin
/// (`http://127.0.0.1:<port>`). For fake upstreams, collectors and receivers.
pub async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    origin
}

/// A free port on loopback, for a process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The environment of a test gateway on `port`: the tests' operator and secrets.
pub fn gateway_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("GAIAROUTER_LISTEN", format!("127.0.0.1:{port}")),
        ("GAIAROUTER_JWT_SECRET", JWT_SECRET.to_string()),
        ("GAIAROUTER_ADMIN_USERNAME", ADMIN_USER.to_string()),
        ("GAIAROUTER_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("GAIAROUTER_DATA_DIR", std::env::temp_dir().join("gaiarouter-tests").display().to_string()),
        ("GAIAROUTER_DB_MAX_CONNECTIONS", "10".to_string()),
        ("RUST_LOG", "info".to_string()),
    ]
}

/// `gaiarouter serve`: the real binary.
pub fn gateway_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gaiarouter"));
    command.arg("serve");
    command
}

/// Spawns `command` (a gateway on `port`) and waits up to `patience` until it
/// listens; every line it logs is kept, also after.
pub async fn serve_process(mut command: tokio::process::Command, port: u16, patience: Duration) -> OtherProcess {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the gaiarouter binary");
    let log: Lines = Arc::default();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let seen = Arc::clone(&log);
    tokio::time::timeout(patience, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let listening = line.contains("GaiaRouter listening");
            seen.lock().unwrap().push(line);
            if listening {
                return;
            }
        }
        panic!("gaiarouter exited before listening: {:#?}", seen.lock().unwrap());
    })
    .await
    .unwrap_or_else(|_| panic!("gaiarouter listens within {patience:?}: {:#?}", log.lock().unwrap()));
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.lock().unwrap().push(line);
        }
    });
    OtherProcess { child, base: format!("http://127.0.0.1:{port}"), log }
}

/// A second gateway process with extra environment (providers' base URLs and keys).
pub async fn start_other_process_with(database_url: &str, env: &[(&str, &str)]) -> OtherProcess {
    let port = free_port();
    let mut command = gateway_command();
    command.envs(gateway_env(port)).env("DATABASE_URL", database_url).envs(env.iter().copied());
    serve_process(command, port, Duration::from_secs(30)).await
}

/// The key the gateway holds for the fake upstreams of routed tests.
pub const UPSTREAM_KEY: &str = "upstream-key";

/// OpenAI, Anthropic and Gemini configured with [`UPSTREAM_KEY`] (routes' deployments
/// inherit it and bring their own base URL) and timeouts short enough for failures
/// to be quick.
pub fn fake_upstream_providers() -> gaiarouter::gateway::providers::ProvidersConfig {
    use gaiarouter::gateway::providers::{ApiKey, ProvidersConfig, Timeouts, Upstream};
    let key = Some(ApiKey::new(UPSTREAM_KEY).unwrap());
    let nowhere = |base_url: &str| Some(Upstream { base_url: base_url.into(), api_key: key.clone() });
    ProvidersConfig {
        openai: nowhere("http://127.0.0.1:9/v1"),
        anthropic: nowhere("http://127.0.0.1:9"),
        gemini: nowhere("http://127.0.0.1:9"),
        timeouts: Timeouts {
            connect: std::time::Duration::from_secs(1),
            total: std::time::Duration::from_secs(5),
            idle: std::time::Duration::from_secs(5),
            stream: std::time::Duration::from_secs(5),
        },
        ..ProvidersConfig::default()
    }
}

/// OpenAI, OpenRouter, Anthropic and Gemini at these origins (in that order), each
/// with `key`, and timeouts short enough for failures to be quick.
pub fn four_providers_at(origins: [&str; 4], key: &str) -> gaiarouter::gateway::providers::ProvidersConfig {
    use gaiarouter::gateway::providers::{ApiKey, ProvidersConfig, Timeouts, Upstream};
    let key = Some(ApiKey::new(key).unwrap());
    let upstream = |base_url: String| Some(Upstream { base_url, api_key: key.clone() });
    let [openai, openrouter, anthropic, gemini] = origins;
    ProvidersConfig {
        openai: upstream(format!("{openai}/v1")),
        openrouter: upstream(format!("{openrouter}/v1")),
        anthropic: upstream(anthropic.to_owned()),
        gemini: upstream(gemini.to_owned()),
        custom: Vec::new(),
        timeouts: Timeouts {
            connect: std::time::Duration::from_secs(2),
            total: std::time::Duration::from_secs(10),
            idle: std::time::Duration::from_secs(10),
            stream: std::time::Duration::from_secs(10),
        },
    }
}

impl TestApp {
    /// Creates route `name` with one deployment (`id` "only") of `provider`'s `model` at
    /// `base_url`, as an operator.
    pub async fn single_deployment_route(&self, name: &str, provider: &str, model: &str, base_url: String) {
        let route = serde_json::json!({"name": name, "deployments": [
            {"id": "only", "provider": provider, "model": model, "base_url": base_url}]});
        let answer = self.post("/v1/routes", &self.admin_token, route).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }
}
