//! Webhooks end to end: a local receiver, real deliveries. CRUD and validation,
//! the permission matrix (organization scope), exactly-once delivery across a
//! restart, retries with one idempotency key, the signature checked with the
//! documented recipe, receivers that are down or hang, redelivery, and the
//! secret never stored or answered after creation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::Row;

use crate::helpers::{fresh_database, spawn_app, spawn_app_on, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Accept,
    Fail(u16),
    Hang,
    /// Answers 307 to this receiver's `/elsewhere` (which counts what reaches it).
    Redirect,
}

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    user_agent: String,
    body: String,
    accepted: bool,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

struct Receiver {
    origin: String,
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
}

impl Receiver {
    async fn start(mode: Mode) -> Arc<Self> {
        Self::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), mode).await
    }

    async fn start_on(listener: tokio::net::TcpListener, mode: Mode) -> Arc<Self> {
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let receiver = Arc::new(Receiver { origin, mode: Mutex::new(mode), received: Mutex::default() });
        let state = Arc::clone(&receiver);
        let elsewhere = Arc::clone(&receiver);
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(move |headers: HeaderMap, body: String| {
                    let state = Arc::clone(&state);
                    async move { state.take(headers, body).await }
                }),
            )
            .route(
                "/elsewhere",
                axum::routing::post(move |body: String| {
                    let state = Arc::clone(&elsewhere);
                    async move {
                        state.received.lock().unwrap().push(Received {
                            id: "followed".into(),
                            timestamp: String::new(),
                            signature: String::new(),
                            content_type: String::new(),
                            user_agent: String::new(),
                            body,
                            accepted: true,
                        });
                        StatusCode::OK
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    async fn take(&self, headers: HeaderMap, body: String) -> axum::response::Response {
        use axum::response::IntoResponse;
        if *self.mode.lock().unwrap() == Mode::Redirect {
            self.received.lock().unwrap().push(Received {
                id: "redirected".into(),
                timestamp: String::new(),
                signature: String::new(),
                content_type: String::new(),
                user_agent: String::new(),
                body,
                accepted: false,
            });
            let location = format!("{}/elsewhere", self.origin);
            return (StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, location)]).into_response();
        }
        self.answer(headers, body).await.into_response()
    }

    async fn answer(&self, headers: HeaderMap, body: String) -> StatusCode {
        let mode = *self.mode.lock().unwrap();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let received = Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            content_type: header("content-type"),
            user_agent: header("user-agent"),
            body,
            accepted: mode == Mode::Accept,
        };
        self.received.lock().unwrap().push(received);
        match mode {
            Mode::Accept => StatusCode::NO_CONTENT,
            Mode::Fail(status) => StatusCode::from_u16(status).unwrap(),
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                StatusCode::OK
            }
            Mode::Redirect => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn url(&self) -> String {
        format!("{}/hook", self.origin)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn accepted(&self) -> Vec<Received> {
        self.all().into_iter().filter(|r| r.accepted).collect()
    }

    /// Waits until `n` deliveries were accepted (or the time is up), answers them.
    async fn wait_accepted(&self, n: usize, within: Duration) -> Vec<Received> {
        let until = Instant::now() + within;
        while self.accepted().len() < n && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.accepted()
    }

    async fn wait_all(&self, n: usize, within: Duration) -> Vec<Received> {
        let until = Instant::now() + within;
        while self.all().len() < n && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.all()
    }
}

/// The documented recipe (Standard Webhooks): HMAC-SHA256 keyed with the base64
/// decoded part of the secret after `whsec_`, over `<webhook-id>.<webhook-timestamp>.<body>`,
/// base64, compared with each space-separated `v1,<signature>`.
fn verifies(secret: &str, received: &Received) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    received.signature.split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

/// Inserts a `BudgetThresholdReached` event as the budget code writes it.
async fn threshold_reached(app: &TestApp, organization: &str, percent: i64) -> i64 {
    let payload = json!({"BudgetThresholdReached": {
        "scope": "organization", "organization_id": organization, "api_key_id": null, "period": "month",
        "period_start": "2026-11-01", "metric": "requests", "limit": 1000, "used": 10 * percent,
        "threshold_percent": percent, "reached_at": "2026-11-30T10:00:00Z"}});
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('BudgetAlert', $1, 1, 'BudgetThresholdReached', '1.0', $2, '{}') RETURNING global_position",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(payload)
    .fetch_one(&app.state.pool)
    .await
    .unwrap()
    .get(0)
}

async fn create_endpoint(app: &TestApp, token: &str, body: Value) -> (String, String) {
    let answer = app.post("/v1/webhooks", token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    (answer.id(), answer.body["secret"].as_str().unwrap().to_string())
}

fn subscribe(url: &str, types: &[&str]) -> Value {
    json!({"url": url, "event_types": types})
}

const SOON: Duration = Duration::from_secs(15);

#[tokio::test]
async fn endpoints_are_created_changed_and_deleted_and_bad_input_is_a_400() {
    let app = spawn_app().await;
    let org = app.create_org("Hooked").await;
    let token = app.admin_token.clone();
    let body = json!({"url": "https://hooks.example.com/x", "description": "ops alerts",
                      "event_types": ["ApiKeyIssued", "BudgetThresholdReached", "ApiKeyIssued"], "organization_id": org});
    let created = app.post("/v1/webhooks", &token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    let secret = created.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && STANDARD.decode(&secret[6..]).unwrap().len() == 32);
    assert_eq!(created.body["event_types"], json!(["ApiKeyIssued", "BudgetThresholdReached"]), "deduplicated");
    assert_eq!((created.body["enabled"].clone(), created.body["organization_id"].clone()), (json!(true), json!(org)));

    let got = app.get(&format!("/v1/webhooks/{id}"), &token).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.get("secret").is_none(), "the secret is answered once: {}", got.body);
    let patched = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            &token,
            json!({"enabled": false, "event_types": ["ApiKeyRevoked"], "description": null}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(
        (patched.body["enabled"].clone(), patched.body["event_types"].clone()),
        (json!(false), json!(["ApiKeyRevoked"]))
    );
    assert_eq!(patched.body["description"], Value::Null);
    let listed = app.get("/v1/webhooks", &token).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);

    let refused = [
        (json!({"url": "ftp://example.com/x", "event_types": ["ApiKeyIssued"]}), "invalid_webhook", "url"),
        (json!({"url": "https://user:pw@example.com/x", "event_types": ["ApiKeyIssued"]}), "invalid_webhook", "url"),
        (
            json!({"url": format!("https://example.com/{}", "a".repeat(2100)), "event_types": ["ApiKeyIssued"]}),
            "invalid_webhook",
            "url",
        ),
        (json!({"url": "nope", "event_types": ["ApiKeyIssued"]}), "invalid_webhook", "url"),
        (
            json!({"url": "https://example.com/x", "event_types": ["RequestCompleted"]}),
            "invalid_event_type",
            "event_types",
        ),
        (json!({"url": "https://example.com/x", "event_types": []}), "invalid_event_type", "event_types"),
        (
            json!({"url": "https://example.com/x", "event_types": ["RouteCreated"], "organization_id": org}),
            "invalid_event_type",
            "event_types",
        ),
        (
            json!({"url": "https://example.com/x", "event_types": ["ApiKeyIssued"], "description": "x".repeat(501)}),
            "invalid_webhook",
            "description",
        ),
        (
            json!({"url": "https://example.com/x", "event_types": ["ApiKeyIssued"], "secret": "mine"}),
            "invalid_body",
            "",
        ),
    ];
    for (body, code, param) in refused {
        let answer = app.post("/v1/webhooks", &token, body.clone()).await;
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (StatusCode::BAD_REQUEST, code),
            "{body}: {}",
            answer.body
        );
        if !param.is_empty() {
            assert_eq!(answer.body["error"]["param"], param);
        }
    }
    let bad_patch = app.patch(&format!("/v1/webhooks/{id}"), &token, json!({"url": "file:///etc/passwd"})).await;
    assert_eq!(bad_patch.status, StatusCode::BAD_REQUEST);
    let unknown_org = app
        .post(
            "/v1/webhooks",
            &token,
            json!({"url": "https://e.com/", "event_types": ["ApiKeyIssued"], "organization_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(unknown_org.status, StatusCode::NOT_FOUND);

    // At most 32 per organization.
    for n in 1..32 {
        create_endpoint(
            &app,
            &token,
            json!({"url": format!("https://e.com/{n}"), "event_types": ["ApiKeyIssued"], "organization_id": org}),
        )
        .await;
    }
    let one_too_many = app
        .post(
            "/v1/webhooks",
            &token,
            json!({"url": "https://e.com/33", "event_types": ["ApiKeyIssued"], "organization_id": org}),
        )
        .await;
    assert_eq!((one_too_many.status, one_too_many.error_code().as_str()), (StatusCode::CONFLICT, "too_many_webhooks"));

    assert_eq!(app.delete(&format!("/v1/webhooks/{id}"), &token).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/webhooks/{id}"), &token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&format!("/v1/webhooks/{id}"), &token).await.status, StatusCode::NOT_FOUND);
    let history = app.history(&format!("/v1/webhooks/{id}/history")).await;
    assert_eq!(
        TestApp::event_types(&history),
        ["WebhookEndpointCreated", "WebhookEndpointUpdated", "WebhookEndpointDeleted"]
    );
    assert!(history.iter().all(|e| e["actor"]["type"] == "operator"));
    let audit = app.get("/v1/audit?aggregate_type=WebhookEndpoint", &token).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.body["data"].as_array().unwrap().len() >= 3);
}

/// Caller × action × target endpoint → status. Operators manage every endpoint;
/// an `admin` key only its own organization's (others are 404); `read` and
/// `write` keys nothing (403); no token 401.
#[tokio::test]
async fn permission_matrix_for_webhook_management() {
    let app = spawn_app().await;
    let receiver = Receiver::start(Mode::Accept).await;
    let org_a = app.create_org("Tenant A").await;
    let org_b = app.create_org("Tenant B").await;
    let (_, admin_a) = app.issue_key(&org_a, "admin").await;
    let (_, write_a) = app.issue_key(&org_a, "write").await;
    let (_, read_a) = app.issue_key(&org_a, "read").await;
    let (_, admin_b) = app.issue_key(&org_b, "admin").await;
    let session_a = app.post("/v1/auth/login", "", json!({"api_key": admin_a})).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let operator = app.admin_token.clone();
    let sub = |org: Option<&str>| {
        let mut body = subscribe(&receiver.url(), &["ApiKeyIssued"]);
        if let Some(org) = org {
            body["organization_id"] = json!(org);
        }
        body
    };
    let actions = ["list", "create", "get", "patch", "history", "deliveries", "test", "redeliver", "rotate", "delete"];

    async fn call(app: &TestApp, token: &str, action: &str, target: &str, delivery: &str, create: Value) -> StatusCode {
        let (method, path, body) = match action {
            "list" => (Method::GET, "/v1/webhooks".to_string(), None),
            "create" => (Method::POST, "/v1/webhooks".to_string(), Some(create)),
            "get" => (Method::GET, format!("/v1/webhooks/{target}"), None),
            "patch" => (Method::PATCH, format!("/v1/webhooks/{target}"), Some(json!({"description": "changed"}))),
            "history" => (Method::GET, format!("/v1/webhooks/{target}/history"), None),
            "deliveries" => (Method::GET, format!("/v1/webhooks/{target}/deliveries"), None),
            "test" => (Method::POST, format!("/v1/webhooks/{target}/test"), Some(json!({}))),
            "redeliver" => {
                (Method::POST, format!("/v1/webhooks/{target}/deliveries/{delivery}/redeliver"), Some(json!({})))
            }
            "rotate" => (Method::POST, format!("/v1/webhooks/{target}/rotate_secret"), Some(json!({}))),
            _ => (Method::DELETE, format!("/v1/webhooks/{target}"), None),
        };
        app.call(method, &path, token, body).await.status
    }

    let callers: [(&str, &str, Option<&str>); 7] = [
        ("operator", &operator, None),
        ("admin key A", &admin_a, Some(&org_a)),
        ("admin key A session", &session_a, Some(&org_a)),
        ("admin key B", &admin_b, Some(&org_b)),
        ("write key A", &write_a, Some(&org_a)),
        ("read key A", &read_a, Some(&org_a)),
        ("nobody", "", None),
    ];
    for (caller, token, caller_org) in callers {
        for (target_name, target_org) in
            [("A's", Some(org_a.as_str())), ("B's", Some(org_b.as_str())), ("global", None)]
        {
            // A fresh target (with one delivery) per caller, made by an operator.
            let (target, _) = create_endpoint(&app, &operator, sub(target_org)).await;
            let delivery = app.post(&format!("/v1/webhooks/{target}/test"), &operator, json!({})).await.body
                ["delivery_id"]
                .as_str()
                .unwrap()
                .to_string();
            for action in actions {
                let create = sub(caller_org);
                let got = call(&app, token, action, &target, &delivery, create).await;
                let expected = match (caller, action) {
                    ("nobody", _) => StatusCode::UNAUTHORIZED,
                    ("write key A" | "read key A", _) => StatusCode::FORBIDDEN,
                    (_, "list") => StatusCode::OK,
                    (_, "create") => StatusCode::CREATED,
                    _ if caller == "operator" || target_org == caller_org => match action {
                        "test" | "redeliver" => StatusCode::ACCEPTED,
                        _ => StatusCode::OK,
                    },
                    _ => StatusCode::NOT_FOUND,
                };
                assert_eq!(got, expected, "{caller} × {action} × {target_name} endpoint");
            }
        }
    }
    // Lists are scoped: B's admin sees only B's endpoints; an admin key cannot aim at another org.
    let listed = app.get("/v1/webhooks?limit=100", &admin_b).await;
    assert!(
        listed.body["data"].as_array().unwrap().iter().all(|e| e["organization_id"] == json!(org_b)),
        "{}",
        listed.body
    );
    let sneaky = app.post("/v1/webhooks", &admin_a, sub(Some(&org_b))).await;
    assert_eq!(sneaky.status, StatusCode::NOT_FOUND);
    let global_by_key = app.post("/v1/webhooks", &admin_a, sub(None)).await;
    assert_eq!(global_by_key.body["organization_id"], json!(org_a), "an admin key's endpoint is its organization's");
}

#[tokio::test]
async fn a_threshold_crossing_is_delivered_signed_and_exactly_once_across_a_restart() {
    let database = fresh_database().await;
    let app = spawn_app_on(&database).await;
    let receiver = Receiver::start(Mode::Accept).await;
    let org = app.create_org("Budgeted").await;
    let other = app.create_org("Other tenant").await;
    let (_, admin_key) = app.issue_key(&org, "admin").await;
    let (endpoint, secret) =
        create_endpoint(&app, &admin_key, subscribe(&receiver.url(), &["BudgetThresholdReached"])).await;

    let position = threshold_reached(&app, &org, 80).await;
    threshold_reached(&app, &other, 80).await;
    let got = receiver.wait_accepted(1, SOON).await;
    assert_eq!(got.len(), 1, "only its organization's crossing: {got:?}");
    let delivery = &got[0];
    assert!(verifies(&secret, delivery), "the signature verifies with the documented recipe");
    assert!(!verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", delivery), "and not with another secret");
    let body = delivery.json();
    assert_eq!(delivery.id, format!("evt_{position}"));
    assert_eq!(body["id"], delivery.id.as_str());
    assert_eq!(body["type"], "BudgetThresholdReached");
    assert_eq!(body["organization_id"], json!(org));
    assert_eq!(body["data"]["threshold_percent"], 80);
    assert_eq!(body["data"]["metric"], "requests");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(delivery.content_type, "application/json");
    assert!(delivery.user_agent.starts_with("GaiaRouter-Webhooks/"));
    let now = chrono::Utc::now().timestamp();
    assert!((now - delivery.timestamp.parse::<i64>().unwrap()).abs() < 60);

    // Stop after the delivery; a new process on the same database sends nothing again.
    app.state.shutdown().await;
    drop(app);
    let again = spawn_app_on(&database).await;
    let next = threshold_reached(&again, &org, 100).await;
    let got = receiver.wait_accepted(2, SOON).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let ids: Vec<String> = receiver.all().iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, vec![format!("evt_{position}"), format!("evt_{next}")], "each exactly once: {got:?}");
    let deliveries = again.get(&format!("/v1/webhooks/{endpoint}/deliveries"), &admin_key).await;
    let statuses: Vec<&str> =
        deliveries.body["data"].as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["delivered", "delivered"]);
    assert_eq!(deliveries.body["data"][1]["attempts"][0]["status_code"], 204);

    // Rebuilding the outbox replays the log but queues nothing twice.
    let rebuild = again.post("/v1/projections/webhook_outbox/rebuild", &again.admin_token, json!({})).await;
    assert_eq!(rebuild.status, StatusCode::ACCEPTED, "{}", rebuild.body);
    let until = Instant::now() + SOON;
    while again.scalar("SELECT count(*) FROM projection_checkpoints WHERE name = 'webhook_outbox' AND NOT rebuild_requested AND state = 'running'").await == 0
        && Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(again.scalar("SELECT count(*) FROM webhook_deliveries").await, 2);
    assert_eq!(receiver.all().len(), 2, "nothing sent again after a rebuild");
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_everything_once_it_is_back_with_the_same_webhook_id() {
    let app = spawn_app().await;
    let org = app.create_org("Flaky").await;
    let failing = Receiver::start(Mode::Fail(500)).await;
    // Nothing listens on this port until later: connections are refused.
    let parked = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused_address = parked.local_addr().unwrap();
    drop(parked);
    let body = |url: String| json!({"url": url, "event_types": ["BudgetThresholdReached"], "organization_id": org});
    let (failing_id, secret) = create_endpoint(&app, &app.admin_token, body(failing.url())).await;
    let (refused_id, _) = create_endpoint(&app, &app.admin_token, body(format!("http://{refused_address}/hook"))).await;

    let mut positions = Vec::new();
    for percent in [50, 80, 100] {
        positions.push(threshold_reached(&app, &org, percent).await);
    }
    // Several failed attempts each (backoff base is 200 ms in tests).
    let tried = failing.wait_all(6, SOON).await;
    assert!(tried.len() >= 6, "{tried:?}");
    for position in &positions {
        let attempts: Vec<&Received> = tried.iter().filter(|r| r.id == format!("evt_{position}")).collect();
        assert!(!attempts.is_empty());
        assert!(attempts.iter().all(|r| r.body == attempts[0].body), "the same body on every attempt");
        assert!(attempts.iter().all(|r| verifies(&secret, r)));
    }
    let retried = tried.iter().filter(|r| r.id == tried[0].id).count();
    assert!(retried >= 2, "retries carry the same webhook-id");
    let deliveries = app.get(&format!("/v1/webhooks/{failing_id}/deliveries"), &app.admin_token).await;
    let first = &deliveries.body["data"][0];
    assert_eq!(first["status"], "pending");
    assert_eq!(first["attempts"][0]["status_code"], 500);
    assert_eq!(first["attempts"][0]["error"], "HTTP 500");
    let refused = app.get(&format!("/v1/webhooks/{refused_id}/deliveries"), &app.admin_token).await;
    let refused_attempt = &refused.body["data"][0]["attempts"][0];
    assert_eq!(refused_attempt["status_code"], Value::Null, "{}", refused.body);
    assert!(refused_attempt["error"].as_str().unwrap().starts_with("connection failed"), "{}", refused.body);

    // Both come back: everything arrives, each event accepted once.
    failing.set(Mode::Accept);
    let back = Receiver::start_on(tokio::net::TcpListener::bind(refused_address).await.unwrap(), Mode::Accept).await;
    for receiver in [&failing, &back] {
        let accepted = receiver.wait_accepted(3, Duration::from_secs(30)).await;
        let mut ids: Vec<String> = accepted.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        let mut expected: Vec<String> = positions.iter().map(|p| format!("evt_{p}")).collect();
        expected.sort();
        assert_eq!(ids, expected);
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(failing.accepted().len(), 3, "nothing accepted is sent again");
    let done = app.scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'").await;
    assert_eq!(done, 6);
}

#[tokio::test]
async fn a_hanging_receiver_does_not_delay_another_endpoint() {
    let app = spawn_app().await;
    let org = app.create_org("Neighbours").await;
    let hanging = Receiver::start(Mode::Hang).await;
    let quick = Receiver::start(Mode::Accept).await;
    for receiver in [&hanging, &quick] {
        create_endpoint(&app, &app.admin_token, subscribe(&receiver.url(), &["BudgetThresholdReached"])).await;
    }
    threshold_reached(&app, &org, 50).await;
    hanging.wait_all(1, SOON).await;
    let started = Instant::now();
    // More than the per-endpoint concurrency: the hanging endpoint is saturated.
    for percent in [60, 70, 80, 90, 95, 100] {
        threshold_reached(&app, &org, percent).await;
    }
    let got = quick.wait_accepted(7, SOON).await;
    assert_eq!(got.len(), 7);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(hanging.all().len() <= 4, "at most 4 in flight to one endpoint");
    // The gateway itself answers at once meanwhile.
    let health = app.get("/health", "").await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn test_pings_and_redeliveries_reach_the_receiver_with_the_same_id() {
    let app = spawn_app().await;
    let receiver = Receiver::start(Mode::Accept).await;
    let (id, secret) =
        create_endpoint(&app, &app.admin_token, subscribe(&receiver.url(), &["ApiKeyIssued", "RouteCreated"])).await;
    let queued = app.post(&format!("/v1/webhooks/{id}/test"), &app.admin_token, json!({})).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    let ping = receiver.wait_accepted(1, SOON).await;
    assert_eq!(ping[0].json()["type"], "webhook.test");
    assert!(verifies(&secret, &ping[0]));

    // A gateway-wide endpoint gets key and route events of every organization.
    let org = app.create_org("Keyed").await;
    let (key_id, _) = app.issue_key(&org, "read").await;
    let issued = receiver.wait_accepted(2, SOON).await;
    let data = &issued[1].json()["data"];
    assert_eq!((issued[1].json()["type"].clone(), data["api_key_id"].clone()), (json!("ApiKeyIssued"), json!(key_id)));
    assert!(data.get("secret_hash").is_none(), "no hash of the key's secret: {data}");
    app.single_deployment_route("hooked-route", "echo", "x", "http://127.0.0.1:9".into()).await;
    let routed = receiver.wait_accepted(3, SOON).await;
    assert_eq!(routed[2].json()["type"], "RouteCreated");
    assert_eq!(routed[2].json()["organization_id"], Value::Null);

    let deliveries = app.get(&format!("/v1/webhooks/{id}/deliveries"), &app.admin_token).await;
    let delivery = deliveries.body["data"][1]["id"].as_str().unwrap().to_string();
    let again =
        app.post(&format!("/v1/webhooks/{id}/deliveries/{delivery}/redeliver"), &app.admin_token, json!({})).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    let got = receiver.wait_accepted(4, SOON).await;
    assert_eq!(got[3].id, got[1].id, "a redelivery has the same idempotency key");
    assert_eq!(got[3].body, got[1].body);
    // The receiver sees the request before the sender has stored its answer.
    let attempts = || async {
        let listed = app.get(&format!("/v1/webhooks/{id}/deliveries"), &app.admin_token).await;
        listed.body["data"][1]["attempts"].as_array().map_or(0, Vec::len)
    };
    assert!(crate::projections::wait_until(|| async { attempts().await == 2 }).await, "{}", attempts().await);
    let missing = app
        .post(&format!("/v1/webhooks/{id}/deliveries/{}/redeliver", uuid::Uuid::now_v7()), &app.admin_token, json!({}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let docs = app.get("/openapi.json", "").await.body;
    for path in [
        "/v1/webhooks",
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/rotate_secret",
        "/v1/webhooks/{id}/test",
        "/v1/webhooks/{id}/deliveries",
        "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    ] {
        assert!(docs["paths"][path].is_object(), "{path} is documented");
    }

    // Rotation: the old secret stops signing at once.
    let rotated = app.post(&format!("/v1/webhooks/{id}/rotate_secret"), &app.admin_token, json!({})).await;
    let new_secret = rotated.body["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    app.post(&format!("/v1/webhooks/{id}/test"), &app.admin_token, json!({})).await;
    let got = receiver.wait_accepted(5, SOON).await;
    assert!(verifies(&new_secret, &got[4]) && !verifies(&secret, &got[4]));
}

#[tokio::test]
async fn the_signing_secret_is_answered_once_and_stored_only_encrypted() {
    let app = spawn_app().await;
    let (id, secret) =
        create_endpoint(&app, &app.admin_token, subscribe("https://hooks.example.com/x", &["ApiKeyIssued"])).await;
    let rotated = app.post(&format!("/v1/webhooks/{id}/rotate_secret"), &app.admin_token, json!({})).await;
    let rotated_secret = rotated.body["secret"].as_str().unwrap().to_string();
    let secrets = [secret.clone(), rotated_secret.clone(), secret[6..].to_string(), rotated_secret[6..].to_string()];
    let answers = [
        app.get("/v1/webhooks", &app.admin_token).await.body,
        app.get(&format!("/v1/webhooks/{id}"), &app.admin_token).await.body,
        app.get(&format!("/v1/webhooks/{id}/history"), &app.admin_token).await.body,
        app.get("/v1/audit", &app.admin_token).await.body,
    ];
    for answer in &answers {
        for secret in &secrets {
            assert!(!answer.to_string().contains(secret.as_str()), "secret in a response: {answer}");
        }
    }
    let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    let mut scanned = 0;
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!(r#"SELECT row_to_json(t)::text FROM "{table}" t"#))
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
        for row in rows {
            scanned += 1;
            for secret in &secrets {
                assert!(!row.contains(secret.as_str()), "plaintext secret in {table}: {row}");
            }
        }
    }
    assert!(scanned > 5);
    let sealed: String = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE aggregate_type = 'WebhookEndpoint' AND sequence = 1",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    assert!(sealed.contains("ciphertext") && sealed.contains("nonce"), "{sealed}");
}

#[tokio::test]
async fn a_deployment_entering_cooldown_is_one_event_delivered_to_gateway_wide_endpoints() {
    use crate::fakes::{self, Behaviour, FakeUpstream};
    use crate::helpers::{fake_upstream_providers, spawn_app_with, user_message};
    let app = spawn_app_with(&fresh_database().await, fake_upstream_providers()).await;
    let receiver = Receiver::start(Mode::Accept).await;
    create_endpoint(&app, &app.admin_token, subscribe(&receiver.url(), &["DeploymentCooledDown"])).await;
    let broken =
        FakeUpstream::start(fakes::openai::router, vec![Behaviour::Fail { status: 500, message: "boom".into() }]).await;
    let route = json!({"name": "cooling", "cooldown_after_failures": 2, "cooldown_seconds": 60, "max_attempts": 1,
        "deployments": [{"id": "d1", "provider": "openai", "model": "gpt-4o-mini", "base_url": format!("{}/v1", broken.origin)}]});
    assert_eq!(app.post("/v1/routes", &app.admin_token, route).await.status, StatusCode::CREATED);
    let org = app.create_org("Caller").await;
    let (_, key) = app.issue_key(&org, "write").await;
    for _ in 0..5 {
        app.chat(&key, json!({"model": "cooling", "messages": user_message("hi")})).await;
    }
    let got = receiver.wait_accepted(1, SOON).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.accepted().len(), 1, "one event per cooldown");
    let data = &got[0].json()["data"];
    assert_eq!(
        (data["route"].clone(), data["deployment"].clone(), data["provider"].clone()),
        (json!("cooling"), json!("d1"), json!("openai"))
    );
    assert_eq!(data["reason"], "failures");
    assert_eq!(app.scalar("SELECT count(*) FROM events WHERE event_type = 'DeploymentCooledDown'").await, 1);
}

#[tokio::test]
async fn redirects_are_not_followed_and_count_as_failed_attempts() {
    let app = spawn_app().await;
    let receiver = Receiver::start(Mode::Redirect).await;
    let (id, _) = create_endpoint(&app, &app.admin_token, subscribe(&receiver.url(), &["ApiKeyIssued"])).await;
    app.post(&format!("/v1/webhooks/{id}/test"), &app.admin_token, json!({})).await;
    receiver.wait_all(2, SOON).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.all().iter().all(|r| r.id == "redirected"), "the redirect target was never called");
    let deliveries = app.get(&format!("/v1/webhooks/{id}/deliveries"), &app.admin_token).await;
    let attempt = &deliveries.body["data"][0]["attempts"][0];
    assert_eq!(attempt["status_code"], 307, "{}", deliveries.body);
    assert!(attempt["error"].as_str().unwrap().contains("redirects are not followed"));
    assert_eq!(deliveries.body["data"][0]["status"], "pending", "retried later like any failure");
}

#[tokio::test]
async fn the_outbox_checkpoint_moves_past_events_it_never_delivers() {
    let app = spawn_app().await;
    let org = app.create_org("Busy").await;
    let (_, key) = app.issue_key(&org, "write").await;
    for _ in 0..5 {
        let answer = app.chat(&key, json!({"model": "echo/x", "messages": crate::helpers::user_message("hi")})).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let last = app.scalar("SELECT max(global_position) FROM events").await;
    let until = Instant::now() + SOON;
    let mut position = 0;
    while Instant::now() < until {
        position = app.scalar("SELECT last_position FROM projection_checkpoints WHERE name = 'webhook_outbox'").await;
        if position == last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(position, last, "a projector of rare events does not rescan the requests after it on every wake-up");
}
