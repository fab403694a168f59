//! Refused requests: every request a known key makes is recorded, also when
//! GaiaRouter turns it away before any provider (over a limit, invalid, unknown
//! model, revoked key, suspended organization). Identical refusals are folded;
//! the log, the stats and the organization and key pages all count them, and a
//! rebuild gives the same counts.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, user_message, TestApp};

fn echo(model: &str) -> Value {
    json!({"model": model, "messages": user_message("hello")})
}

/// Polls until `check` holds (refusals are written within a second).
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Refused rows of the log matching `query`, and how many requests they stand for.
async fn refused_in_log(app: &TestApp, query: &str) -> (Vec<Value>, i64) {
    let answer = app.get(&format!("/v1/logs?status=refused&limit=100&{query}"), &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let rows = answer.body["data"].as_array().cloned().unwrap_or_default();
    let total = rows.iter().map(|r| r["refused_count"].as_i64().unwrap()).sum();
    (rows, total)
}

async fn caught_up(app: &TestApp) -> bool {
    let status = app.get("/v1/projections", &app.admin_token).await;
    status.body["data"]
        .as_array()
        .is_some_and(|d| d.iter().all(|p| p["lag_events"] == json!(0) && p["state"] == "running"))
}

#[tokio::test]
async fn a_key_over_its_limit_has_its_refusals_folded_and_counted_in_the_log_the_stats_and_its_pages() {
    let app = spawn_app().await;
    let org = app.create_org("Thrifty").await;
    let (key_id, key) = app
        .issue_key_with(json!({"organization_id": org, "name": "one-a-month", "permission": "read",
            "limits": {"monthly_requests": 1}}))
        .await;
    assert_eq!(app.chat(&key, echo("echo/demo")).await.status, StatusCode::OK);
    // Forty refusals at once: folded into a few events, every one counted.
    let refusals = (0..40).map(|_| app.chat(&key, echo("echo/demo")));
    for answer in futures::future::join_all(refusals).await {
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.error_code(), "api_key_monthly_requests_limit");
    }
    assert!(eventually(|| async { refused_in_log(&app, &format!("api_key_id={key_id}")).await.1 == 40 }).await);
    let (rows, _) = refused_in_log(&app, &format!("api_key_id={key_id}")).await;
    assert!(rows.len() < 40, "identical refusals are folded: {} rows", rows.len());
    let row = &rows[0];
    assert_eq!(row["http_status"], 429);
    assert_eq!(row["error_kind"], "api_key_monthly_requests_limit");
    assert_eq!(row["model"], "echo/demo");
    assert_eq!(row["provider"], "");
    assert_eq!(row["cost_nanos"], 0);
    assert_eq!(row["attempts"], json!([]));
    assert_eq!(
        (row["organization_name"].as_str(), row["api_key_name"].as_str()),
        (Some("Thrifty"), Some("one-a-month"))
    );
    assert!(row["error_message"].as_str().unwrap().contains("limit"), "{row}");
    // One entry by id, for the detail drawer.
    let one = app.get(&format!("/v1/logs/{}", row["id"].as_str().unwrap()), &app.admin_token).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["refused_count"], row["refused_count"]);
    // The served request is not refused, and its row says so.
    let served = app.get(&format!("/v1/logs?api_key_id={key_id}&status=success"), &app.admin_token).await;
    assert_eq!(served.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(served.body["data"][0]["refused_count"], 1);

    assert!(eventually(|| caught_up(&app)).await);
    let stats = app.get(&format!("/v1/api-keys/{key_id}/stats"), &app.admin_token).await;
    assert_eq!(stats.body["summary"]["refused"], 40, "{}", stats.body);
    assert_eq!(stats.body["summary"]["requests"], 1, "refusals are not requests");
    assert_eq!(stats.body["refused_by_reason"]["api_key_monthly_requests_limit"], 40);
    let by_org = app.get(&format!("/v1/organizations/{org}/stats?group_by=model"), &app.admin_token).await;
    assert_eq!(by_org.body["data"][0]["key"], "echo/demo");
    assert_eq!(by_org.body["data"][0]["refused"], 40);

    for path in [format!("/v1/api-keys/{key_id}"), format!("/v1/organizations/{org}")] {
        let page = app.get(&path, &app.admin_token).await;
        let refusals = &page.body["usage"]["refusals"];
        assert_eq!(refusals[0]["reason"], "api_key_monthly_requests_limit", "{path}: {}", page.body);
        assert_eq!(refusals[0]["count"], 40);
        assert_eq!(refusals[0]["http_status"], 429);
        assert!(page.body["last_used_at"].is_string(), "{path}: the served request is its last use");
    }
    let keys = app.get(&format!("/v1/api-keys?organization_id={org}"), &app.admin_token).await;
    assert!(keys.body["data"][0]["last_used_at"].is_string(), "{}", keys.body);
    // The CSV export carries the same.
    let response = app
        .client
        .get(app.url(&format!("/v1/logs?format=csv&status=refused&api_key_id={key_id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    let csv = response.text().await.unwrap();
    assert!(csv.lines().next().unwrap().contains("refused_count,error_message"), "{csv}");
    assert!(csv.contains("one-a-month") && csv.contains("api_key_monthly_requests_limit"));
}

#[tokio::test]
async fn every_kind_of_refusal_of_a_known_key_is_recorded_and_an_unknown_key_is_not() {
    let app = spawn_app().await;
    let org = app.create_org("Refused").await;
    let (key_id, key) = app.issue_key(&org, "read").await;

    let unknown = app.chat(&key, echo("no-such/model-x")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let not_json =
        app.send_raw(Method::POST, "/v1/chat/completions", &key, "application/json", b"{nope".to_vec()).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let invalid = app.chat(&key, echo("echo/de mo\u{7f}")).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let by_messages = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", &key)
        .json(&json!({"model": "claude-nowhere", "max_tokens": 5, "messages": user_message("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_messages.status(), StatusCode::NOT_FOUND);
    // Nobody's key: nothing to attribute, nothing recorded.
    assert_eq!(app.chat("gr-nobody_0000000000000000", echo("echo/demo")).await.status, StatusCode::UNAUTHORIZED);

    let want = [
        ("model_not_found", 404, "chat_completions"),
        ("invalid_request", 400, "chat_completions"),
        ("model_not_found", 404, "messages"),
    ];
    assert!(
        eventually(|| async { refused_in_log(&app, "").await.1 == 4 }).await,
        "{:?}",
        refused_in_log(&app, "").await
    );
    let (rows, _) = refused_in_log(&app, "").await;
    for (reason, status, ingress) in want {
        assert!(
            rows.iter().any(|r| r["error_kind"] == reason && r["http_status"] == status && r["ingress"] == ingress),
            "{reason} {status} {ingress} in {rows:?}"
        );
    }
    assert!(rows.iter().any(|r| r["model"] == "no-such/model-x" && r["error_kind"] == "model_not_found"));
    let invalid_row = rows.iter().find(|r| r["model"].as_str().unwrap().starts_with("echo/de")).unwrap();
    assert_eq!(invalid_row["model"], "echo/de?mo?", "the model as sent, made printable");

    // A suspended organization's key, then a revoked key: recorded against them.
    let suspended =
        app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"status": "suspended"})).await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert!(eventually(|| async { app.chat(&key, echo("echo/demo")).await.status == StatusCode::FORBIDDEN }).await);
    let active = app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"status": "active"})).await;
    assert_eq!(active.status, StatusCode::OK);
    assert_eq!(app.delete(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await.status, StatusCode::OK);
    assert!(eventually(|| async { app.chat(&key, echo("echo/demo")).await.status == StatusCode::UNAUTHORIZED }).await);
    for reason in ["organization_suspended", "api_key_revoked"] {
        assert!(
            eventually(|| async { refused_in_log(&app, &format!("error_kind={reason}")).await.1 >= 1 }).await,
            "{reason} recorded"
        );
    }
    let filtered = app.get("/v1/logs?status=refused&error_kind=api_key_revoked", &app.admin_token).await;
    assert!(filtered.body["data"].as_array().unwrap().iter().all(|r| r["error_kind"] == "api_key_revoked"));
    let bad_status = app.get("/v1/logs?status=nope", &app.admin_token).await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stats_and_the_log_agree_on_refusals_after_a_rebuild() {
    let app = spawn_app().await;
    let org = app.create_org("Rebuilt").await;
    let (_, key) = app
        .issue_key_with(json!({"organization_id": org, "name": "tight", "permission": "read",
            "limits": {"monthly_requests": 2}}))
        .await;
    for _ in 0..9 {
        app.chat(&key, echo("echo/demo")).await;
    }
    app.chat(&key, echo("unknown/one")).await;
    let counts = || async {
        let stats = app.get(&format!("/v1/organizations/{org}/stats"), &app.admin_token).await;
        let today = chrono::Utc::now().date_naive();
        let path = format!("/v1/organizations/{org}/stats?group_by=hour&from={today}&to={today}");
        let hourly = app.get(&path, &app.admin_token).await;
        let log = refused_in_log(&app, &format!("organization_id={org}")).await.1;
        (stats.body["summary"]["refused"].as_i64(), hourly.body["summary"]["refused"].as_i64(), log)
    };
    assert!(
        eventually(|| async { counts().await == (Some(8), Some(8), 8) && caught_up(&app).await }).await,
        "{:?}",
        counts().await
    );
    for name in ["usage_rollups", "usage_hourly", "request_log"] {
        let answer = app.post(&format!("/v1/projections/{name}/rebuild"), &app.admin_token, json!({})).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    assert!(eventually(|| caught_up(&app)).await);
    assert_eq!(counts().await, (Some(8), Some(8), 8));
}

#[tokio::test]
async fn hourly_stats_cover_every_hour_of_at_most_three_days_and_series_split_the_spend() {
    let app = spawn_app().await;
    let org = app.create_org("Hourly").await;
    let (_, key) = app.issue_key(&org, "read").await;
    for model in ["echo/a", "echo/b", "echo/b"] {
        assert_eq!(app.chat(&key, echo(model)).await.status, StatusCode::OK);
    }
    assert!(eventually(|| caught_up(&app)).await);
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let hourly =
        app.get(&format!("/v1/stats?group_by=hour&from={yesterday}&to={today}&split_by=model"), &app.admin_token).await;
    assert_eq!(hourly.status, StatusCode::OK, "{}", hourly.body);
    let data = hourly.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 48, "every hour of two days");
    assert_eq!(data[0]["key"], format!("{yesterday}T00:00:00Z"));
    assert_eq!(data.iter().map(|h| h["requests"].as_i64().unwrap()).sum::<i64>(), 3);
    let series = hourly.body["series"].as_array().unwrap();
    let names: Vec<&str> = series.iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo/b", "echo/a"], "the busiest first (echo costs nothing)");
    assert!(series.iter().all(|s| s["data"].as_array().unwrap().len() == 48));
    let per_series: i64 =
        series.iter().flat_map(|s| s["data"].as_array().unwrap()).map(|p| p["requests"].as_i64().unwrap()).sum();
    assert_eq!(per_series, 3);

    let four_days = today - chrono::Duration::days(3);
    let refused = app.get(&format!("/v1/stats?group_by=hour&from={four_days}&to={today}"), &app.admin_token).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), "invalid_group_by");
    let bad_split = app.get("/v1/stats?group_by=model&split_by=model", &app.admin_token).await;
    assert_eq!(bad_split.error_code(), "invalid_split_by");
    let by_org = app.get("/v1/stats?split_by=organization", &app.admin_token).await;
    assert_eq!(by_org.body["series"][0]["label"], "Hourly", "organizations are named");
}

#[tokio::test]
async fn the_catalogue_lists_routes_and_models_with_prices_to_anyone_signed_in() {
    let app = spawn_app().await;
    let org = app.create_org("Browsers").await;
    let (_, key) = app.issue_key(&org, "read").await;
    let catalogue = app.get("/v1/catalogue", &key).await;
    assert_eq!(catalogue.status, StatusCode::OK, "{}", catalogue.body);
    let data = catalogue.body["data"].as_array().unwrap();
    assert!(data.iter().any(|m| m["kind"] == "model" && m["provider"] == "echo"), "{data:?}");
    assert!(data.iter().all(|m| m["pricing"].is_null() || m["pricing"]["input_per_million"].is_number()));
    assert_eq!(app.get("/v1/catalogue", "").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_corrupt_refusal_is_quarantined_and_the_refusals_beside_it_are_counted() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    let good = |count: u64| gaiarouter_domain::request::RequestRefused {
        organization_id: uuid::Uuid::now_v7(),
        api_key_id: uuid::Uuid::now_v7(),
        model: "echo/demo".into(),
        ingress: "chat_completions".into(),
        http_status: 429,
        reason: "api_key_daily_requests_limit".into(),
        message: "over".into(),
        count,
        first_at: chrono::Utc::now(),
        last_at: chrono::Utc::now(),
    };
    gaiarouter::usage::refusals::append(&pool, &[(uuid::Uuid::now_v7(), good(3))]).await.unwrap();
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Request', $1, 1, 'RequestRefused', '1.0', '{\"RequestRefused\": {\"count\": \"many\"}}', '{}') \
         RETURNING global_position",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    gaiarouter::usage::refusals::append(&pool, &[(uuid::Uuid::now_v7(), good(4))]).await.unwrap();
    let quarantined = |name: &'static str| {
        let app = &app;
        async move {
            let answer = app.get(&format!("/v1/projections/{name}/quarantine"), &app.admin_token).await;
            answer.body["data"].as_array().cloned().unwrap_or_default()
        }
    };
    assert!(
        eventually(|| async {
            refused_in_log(&app, "").await.1 == 7
                && caught_up(&app).await
                && quarantined("usage_rollups").await.len() == 1
                && quarantined("usage_hourly").await.len() == 1
        })
        .await
    );
    for name in ["request_log", "usage_rollups", "usage_hourly"] {
        let entries = quarantined(name).await;
        assert_eq!(entries.len(), 1, "{name}");
        assert_eq!(entries[0]["global_position"], position, "{name}");
        assert_eq!(entries[0]["event_type"], "RequestRefused");
    }
    let stats = app.get("/v1/stats", &app.admin_token).await;
    assert_eq!(stats.body["summary"]["refused"], 7);
}

/// A client that keeps hammering a key over its limit is answered after a pause
/// once it passes 40 refusals a second, so it slows itself down; the first
/// refusals are answered at once, and another key is served at once meanwhile.
#[tokio::test]
async fn a_key_hammered_past_its_limit_is_answered_after_a_pause_and_other_keys_are_not() {
    let config = gaiarouter::config::Config { refusal_pause_ms: 1_000, ..crate::helpers::test_config() };
    let app =
        crate::helpers::spawn_app_configured(config, &crate::helpers::fresh_database().await, Default::default()).await;
    let org = app.create_org("Hammering").await;
    let (_, over) = app
        .issue_key_with(json!({"organization_id": org, "name": "over", "permission": "read",
            "limits": {"monthly_requests": 0}}))
        .await;
    let (_, other) = app.issue_key(&org, "read").await;
    let timed = |key: String| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let status = app.chat(&key, echo("echo/demo")).await.status;
            (status, started.elapsed())
        }
    };
    let flood = futures::future::join_all((0..30).map(|_| timed(over.clone())));
    let (answers, (served, served_in)) = tokio::join!(flood, async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        timed(other.clone()).await
    });
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS));
    let quick = answers.iter().filter(|(_, took)| *took < Duration::from_millis(900)).count();
    let paused = answers.iter().filter(|(_, took)| *took >= Duration::from_millis(950)).count();
    assert!(quick >= 1, "the first refusals are answered at once: {answers:?}");
    assert!(paused >= 10, "the hammering ones wait: {answers:?}");
    assert_eq!(served, StatusCode::OK);
    assert!(served_in < Duration::from_millis(900), "another key is not held: {served_in:?}");
    // Every refusal is still counted.
    assert!(eventually(|| async { refused_in_log(&app, "").await.1 == 30 }).await);
}
