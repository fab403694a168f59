//! `RequestCompleted` 1.0 (as written before deployments and attempts) and 2.0 in
//! one store: both are read, projected, listed and grouped, and a rebuild gives
//! back exactly what was projected live. Rows are written into `events` raw, as
//! the gateway's `record_requests` wrote them, so the old format is the real one.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{fresh_database, spawn_app, TestApp};

/// A payload in the 1.0 format, field for field as the gateway serialized
/// `RequestCompleted` before 2.0 (see git history of domain/src/request/mod.rs).
fn v1_payload(org: Uuid, key: Uuid, model: &str, provider: &str, status: u16, error: Option<&str>) -> Value {
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    json!({"RequestCompleted": {
        "organization_id": org, "api_key_id": key, "model": model, "provider": provider,
        "prompt_tokens": 11, "completion_tokens": 7, "cached_tokens": 0, "cost": 1500, "latency_ms": 40,
        "time_to_first_token_ms": null, "status": if error.is_some() { "error" } else { "success" },
        "http_status": status, "error_kind": error, "streamed": false, "started_at": at, "finished_at": at
    }})
}

/// The same request in the 2.0 format, served by `deployment` after `attempts`.
fn v2_payload(v1: &Value, deployment: &str, attempts: Value) -> Value {
    let mut payload = v1.clone();
    payload["RequestCompleted"]["deployment"] = json!(deployment);
    payload["RequestCompleted"]["attempts"] = attempts;
    payload
}

async fn append(pool: &PgPool, version: &str, payload: &Value) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Request', $1, 1, 'RequestCompleted', $2, $3, '{}')",
    )
    .bind(id.to_string())
    .bind(version)
    .bind(payload)
    .execute(pool)
    .await
    .unwrap();
    id
}

async fn wait_for_projections(app: &TestApp) {
    for _ in 0..200 {
        let status = app.get("/v1/projections", &app.admin_token).await;
        if status.body["data"]
            .as_array()
            .is_some_and(|d| d.iter().all(|p| p["lag_events"] == json!(0) && p["state"] == json!("running")))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("projections did not catch up");
}

async fn snapshot(pool: &PgPool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for table in ["usage_daily", "usage_daily_latency", "usage_daily_errors", "usage_monthly", "request_log"] {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1"))
            .fetch_all(pool)
            .await
            .unwrap();
        out.push(rows);
    }
    out
}

fn entry(entries: &[Value], id: Uuid) -> &Value {
    entries.iter().find(|e| e["id"] == json!(id)).unwrap()
}

#[tokio::test]
async fn old_and_new_request_events_are_read_projected_and_rebuilt_identically() {
    let app = spawn_app().await;
    let pool = &app.state.pool;
    let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
    let old_ok = v1_payload(org, key, "echo/a", "echo", 200, None);
    let old_failed = v1_payload(org, key, "openai/gpt-4o", "openai", 502, Some("upstream_error"));
    let failed_then_served = json!([
        {"deployment": "smart/east", "provider": "openai", "model": "gpt-4o-mini", "http_status": 0,
         "error_kind": "connect_error", "latency_ms": 3},
        {"deployment": "smart/west", "provider": "openai", "model": "gpt-4o-mini", "http_status": 200,
         "error_kind": null, "latency_ms": 35}
    ]);
    let routed = v2_payload(&old_ok, "smart/west", failed_then_served.clone());
    // The 2.0 twin of `old_ok`, as the gateway writes a single-provider request now.
    let twin_attempts = json!([{"deployment": "echo", "provider": "echo", "model": "echo/a", "http_status": 200,
                                "error_kind": null, "latency_ms": 40}]);
    let twin = v2_payload(&old_ok, "echo", twin_attempts.clone());

    let old_ok_id = append(pool, "1.0", &old_ok).await;
    let old_failed_id = append(pool, "1.0", &old_failed).await;
    let routed_id = append(pool, "2.0", &routed).await;
    let twin_id = append(pool, "2.0", &twin).await;
    wait_for_projections(&app).await;

    let token = &app.admin_token;
    let logs = app.get("/v1/logs?limit=10", token).await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.body);
    let entries = logs.body["data"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    // 1.0: the provider is the deployment, and the request its one attempt.
    assert_eq!(entry(entries, old_ok_id)["deployment"], "echo");
    assert_eq!(entry(entries, old_ok_id)["attempts"], twin_attempts);
    assert_eq!(entry(entries, old_failed_id)["deployment"], "openai");
    assert_eq!(
        entry(entries, old_failed_id)["attempts"],
        json!([{"deployment": "openai", "provider": "openai", "model": "openai/gpt-4o", "http_status": 502,
                "error_kind": "upstream_error", "latency_ms": 40}])
    );
    // 2.0: as recorded, attempts in order.
    assert_eq!(entry(entries, routed_id)["deployment"], "smart/west");
    assert_eq!(entry(entries, routed_id)["attempts"], failed_then_served);
    // An old event and its new twin read alike, but for the id.
    let strip = |e: &Value| {
        let mut e = e.clone();
        e.as_object_mut().unwrap().remove("id");
        e
    };
    assert_eq!(strip(entry(entries, old_ok_id)), strip(entry(entries, twin_id)));

    // Filtered and grouped by deployment.
    let routed_only = app.get("/v1/logs?deployment=smart/west", token).await;
    let ids: Vec<&Value> = routed_only.body["data"].as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, [&json!(routed_id)]);
    let echo = app.get("/v1/logs?deployment=echo", token).await;
    assert_eq!(echo.body["data"].as_array().unwrap().len(), 2, "old and new requests of the echo provider");
    let stats = app.get("/v1/stats?group_by=deployment", token).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.body["group_by"], "deployment");
    let groups: Vec<(String, i64)> = stats.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap().to_string(), g["requests"].as_i64().unwrap()))
        .collect();
    assert_eq!(groups, [("echo".to_string(), 2), ("openai".to_string(), 1), ("smart/west".to_string(), 1)]);
    assert_eq!(stats.body["summary"]["requests"], json!(4));
    assert_eq!(stats.body["errors_by_kind"], json!({"upstream_error": 1}));

    // The CSV export carries the deployment and its attempts (as the JSON lists them).
    let csv = app.client.get(app.url("/v1/logs?format=csv")).bearer_auth(token).send().await.unwrap();
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .contains(",streamed,deployment,attempts,ingress,cached_tokens,cache_write_tokens,reasoning_tokens,"));
    let routed_line = text.lines().find(|l| l.starts_with(&routed_id.to_string())).unwrap();
    assert!(routed_line.contains(",false,smart/west,\"[{"), "{routed_line}");
    assert!(routed_line.contains("}]\",chat_completions,0,0,0,"), "{routed_line}");
    assert_eq!(routed_line.matches("\"\"deployment\"\":").count(), 2, "two attempts: {routed_line}");

    // Rebuilt from the mixed store: exactly what was projected live.
    let live = snapshot(pool).await;
    for name in ["usage_rollups", "monthly_usage", "request_log"] {
        let answer = app.post(&format!("/v1/projections/{name}/rebuild"), token, json!({})).await;
        assert!(answer.status.is_success(), "{name}: {} {}", answer.status, answer.body);
    }
    wait_for_projections(&app).await;
    assert_eq!(snapshot(pool).await, live, "rebuilt == live");
    let quarantined: i64 =
        sqlx::query_scalar("SELECT count(*) FROM projection_quarantine").fetch_one(pool).await.unwrap();
    assert_eq!(quarantined, 0, "no event of either version is skipped");
}

#[tokio::test]
async fn a_long_deployment_filter_is_refused_naming_it() {
    let app = spawn_app().await;
    let answer = app.get(&format!("/v1/logs?deployment={}", "d".repeat(513)), &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["error"]["param"], "deployment", "{}", answer.body);
    let spec = app.get("/openapi.json", "").await;
    let schemas = &spec.body["components"]["schemas"];
    assert!(schemas["LogEntry"]["properties"]["attempts"].is_object(), "the attempts are documented");
    assert!(schemas["AttemptEntry"].is_object(), "and their shape");
    let params = spec.body["paths"]["/v1/logs"]["get"]["parameters"].as_array().unwrap();
    assert!(params.iter().any(|p| p["name"] == "deployment"), "the filter is documented");
}

/// A database projected before 2.0 is migrated: the rollups keep their rows, now
/// keyed by deployment = provider (what the upcast gives old events), the request
/// log's deployment is filled likewise, and its projector is asked to rebuild so
/// the attempts are the upcaster's.
#[tokio::test]
async fn migrating_a_projected_1_0_database_keeps_the_rollups_and_rebuilds_the_log() {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 3).await.unwrap();
    let all = sqlx::migrate!("./migrations");
    let before = sqlx::migrate::Migrator {
        migrations: Cow::Owned(all.migrations.iter().filter(|m| m.version < 20261130000700).cloned().collect()),
        ..sqlx::migrate!("./migrations")
    };
    before.run(&pool).await.unwrap();
    let (org, key, id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for sql in [
        "INSERT INTO usage_daily VALUES (current_date, $1, $2, 'echo/a', 'echo', 1, 1, 0, 0, 11, 7, 0, 1500, 40, 40, \
           40, 0, 0)",
        "INSERT INTO usage_daily_latency VALUES (current_date, $1, $2, 'echo/a', 'echo', 3, 1)",
        "INSERT INTO request_log VALUES ($3, now(), now(), $1, $2, 'echo/a', 'echo', 11, 7, 0, 1500, 40, NULL, \
           'success', 200, NULL, false)",
        "INSERT INTO projection_checkpoints (name) SELECT unnest(ARRAY['usage_rollups', 'request_log']) \
           WHERE $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL AND $3::uuid IS NOT NULL",
    ] {
        sqlx::query(sql).bind(org).bind(key).bind(id).execute(&pool).await.unwrap();
    }
    gaiarouter::postgres::migrate(&pool).await.unwrap();

    let daily: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT provider, deployment, requests FROM usage_daily").fetch_all(&pool).await.unwrap();
    assert_eq!(daily, [("echo".to_string(), "echo".to_string(), 1)]);
    let latency: Vec<String> =
        sqlx::query_scalar("SELECT deployment FROM usage_daily_latency").fetch_all(&pool).await.unwrap();
    assert_eq!(latency, ["echo"]);
    let log: (String, Value) =
        sqlx::query_as("SELECT deployment, attempts FROM request_log").fetch_one(&pool).await.unwrap();
    assert_eq!(log, ("echo".to_string(), json!([])));
    let rebuild: Vec<(String, bool)> =
        sqlx::query_as("SELECT name, rebuild_requested FROM projection_checkpoints ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rebuild, [("request_log".to_string(), true), ("usage_rollups".to_string(), false)]);
    // Since 3.0 the writer names the version it writes. Since quota leases
    // (20261130000900) there is one writer, which also settles what requests drew
    // from leases: the older calls are gone with the reservations they released.
    // Since striped counters the writer takes the stripe (20 arguments) and its
    // payloads as json, not jsonb; the call without a stripe (19, jsonb) stays for a
    // process of the previous version and passes on.
    let functions: Vec<(i16, bool, String)> = sqlx::query_as(
        "SELECT pronargs, pg_get_function_identity_arguments(oid) LIKE '%p_payloads json[]%', prosrc \
           FROM pg_proc WHERE proname = 'record_requests' ORDER BY pronargs",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(functions.iter().map(|f| (f.0, f.1)).collect::<Vec<_>>(), [(19, false), (20, true)]);
    assert!(functions[0].2.contains("0::smallint)"), "the call without a stripe writes stripe 0");
    assert!(functions[0].2.contains("p_payloads::json[]"), "the call without a stripe passes its payloads on as json");
    assert!(functions[1].2.contains("'RequestCompleted', p_version"), "record_requests writes the version it is given");
    // Rows from before 3.0 read as what their upcast events say: chat completions, no
    // cache writes, no reasoning.
    let log: (String, i64, i64) =
        sqlx::query_as("SELECT ingress, cache_write_tokens, reasoning_tokens FROM request_log")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(log, ("chat_completions".to_string(), 0, 0));
    let daily: (i64, i64, i64) =
        sqlx::query_as("SELECT cache_write_tokens, cache_write_1h_tokens, reasoning_tokens FROM usage_daily")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(daily, (0, 0, 0));
}

#[tokio::test]
async fn a_request_through_the_gateway_is_recorded_as_4_0_with_its_ingress_deployment_and_one_attempt() {
    let app = spawn_app().await;
    let org = app.create_org("Versions").await;
    let (_, secret) = app.issue_key(&org, "read").await;
    let answer = app.chat(&secret, json!({"model": "echo/v2", "messages": crate::helpers::user_message("hi")})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let versions: Vec<String> = sqlx::query_scalar("SELECT event_version FROM events WHERE aggregate_type = 'Request'")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(versions, [gaiarouter_domain::request::EVENT_VERSION]);
    assert_eq!(versions, ["4.0"]);
    let event = &app.request_events().await[0];
    assert_eq!(event["deployment"], "echo");
    assert_eq!(event["ingress"], "chat_completions");
    let attempts = event["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["deployment"], "echo");
    assert_eq!(attempts[0]["provider"], "echo");
    assert_eq!(attempts[0]["model"], "v2", "the upstream model, as the provider was asked");
    assert_eq!(attempts[0]["http_status"], 200);
    assert_eq!(attempts[0]["error_kind"], Value::Null);
    wait_for_projections(&app).await;
    let logs = app.get("/v1/logs?deployment=echo", &app.admin_token).await;
    assert_eq!(logs.body["data"][0]["attempts"].as_array().map(Vec::len), Some(1));
}
