//! Operating the real binary on its first day: the dashboard built into it,
//! `/ready`, graceful shutdown on SIGTERM, and an embedded PostgreSQL cluster
//! shared by the server and the CLI.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::IntoResponse;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::helpers::{
    free_port, fresh_database, gateway_command, gateway_env, serve_process, spawn_app, spawn_app_configured,
    test_config, user_message, OtherProcess,
};

// ---------------------------------------------------------------- the binary

/// The real `gaiarouter` binary, serving, with what it logged.
struct Gateway {
    process: OtherProcess,
    port: u16,
}

impl Gateway {
    /// Starts `gaiarouter serve` in `cwd` with only `env` (plus PATH and the test
    /// logins) and waits until it listens.
    async fn start(cwd: &Path, env: &[(&str, &str)]) -> Gateway {
        Self::start_within(cwd, env, Duration::from_secs(30)).await
    }

    async fn start_within(cwd: &Path, env: &[(&str, &str)], patience: Duration) -> Gateway {
        let port = free_port();
        // Only what is given: no DATABASE_URL or GAIAROUTER_* of the test's own.
        let mut command = gateway_command();
        command
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(gateway_env(port))
            .env("GAIAROUTER_REFUSAL_PAUSE_MS", "0")
            .envs(env.iter().copied());
        let process = serve_process(command, port, patience).await;
        Gateway { process, port }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.process.base)
    }

    /// Whether the gateway logged `text` (waiting a little: its last lines may
    /// still be on their way after it exited).
    async fn logged(&self, text: &str) -> bool {
        for _ in 0..30 {
            if self.process.log.lock().unwrap().iter().any(|line| line.contains(text)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    fn terminate(&self) {
        let pid = self.process.child.id().expect("the gateway is running");
        let sent = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
        assert!(sent.success(), "SIGTERM sent");
    }

    /// Waits for the process to end; answers its exit status and how long it took.
    async fn exit_within(&mut self, patience: Duration) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        let status = tokio::time::timeout(patience, self.process.child.wait())
            .await
            .unwrap_or_else(|_| panic!("gaiarouter exits within {patience:?}: {:#?}", self.process.log.lock().unwrap()))
            .unwrap();
        (status, started.elapsed())
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gr-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------- the dashboard

const NOT_BUILT: &str = "frontend/dist was not built before cargo compiled the binary, so it embeds no dashboard: \
                         run `npm run build` in frontend/ first (scripts/test.sh does)";

/// The first hashed script `index.html` loads.
fn first_script(index: &str) -> String {
    let start = index.find("src=\"/assets/").expect("index.html loads a hashed script") + "src=\"".len();
    let end = start + index[start..].find('"').unwrap();
    index[start..end].to_string()
}

#[tokio::test]
async fn the_dashboard_is_built_into_the_binary_and_served_without_a_static_dir() {
    assert!(gaiarouter::http::dashboard::is_embedded(), "{NOT_BUILT}");
    let app = spawn_app().await;
    assert!(app.state.config.static_dir.is_none());

    let index = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert!(index.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(index.headers()["cache-control"], "no-cache", "index.html names the assets: always revalidated");
    let etag = index.headers()["etag"].clone();
    let page = index.text().await.unwrap();
    assert!(page.contains("<div id=\"app\">"), "{page}");

    let script = app.client.get(app.url(&first_script(&page))).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert!(script.headers()["cache-control"].to_str().unwrap().contains("immutable"), "hashed: cached for good");
    assert!(!script.bytes().await.unwrap().is_empty());
    let gzipped = app.client.get(app.url(&first_script(&page))).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip", "the dashboard is compressed for browsers that take it");

    // A deep link is a route of the single-page app: index.html, not a 404.
    let deep = app.client.get(app.url("/logs?request=0190")).send().await.unwrap();
    assert_eq!(deep.status(), StatusCode::OK);
    assert_eq!(deep.text().await.unwrap(), page);
    let revalidated = app.client.get(app.url("/")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    // The API's own unknown routes stay JSON errors, and a stale asset is a 404.
    assert_eq!(app.get("/v1/no-such-route", &app.admin_token).await.body["error"]["code"], "unknown_route");
    assert_eq!(app.client.get(app.url("/assets/gone-1234.js")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_static_dir_still_overrides_the_dashboard_built_into_the_binary() {
    let dir = scratch_dir("static");
    std::fs::write(dir.join("index.html"), "<html>a dashboard built later</html>").unwrap();
    let config = gaiarouter::config::Config { static_dir: Some(dir.clone()), ..test_config() };
    let app = spawn_app_configured(config, &fresh_database().await, Default::default()).await;
    let page = app.client.get(app.url("/organizations")).send().await.unwrap().text().await.unwrap();
    assert_eq!(page, "<html>a dashboard built later</html>");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_binary_alone_serves_its_dashboard_from_any_working_directory() {
    assert!(gaiarouter::http::dashboard::is_embedded(), "{NOT_BUILT}");
    let database = fresh_database().await;
    // No GAIAROUTER_STATIC_DIR, and a working directory with no frontend/ in it.
    let gateway = Gateway::start(Path::new("/tmp"), &[("DATABASE_URL", &database)]).await;
    let client = reqwest::Client::new();
    let index = client.get(gateway.url("/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    let page = index.text().await.unwrap();
    assert!(page.contains("<div id=\"app\">"), "{page}");
    let script = client.get(gateway.url(&first_script(&page))).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(gateway.logged("serving the dashboard built into this binary").await);
}

// ---------------------------------------------------------------- readiness

async fn readiness(app: &crate::helpers::TestApp) -> (StatusCode, Value) {
    let answer = app.client.get(app.url("/ready")).send().await.unwrap();
    (answer.status(), answer.json().await.unwrap())
}

#[tokio::test]
async fn ready_answers_200_with_each_check_when_the_gateway_can_serve() {
    let app = spawn_app().await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["failing"], json!([]));
    for check in ["database", "migrations", "recorder", "projector"] {
        assert_eq!(body["checks"][check]["ok"], json!(true), "{check}: {body}");
    }
}

#[tokio::test]
async fn ready_answers_503_naming_a_migration_the_database_lacks() {
    let app = spawn_app().await;
    let latest = app.scalar("SELECT max(version) FROM _sqlx_migrations").await;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(latest).execute(&app.state.pool).await.unwrap();
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failing"], json!(["migrations"]));
    assert!(body["checks"]["migrations"]["detail"].as_str().unwrap().contains(&latest.to_string()), "{body}");
}

#[tokio::test]
async fn ready_answers_503_when_the_recorder_and_the_projector_have_stopped() {
    let app = spawn_app().await;
    // What a shutdown does, while this test's server keeps answering HTTP.
    app.state.shutdown().await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failing"], json!(["recorder", "projector"]));
    assert_eq!(body["checks"]["recorder"]["detail"], "stopped");
    assert_eq!(body["checks"]["database"]["ok"], json!(true));
}

#[tokio::test]
async fn ready_answers_503_while_one_commit_of_the_recorder_is_stuck() {
    let app = spawn_app().await;
    let org = app.create_org("Stuck").await;
    let (_, key) = app.issue_key(&org, "write").await;
    // Every insert into the event store waits for this transaction.
    let mut held = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut held).await.unwrap();
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE").execute(&mut held).await.unwrap();
    let body = json!({"model": "echo/stuck", "messages": user_message("hello")});
    let pending = tokio::spawn(app.client.post(app.url("/v1/chat/completions")).bearer_auth(&key).json(&body).send());
    // The recorder counts as stuck once one commit has taken over 10 s.
    let mut stuck = None;
    for _ in 0..60 {
        let (status, body) = readiness(&app).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            stuck = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let body = stuck.expect("the recorder is reported stuck within 30 s");
    assert_eq!(body["failing"], json!(["recorder"]), "{body}");
    assert!(body["checks"]["recorder"]["detail"].as_str().unwrap().starts_with("one commit has taken"), "{body}");
    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    assert_eq!(pending.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(readiness(&app).await.0, StatusCode::OK, "ready again once the commit went through");
}

#[tokio::test]
async fn ready_answers_503_when_the_database_is_unreachable() {
    let app = spawn_app().await;
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    let base = std::env::var("TEST_DATABASE_URL").unwrap();
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    // Refuse new connections to this test's database and end the open ones.
    sqlx::query(&format!(r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS false"#)).execute(&admin).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], json!(false), "{body}");
    assert!(body["failing"].as_array().unwrap().contains(&json!("database")));
    sqlx::query(&format!(r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS true"#)).execute(&admin).await.unwrap();
}

/// The pool pings a connection before handing it out only when it sat idle
/// (`PING_IF_IDLE_FOR`): one whose backend ended while it was idle is replaced,
/// not handed out broken.
#[tokio::test]
async fn a_pooled_connection_whose_backend_ended_while_idle_is_replaced() {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 1).await.unwrap();
    let first: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&pool).await.unwrap();
    let admin = sqlx::PgPool::connect(&std::env::var("TEST_DATABASE_URL").unwrap()).await.unwrap();
    let ended: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)").bind(first).fetch_one(&admin).await.unwrap();
    assert!(ended, "the backend ended");
    tokio::time::sleep(gaiarouter::postgres::PING_IF_IDLE_FOR + Duration::from_millis(200)).await;
    let second: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&pool).await.unwrap();
    assert_ne!(second, first, "a new backend answered");
}

// ---------------------------------------------------------------- shutdown

/// An OpenAI-compatible upstream that streams `pieces` words, one every `every`.
async fn slow_upstream(pieces: usize, every: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let answer = move || async move {
        let chunk = |delta: Value, finish: Value| {
            let data = json!({"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o",
                              "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            format!("data: {data}\n\n")
        };
        let words = futures::stream::iter(0..pieces).then(move |i| async move {
            if i > 0 {
                tokio::time::sleep(every).await;
            }
            Ok::<_, std::convert::Infallible>(chunk(json!({"content": format!("word{i} ")}), Value::Null))
        });
        let usage = json!({"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o",
                           "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": pieces, "total_tokens": pieces + 3}});
        let end = futures::stream::iter([
            Ok(chunk(json!({}), json!("stop"))),
            Ok(format!("data: {usage}\n\n")),
            Ok("data: [DONE]\n\n".to_string()),
        ]);
        ([("content-type", "text/event-stream")], Body::from_stream(words.chain(end))).into_response()
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer));
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

/// A gateway binary on a database an in-process app shares (for its admin API and
/// its view of the events), its providers pointed at a slow upstream.
async fn gateway_beside(app: &crate::helpers::TestApp, upstream: &str, grace: &str) -> Gateway {
    let base_url = format!("{upstream}/v1");
    Gateway::start(
        Path::new("/tmp"),
        &[
            ("DATABASE_URL", &app.database_url),
            ("OPENAI_BASE_URL", &base_url),
            ("OPENAI_API_KEY", "upstream-key"),
            ("GAIAROUTER_SHUTDOWN_GRACE_SECONDS", grace),
        ],
    )
    .await
}

async fn open_stream(gateway: &Gateway, key: &str) -> reqwest::Response {
    let body = json!({"model": "openai/gpt-4o", "stream": true, "messages": user_message("tell me slowly")});
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

#[tokio::test]
async fn on_sigterm_an_open_stream_finishes_and_is_committed_while_new_connections_are_refused() {
    let app = spawn_app().await;
    let org = app.create_org("Shutdown").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let upstream = slow_upstream(8, Duration::from_millis(400)).await;
    let mut gateway = gateway_beside(&app, &upstream, "30").await;

    let mut stream = open_stream(&gateway, &key).await.bytes_stream();
    let mut received = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    gateway.terminate();

    // The listener closes at once; the stream in flight goes on.
    let mut refused = false;
    for _ in 0..40 {
        if tokio::net::TcpStream::connect(("127.0.0.1", gateway.port)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "a new connection is refused once SIGTERM is received");
    while let Some(piece) = stream.next().await {
        received.push_str(&String::from_utf8_lossy(&piece.expect("the stream is not cut")));
    }
    assert!(received.contains("word7") && received.contains("[DONE]"), "the whole stream: {received}");

    let (status, _) = gateway.exit_within(Duration::from_secs(30)).await;
    assert!(status.success(), "exit 0: {status:?}");
    let events = app.request_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["status"], "success");
    assert_eq!(events[0]["completion_tokens"], json!(8));
}

#[tokio::test]
async fn on_sigterm_a_stream_longer_than_the_grace_is_cut_recorded_and_the_process_exits() {
    let app = spawn_app().await;
    let org = app.create_org("Short grace").await;
    let (_, key) = app.issue_key(&org, "write").await;
    // A minute of stream against a one-second grace.
    let upstream = slow_upstream(60, Duration::from_secs(1)).await;
    let mut gateway = gateway_beside(&app, &upstream, "1").await;

    let mut stream = open_stream(&gateway, &key).await.bytes_stream();
    stream.next().await.unwrap().unwrap();
    gateway.terminate();
    let (status, took) = gateway.exit_within(Duration::from_secs(30)).await;
    assert!(status.success(), "exit 0: {status:?}");
    assert!(took < Duration::from_secs(30), "cut at the grace, not at the stream's end ({took:?})");
    assert!(gateway.logged("cutting the connections still open after the shutdown grace").await);
    // The cut request is committed, as a request whose client went away.
    let events = app.request_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["status"], "error");
    assert_eq!(events[0]["error_kind"], "client_disconnected");
}

// ---------------------------------------------------------------- embedded PostgreSQL

fn postgres_binaries_installed() -> bool {
    std::env::var_os("GAIAROUTER_PG_BIN").is_some()
        || std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|mut d| d.next().is_some())
}

#[tokio::test]
async fn a_cli_command_run_beside_the_server_leaves_its_embedded_database_running() {
    if !postgres_binaries_installed() {
        eprintln!("SKIPPED: no PostgreSQL binaries (initdb, pg_ctl) to start an embedded cluster with");
        return;
    }
    let data_dir = scratch_dir("embedded");
    let data = data_dir.to_str().unwrap();
    // No DATABASE_URL: the server starts the embedded cluster (initdb on first use).
    let mut server =
        Gateway::start_within(Path::new("/tmp"), &[("GAIAROUTER_DATA_DIR", data)], Duration::from_secs(120)).await;
    let client = reqwest::Client::new();
    assert_eq!(client.get(server.url("/health")).send().await.unwrap().status(), StatusCode::OK);

    for command in [&["migrate"][..], &["projections", "status"], &["operators", "list"]] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gaiarouter"))
            .args(command)
            .current_dir("/tmp")
            .env_remove("DATABASE_URL")
            .env("GAIAROUTER_DATA_DIR", data)
            .env("RUST_LOG", "info")
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
        let health = client.get(server.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "the server's database survives `gaiarouter {command:?}`");
    }
    let ready = client.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    // The server started the cluster, so the server stops it.
    server.terminate();
    let (status, _) = server.exit_within(Duration::from_secs(60)).await;
    assert!(status.success());
    assert!(server.logged("embedded PostgreSQL stopped").await);
    let _ = std::fs::remove_dir_all(data_dir);
}
