//! The router through the real server and fake upstreams: weights, failover to
//! another deployment, cooldown and recovery, 429 with `Retry-After`, streams
//! that fail before or after their first token, fallback routes, and a weight
//! changed on one process used by another.

use std::time::{Duration, Instant};

use gaiarouter::gateway::providers::ProvidersConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{fake_upstream_providers, fresh_database, serve_router, spawn_app_with, user_message, TestApp};

fn answer(text: &str) -> Behaviour {
    Behaviour::Answer(Reply::Text(text.into()))
}

/// A gateway whose OpenAI and Anthropic keys are configured (deployments inherit
/// them), with timeouts short enough for failures to be quick.
async fn gateway() -> TestApp {
    spawn_app_with(&fresh_database().await, providers()).await
}

fn providers() -> ProvidersConfig {
    fake_upstream_providers()
}

async fn openai(script: Vec<Behaviour>) -> FakeUpstream {
    FakeUpstream::start(fakes::openai::router, script).await
}

fn deployment(id: &str, fake: &FakeUpstream, weight: u32) -> Value {
    json!({"id": id, "provider": "openai", "model": "gpt-4o-mini", "base_url": format!("{}/v1", fake.origin), "weight": weight})
}

async fn create_route(app: &TestApp, body: Value) -> String {
    let answer = app.post("/v1/routes", &app.admin_token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.id()
}

async fn key(app: &TestApp) -> String {
    let org = app.create_org("Routed").await;
    app.issue_key(&org, "write").await.1
}

fn ask(model: &str) -> Value {
    json!({"model": model, "messages": user_message("hi")})
}

#[tokio::test]
async fn weights_3_to_1_send_three_quarters_of_the_requests_to_the_first_deployment() {
    let app = gateway().await;
    let (heavy, light) = (openai(vec![answer("heavy")]).await, openai(vec![answer("light")]).await);
    create_route(
        &app,
        json!({"name": "weighted", "deployments": [deployment("heavy", &heavy, 3), deployment("light", &light, 1)]}),
    )
    .await;
    let key = key(&app).await;
    let total = 4_000;
    let clients = 16;
    let calls = (0..clients).map(|_| {
        let (app, key) = (&app, key.clone());
        async move {
            for _ in 0..total / clients {
                let answer = app.chat(&key, ask("weighted")).await;
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            }
        }
    });
    futures::future::join_all(calls).await;
    let share = heavy.requests().len() as f64 / total as f64;
    assert_eq!(heavy.requests().len() + light.requests().len(), total);
    assert!((0.72..=0.78).contains(&share), "the 3:1 deployment served {share:.3} of the requests");
}

#[tokio::test]
async fn a_failing_deployment_is_retried_on_another_then_cooled_down_and_used_again_once_it_recovers() {
    let app = gateway().await;
    let (broken, healthy) =
        (openai(vec![Behaviour::Fail { status: 500, message: "boom".into() }]).await, openai(vec![answer("ok")]).await);
    let id = create_route(
        &app,
        json!({"name": "failover", "deployments": [deployment("broken", &broken, 1000), deployment("healthy", &healthy, 1)],
               "cooldown_after_failures": 2, "cooldown_seconds": 2}),
    )
    .await;
    let key = key(&app).await;
    // The broken one is almost always picked first (weight 1000:1); every client still gets 200.
    for _ in 0..6 {
        let answer = app.chat(&key, ask("failover")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    let tried_while_broken = broken.requests().len();
    assert!((2..=3).contains(&tried_while_broken), "cooled down after 2 failures: tried {tried_while_broken} times");
    let events = app.request_events().await;
    let retried = events
        .iter()
        .find(|e| e["attempts"].as_array().is_some_and(|a| a.len() == 2))
        .expect("an event with both attempts");
    assert_eq!(retried["attempts"][0]["deployment"], "failover/broken");
    assert_eq!(retried["attempts"][0]["http_status"], 500);
    assert_eq!(retried["attempts"][1]["deployment"], "failover/healthy");
    assert_eq!(retried["deployment"], "failover/healthy");
    // The cooldown shows on the route, and the route is listed as a model.
    let route = app.get(&format!("/v1/routes/{id}"), &app.admin_token).await;
    let health = &route.body["deployments"][0]["health"];
    assert_eq!(health["cooling_down"], true, "{}", route.body);
    assert!(health["consecutive_failures"].as_u64().unwrap() >= 2);
    let models = app.get("/v1/models", &key).await;
    assert!(models.body["data"].as_array().unwrap().iter().any(|m| m["id"] == "failover"), "{}", models.body);

    // After the cooldown one request probes it; it has recovered, so it serves again.
    broken.set_script(vec![answer("recovered")]);
    let cooled_until = Instant::now() + Duration::from_millis(2_100);
    tokio::time::sleep_until(cooled_until.into()).await;
    for _ in 0..5 {
        assert_eq!(app.chat(&key, ask("failover")).await.status, StatusCode::OK);
    }
    assert!(broken.requests().len() >= tried_while_broken + 3, "the recovered deployment serves again");
}

#[tokio::test]
async fn a_deployment_that_answers_429_with_retry_after_is_skipped_for_that_long() {
    let app = gateway().await;
    let (limited, other) =
        (openai(vec![Behaviour::RateLimited { retry_after_secs: 2 }]).await, openai(vec![answer("ok")]).await);
    create_route(&app, json!({"name": "limited", "deployments": [deployment("limited", &limited, 1000), deployment("other", &other, 1)]}))
        .await;
    let key = key(&app).await;
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(app.chat(&key, ask("limited")).await.status, StatusCode::OK);
    }
    assert_eq!(limited.requests().len(), 1, "skipped after its 429 while the others serve");
    limited.set_script(vec![answer("ok again")]);
    tokio::time::sleep_until((started + Duration::from_millis(2_100)).into()).await;
    for _ in 0..3 {
        assert_eq!(app.chat(&key, ask("limited")).await.status, StatusCode::OK);
    }
    assert!(limited.requests().len() >= 3, "used again after Retry-After");
}

#[tokio::test]
async fn a_stream_fails_over_before_its_first_token_and_ends_with_an_error_event_after_it() {
    let app = gateway().await;
    let (cut, whole) = (
        openai(vec![Behaviour::Fail { status: 503, message: "overloaded".into() }]).await,
        openai(vec![answer("served by the second")]).await,
    );
    create_route(
        &app,
        json!({"name": "streams", "deployments": [deployment("first", &cut, 1000), deployment("second", &whole, 1)]}),
    )
    .await;
    let key = key(&app).await;
    let body = json!({"model": "streams", "stream": true, "messages": user_message("hi")});
    let (status, data) = app.chat_stream(&key, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let text: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "served by the second");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));

    // After the first token there is no failover: an error event, then [DONE].
    cut.set_script(vec![Behaviour::ErrorMidStream(Reply::Text("half an answer".into()))]);
    whole.set_script(vec![Behaviour::ErrorMidStream(Reply::Text("half an answer".into()))]);
    let (status, data) = app.chat_stream(&key, body).await;
    assert_eq!(status, StatusCode::OK);
    assert!(data.iter().any(|d| d.contains("\"error\"")), "{data:?}");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let events = app.request_events().await;
    let last = events.last().unwrap();
    assert_eq!(last["status"], "error");
    assert_eq!(last["attempts"].as_array().unwrap().len(), 1, "no retry after the first token: {last}");
}

#[tokio::test]
async fn a_route_whose_deployments_are_all_down_falls_back_to_another_route_on_another_provider() {
    let app = gateway().await;
    let down = openai(vec![Behaviour::Fail { status: 500, message: "down".into() }]).await;
    let claude = FakeUpstream::start(fakes::anthropic::router, vec![answer("from the fallback")]).await;
    create_route(
        &app,
        json!({"name": "claude-backup", "deployments": [{"id": "c", "provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": claude.origin}]}),
    )
    .await;
    create_route(
        &app,
        json!({"name": "primary", "deployments": [deployment("only", &down, 1)], "fallbacks": ["claude-backup"]}),
    )
    .await;
    let key = key(&app).await;
    let answer = app.chat(&key, ask("primary")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["choices"][0]["message"]["content"], "from the fallback");
    assert_eq!(answer.body["model"], "primary", "the client sees the model it asked for");
    let event = app.request_events().await.pop().unwrap();
    assert_eq!(event["deployment"], "claude-backup/c");
    assert_eq!(event["provider"], "anthropic");
}

#[tokio::test]
async fn a_weight_changed_on_one_process_is_used_by_another_within_a_second() {
    let a = gateway().await;
    let b = spawn_app_with(&a.database_url, providers()).await;
    let (first, second) = (openai(vec![answer("first")]).await, openai(vec![answer("second")]).await);
    let id = create_route(&a, json!({"name": "shifting", "deployments": [deployment("first", &first, 1000), deployment("second", &second, 1)]}))
        .await;
    let key = key(&a).await;
    let changed = a
        .patch(
            &format!("/v1/routes/{id}"),
            &a.admin_token,
            json!({"deployments": [deployment("first", &first, 1), deployment("second", &second, 1000)]}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut moved = false;
    while Instant::now() < deadline && !moved {
        let before = second.requests().len();
        assert_eq!(b.chat(&key, ask("shifting")).await.status, StatusCode::OK);
        moved = second.requests().len() > before;
    }
    assert!(moved, "process B still routes by the old weights after 1 s");
    let history = a.history(&format!("/v1/routes/{id}/history")).await;
    assert_eq!(TestApp::event_types(&history), ["RouteCreated", "RouteUpdated"]);
    assert_eq!(history[1]["actor"]["type"], "operator");
}

#[tokio::test]
async fn a_route_may_fall_back_to_a_built_in_model_id() {
    let app = gateway().await;
    let down = openai(vec![Behaviour::Fail { status: 503, message: "down".into() }]).await;
    create_route(
        &app,
        json!({"name": "to-echo", "deployments": [deployment("only", &down, 1)], "fallbacks": ["echo/backup"]}),
    )
    .await;
    let unknown = app
        .post(
            "/v1/routes",
            &app.admin_token,
            json!({"name": "nowhere", "deployments": [deployment("x", &down, 1)], "fallbacks": ["no-such"]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert_eq!(unknown.body["error"]["param"], "fallbacks[0]");
    let key = key(&app).await;
    let answer = app.chat(&key, json!({"model": "to-echo", "messages": user_message("echo me")})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["choices"][0]["message"]["content"], "echo me");
    let event = app.request_events().await.pop().unwrap();
    assert_eq!(event["deployment"], "echo");
    let attempts: Vec<&str> =
        event["attempts"].as_array().unwrap().iter().map(|a| a["deployment"].as_str().unwrap()).collect();
    assert_eq!(attempts, ["to-echo/only", "echo"]);
}

#[tokio::test]
async fn a_deployment_at_its_requests_per_minute_is_passed_over_for_the_others() {
    let app = gateway().await;
    let (small, big) = (openai(vec![answer("small")]).await, openai(vec![answer("big")]).await);
    let mut capped = deployment("small", &small, 1000);
    capped["rpm"] = json!(2);
    create_route(&app, json!({"name": "capped", "deployments": [capped, deployment("big", &big, 1)]})).await;
    let key = key(&app).await;
    for _ in 0..6 {
        assert_eq!(app.chat(&key, ask("capped")).await.status, StatusCode::OK);
    }
    assert_eq!(small.requests().len(), 2, "its 2 requests per minute, then the others serve");
    assert_eq!(big.requests().len(), 4);
}

/// An upstream that never reports usage still fills its deployment's tokens per
/// minute: what the gateway records (its estimate) is what the deployment is charged.
#[tokio::test]
async fn a_deployment_whose_upstream_reports_no_usage_is_charged_its_estimate_per_minute() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let served = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&served);
    let silent = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async {
            axum::Json(json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": "word ".repeat(80)},
                                           "finish_reason": "stop"}],
                              "usage": null}))
        }
    });
    let origin = format!("{}/v1", serve_router(silent).await);
    let app = gateway().await;
    let big = openai(vec![answer("big")]).await;
    let capped = json!({"id": "silent", "provider": "openai", "model": "gpt-4o-mini", "base_url": origin,
                        "weight": 1000, "tpm": 50});
    create_route(&app, json!({"name": "capped", "deployments": [capped, deployment("big", &big, 1)]})).await;
    let key = key(&app).await;
    for _ in 0..4 {
        assert_eq!(app.chat(&key, ask("capped")).await.status, StatusCode::OK);
    }
    assert_eq!(served.load(Ordering::SeqCst), 1, "its one answer (~100 tokens) filled its 50 a minute");
    assert_eq!(big.requests().len(), 3);
    let events = app.request_events().await;
    let silent_event = events.iter().find(|e| e["deployment"] == "capped/silent").unwrap();
    assert_eq!(silent_event["usage_estimated"], true, "{silent_event}");
}
