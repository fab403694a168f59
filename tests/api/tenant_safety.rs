//! Issue 8's attacks, each replayed through the real server as a hostile tenant
//! would send it: key management that escalates, limits a key lifts on itself,
//! model ids that poisoned analytics or a whole group commit, names that spoof
//! others in the audit trail, and clients that leave before the first upstream byte.

use std::time::Duration;

use gaiarouter::gateway::providers::{ApiKey, ProvidersConfig, Timeouts, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{fresh_database, spawn_app, spawn_app_with, user_message, TestApp};

// ---------------------------------------------------------------------------
// Key management: one rule, every route × caller × target × organization.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    Operator,
    AdminKey,
    WriteKey,
    ReadKey,
    OtherOrgWriteKey,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Admin,
    Write,
    Read,
    /// The caller's own key.
    Own,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Get,
    Rename,
    Downgrade,
    ChangeLimits,
    Rotate,
    Revoke,
}

impl Action {
    const ALL: [Action; 6] =
        [Action::Get, Action::Rename, Action::Downgrade, Action::ChangeLimits, Action::Rotate, Action::Revoke];

    async fn send(self, app: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
        let path = format!("/v1/api-keys/{id}");
        let answer = match self {
            Action::Get => app.get(&path, token).await,
            Action::Rename => app.patch(&path, token, json!({"name": "renamed"})).await,
            Action::Downgrade => app.patch(&path, token, json!({"permission": "read"})).await,
            Action::ChangeLimits => app.patch(&path, token, json!({"limits": {"monthly_requests": 5}})).await,
            Action::Rotate => app.post(&format!("{path}/rotate"), token, json!({})).await,
            Action::Revoke => app.delete(&path, token).await,
        };
        (answer.status, answer.body)
    }
}

/// The rule as a table: admins do anything; other keys see only their own
/// organization (another's keys are "not found"); `read` changes nothing; `write`
/// acts only on keys whose permission is at most its own.
fn expected(caller: Caller, target: Target, action: Action) -> StatusCode {
    match caller {
        Caller::Operator | Caller::AdminKey => StatusCode::OK,
        Caller::OtherOrgWriteKey => StatusCode::NOT_FOUND,
        _ if action == Action::Get => StatusCode::OK,
        Caller::ReadKey => StatusCode::FORBIDDEN,
        Caller::WriteKey if target == Target::Admin => StatusCode::FORBIDDEN,
        Caller::WriteKey => StatusCode::OK,
    }
}

#[tokio::test]
async fn key_management_follows_one_rule_for_every_route_caller_target_and_organization() {
    let app = spawn_app().await;
    let org = app.create_org("Matrix Org").await;
    let other_org = app.create_org("Other Org").await;
    let callers = [Caller::Operator, Caller::AdminKey, Caller::WriteKey, Caller::ReadKey, Caller::OtherOrgWriteKey];
    let mut failures = Vec::new();
    for caller in callers {
        for target in [Target::Admin, Target::Write, Target::Read, Target::Own] {
            for action in Action::ALL {
                // Fresh keys for every case: rotate and revoke change them.
                let (caller_id, token) = match caller {
                    Caller::Operator => (None, app.admin_token.clone()),
                    Caller::AdminKey => issue(&app, &org, "admin").await,
                    Caller::WriteKey => issue(&app, &org, "write").await,
                    Caller::ReadKey => issue(&app, &org, "read").await,
                    Caller::OtherOrgWriteKey => issue(&app, &other_org, "write").await,
                };
                let target_id = match (target, &caller_id) {
                    (Target::Own, Some(id)) => id.clone(),
                    (Target::Own, None) => continue,
                    (Target::Admin, _) => app.issue_key(&org, "admin").await.0,
                    (Target::Write, _) => app.issue_key(&org, "write").await.0,
                    (Target::Read, _) => app.issue_key(&org, "read").await.0,
                };
                let before = key_events(&app, &target_id).await;
                let (status, body) = action.send(&app, &token, &target_id).await;
                let want = if target == Target::Own {
                    // Every key sees itself and acts on itself at its own level.
                    if caller == Caller::ReadKey && action != Action::Get {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::OK
                    }
                } else {
                    expected(caller, target, action)
                };
                if status != want {
                    failures.push(format!("{caller:?} {action:?} {target:?}: {status} (want {want}) {body}"));
                }
                if status != StatusCode::OK && action != Action::Get {
                    assert!(body.get("key").is_none(), "a refused call leaked a secret: {body}");
                    assert_eq!(key_events(&app, &target_id).await, before, "a refused call changed the key");
                    assert!(body["error"]["message"].is_string(), "{body}");
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} cases broke the rule:\n{}", failures.len(), failures.join("\n"));
}

async fn issue(app: &TestApp, org: &str, permission: &str) -> (Option<String>, String) {
    let (id, key) = app.issue_key(org, permission).await;
    (Some(id), key)
}

async fn key_events(app: &TestApp, id: &str) -> i64 {
    app.scalar(&format!("SELECT count(*) FROM events WHERE aggregate_type = 'ApiKey' AND aggregate_id = '{id}'")).await
}

#[tokio::test]
async fn a_write_key_cannot_become_an_admin_by_rotating_an_admin_key() {
    let app = spawn_app().await;
    let org = app.create_org("Escalation Org").await;
    let (admin_id, admin_key) = app.issue_key(&org, "admin").await;
    let (_, write_key) = app.issue_key(&org, "write").await;
    let rotate = app.post(&format!("/v1/api-keys/{admin_id}/rotate"), &write_key, json!({})).await;
    assert_eq!(rotate.status, StatusCode::FORBIDDEN, "{}", rotate.body);
    assert_eq!(rotate.error_code(), "permission_denied");
    assert!(rotate.body.get("key").is_none());
    // The admin key still works with its old secret.
    assert_eq!(app.get("/v1/auth/me", &admin_key).await.status, StatusCode::OK);
    let grant = app.patch(&format!("/v1/api-keys/{admin_id}"), &write_key, json!({"permission": "write"})).await;
    assert_eq!(grant.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_limited_write_key_cannot_lift_its_own_limits_or_expiry_nor_issue_keys_beyond_them() {
    let app = spawn_app().await;
    let org = app.create_org("Limited Org").await;
    let expiry = chrono::Utc::now() + chrono::Duration::days(30);
    let (own_id, own_key) = app
        .issue_key_with(json!({
            "organization_id": org, "name": "limited", "permission": "write",
            "limits": {"monthly_requests": 10, "monthly_cost_usd": 2.5}, "expires_at": expiry,
        }))
        .await;
    let own = format!("/v1/api-keys/{own_id}");
    let before = key_events(&app, &own_id).await;

    let lifts = [
        json!({"limits": {"monthly_requests": null, "monthly_cost_usd": 2.5}}),
        json!({"limits": {"monthly_requests": 11, "monthly_cost_usd": 2.5}}),
        // Limits merge (JSON merge patch): `null` removes one, and so lifts it.
        json!({"limits": {"monthly_cost_usd": null}}),
        json!({"limits": null}),
        json!({"limits": {"daily_requests": 5, "monthly_requests": 11}}),
        json!({"expires_at": null}),
        json!({"expires_at": expiry + chrono::Duration::days(1)}),
        // A harmless rename beside a refused lift changes nothing either.
        json!({"name": "sneaky", "limits": {"monthly_requests": 1000, "monthly_cost_usd": 2.5}}),
    ];
    for body in lifts {
        let answer = app.patch(&own, &own_key, body.clone()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{body} -> {}", answer.body);
        assert_eq!(answer.error_code(), "permission_denied");
    }
    assert_eq!(key_events(&app, &own_id).await, before, "refused changes wrote events");
    assert_eq!(app.get(&own, &app.admin_token).await.body["name"], "limited");

    let unlimited = json!({"name": "child", "permission": "read"});
    let answer = app.post("/v1/api-keys", &own_key, unlimited).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert_eq!(answer.body["error"]["param"], "limits");
    let forever =
        json!({"name": "child", "permission": "read", "limits": {"monthly_requests": 5, "monthly_cost_usd": 1}});
    assert_eq!(app.post("/v1/api-keys", &own_key, forever).await.status, StatusCode::FORBIDDEN);

    // Within its own ceiling it may still work: tighten itself, issue a smaller key.
    let tighter = json!({"limits": {"monthly_requests": 5, "monthly_cost_usd": 1}, "expires_at": expiry - chrono::Duration::days(1)});
    let answer = app.patch(&own, &own_key, tighter).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let child = json!({
        "name": "child", "permission": "read",
        "limits": {"monthly_requests": 5, "monthly_cost_usd": 0.5}, "expires_at": expiry - chrono::Duration::days(2),
    });
    let answer = app.post("/v1/api-keys", &own_key, child).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    // An admin lifts limits as before.
    let lifted = app.patch(&own, &app.admin_token, json!({"limits": {}, "expires_at": null})).await;
    assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.body);
}

// ---------------------------------------------------------------------------
// Names: no look-alikes in the audit trail.

#[tokio::test]
async fn names_with_invisible_or_direction_characters_are_refused_and_white_space_is_folded() {
    let app = spawn_app().await;
    let org = app.create_org("Acme").await;
    for spoof in ["Ac\u{200B}me", "\u{202E}emcA", "Acme\u{2066}", "\u{FEFF}Acme"] {
        let answer = app.post("/v1/organizations", &app.admin_token, json!({"name": spoof})).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{spoof:?}: {}", answer.body);
        assert_eq!(answer.error_code(), "invalid_name");
        let key = json!({"organization_id": org, "name": spoof, "permission": "read"});
        assert_eq!(app.post("/v1/api-keys", &app.admin_token, key).await.status, StatusCode::BAD_REQUEST);
    }
    // "Acme\u{00A0} " is "Acme" once white space is folded: the name is taken.
    let twin = app.post("/v1/organizations", &app.admin_token, json!({"name": "Acme\u{00A0} "})).await;
    assert_eq!(twin.status, StatusCode::CONFLICT, "{}", twin.body);
    let spaced = app.post("/v1/organizations", &app.admin_token, json!({"name": "Big \t  Corp"})).await;
    assert_eq!(spaced.status, StatusCode::CREATED);
    assert_eq!(spaced.body["name"], "Big Corp");
}

// ---------------------------------------------------------------------------
// The completion path: poison model ids, disconnects before the first byte.

async fn gateway(behaviour: Behaviour) -> (TestApp, FakeUpstream) {
    let upstream = FakeUpstream::start(fakes::openai::router, vec![behaviour]).await;
    let providers = ProvidersConfig {
        openai: Some(Upstream {
            base_url: format!("{}/v1", upstream.origin),
            api_key: Some(ApiKey::new("upstream-key").unwrap()),
        }),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(20),
            idle: Duration::from_secs(20),
            stream: Duration::from_secs(20),
        },
        ..ProvidersConfig::default()
    };
    (spawn_app_with(&fresh_database().await, providers).await, upstream)
}

fn hostile_models() -> Vec<String> {
    vec![
        format!("openai/{}", "x".repeat(3_000)),
        "openai/gpt-4o\u{0}".to_string(),
        "openai/gpt\u{202E}4o".to_string(),
        "openai/gpt 4o".to_string(),
    ]
}

#[tokio::test]
async fn poison_model_ids_fired_among_good_requests_are_refused_and_every_good_one_is_recorded() {
    let (app, upstream) = gateway(Behaviour::Answer(Reply::Text("fine".into()))).await;
    let org = app.create_org("Poison Org").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let mut calls = Vec::new();
    for round in 0..6 {
        for model in hostile_models() {
            let (app, key) = (&app, key.clone());
            calls.push(Box::pin(async move {
                let stream = round % 2 == 0;
                let body = json!({"model": model, "stream": stream, "messages": user_message("hi")});
                (false, app.call(Method::POST, "/v1/chat/completions", &key, Some(body)).await)
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>);
        }
        for _ in 0..4 {
            let (app, key) = (&app, key.clone());
            calls.push(Box::pin(async move {
                let body =
                    json!({"model": "openai/gpt-4o-mini", "stream": round % 2 == 0, "messages": user_message("hi")});
                let response = app
                    .client
                    .post(app.url("/v1/chat/completions"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let text = response.text().await.unwrap();
                assert!(status != StatusCode::OK || text.contains("fine"), "{text}");
                (true, crate::helpers::Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) })
            }));
        }
    }
    let answers = futures::future::join_all(calls).await;
    let mut good = 0;
    for (is_good, answer) in &answers {
        if *is_good {
            assert_eq!(answer.status, StatusCode::OK, "a good request failed: {}", answer.body);
            good += 1;
        } else {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
            assert_eq!(answer.body["error"]["param"], "model");
        }
    }
    assert_eq!(good, 24);
    assert_eq!(upstream.requests().len(), 24, "no poison request reached the provider");
    let events = app.request_events().await;
    assert_eq!(events.len(), 24, "every good request is recorded, nothing else");
    assert!(events.iter().all(|e| e["status"] == "success"));

    // Analytics keep running and count exactly the good requests.
    let mut rollup = 0;
    for _ in 0..100 {
        rollup = app.scalar("SELECT coalesce(sum(requests), 0)::bigint FROM usage_daily").await;
        if rollup == 24 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rollup, 24);
    let projections = app.get("/v1/projections", &app.admin_token).await;
    for projection in projections.body["data"].as_array().unwrap() {
        assert_ne!(projection["state"], "stopped", "{projection}");
    }
}

/// Admission reserves for keys with limits; a reservation must never outlive its request.
async fn limited_key(app: &TestApp) -> String {
    let org = app.create_org("Leaving Org").await;
    let body =
        json!({"organization_id": org, "name": "limited", "permission": "write", "limits": {"monthly_requests": 100}});
    app.issue_key_with(body).await.1
}

async fn recorded_after_disconnect(app: &TestApp) -> Vec<Value> {
    for _ in 0..100 {
        let events = app.request_events().await;
        if !events.is_empty() {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn a_client_that_leaves_before_the_first_upstream_byte_is_recorded_and_its_reservation_released() {
    for stream in [false, true] {
        // The upstream never answers: only the client's leaving can end the request
        // (the upstream timeout, 20 s, is far beyond this test).
        let (app, upstream) = gateway(Behaviour::Hang).await;
        let key = limited_key(&app).await;
        let client = reqwest::Client::builder().timeout(Duration::from_millis(400)).build().unwrap();
        let body = json!({"model": "openai/gpt-4o-mini", "stream": stream, "messages": user_message("hi")});
        let sent = client.post(app.url("/v1/chat/completions")).bearer_auth(&key).json(&body).send().await;
        assert!(sent.is_err(), "the fake upstream hangs, so the client must time out");
        let events = recorded_after_disconnect(&app).await;
        assert_eq!(upstream.requests().len(), 1, "the provider was called");
        assert_eq!(events.len(), 1, "stream={stream}: the abandoned request is recorded once");
        assert_eq!(events[0]["error_kind"], "client_disconnected", "{}", events[0]);
        assert_eq!(events[0]["http_status"], 499);
        assert_eq!(events[0]["streamed"], stream);
        assert!(app.leases_all_returned().await, "nothing stays in flight");
        let used = app.scalar("SELECT coalesce(max(requests), 0)::bigint FROM quota_usage").await;
        assert_eq!(used, 1, "the request counts against the limit once");
    }
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_recorded_as_disconnected_with_the_usage_seen() {
    // The upstream sends the start of the reply, then goes silent for longer than
    // the test runs: only the client's leaving can end the request.
    let (app, _upstream) = gateway(Behaviour::StallStream(Reply::Text("never ending story".into()))).await;
    let key = limited_key(&app).await;
    let body = json!({"model": "openai/gpt-4o-mini", "stream": true, "messages": user_message("hi")});
    let mut response =
        app.client.post(app.url("/v1/chat/completions")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("data:"), "content was streamed before leaving");
    drop(response);
    let events = recorded_after_disconnect(&app).await;
    assert_eq!(events.len(), 1, "the abandoned stream is recorded once");
    assert_eq!(events[0]["error_kind"], "client_disconnected", "{}", events[0]);
    assert_eq!(events[0]["http_status"], 499);
    assert!(events[0]["time_to_first_token_ms"].is_u64(), "the first token was seen: {}", events[0]);
    assert!(app.leases_all_returned().await, "nothing stays in flight");
}

/// A client that leaves a stream before its usage report (OpenAI's comes in the
/// last chunk) still pays for what it was sent: the prompt as admission estimates
/// it and the text passed on at 4 bytes a token, marked as estimated, counted
/// against its key's token limit. Before, it was recorded as zero tokens: a key
/// with a token budget could read answer after answer for free by leaving each
/// one just before its end.
#[tokio::test]
async fn a_client_that_leaves_mid_stream_before_the_usage_report_pays_for_what_it_was_sent() {
    let reply = "a long answer, cut short ".repeat(40);
    let (app, _upstream) = gateway(Behaviour::StallStream(Reply::Text(reply.clone()))).await;
    let org = app.create_org("Leaving Early").await;
    let body = json!({"organization_id": org, "name": "budgeted", "permission": "write",
                      "limits": {"monthly_tokens": 1_000_000}});
    let (key_id, key) = app.issue_key_with(body).await;
    // 2,000 bytes of prompt: admission estimates 500 tokens and one of framing.
    let body = json!({"model": "openai/gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
                      "messages": user_message(&"q".repeat(2_000))});
    let mut response =
        app.client.post(app.url("/v1/chat/completions")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Some of the answer's text, then gone (the fake cuts the text into deltas at random).
    let mut received = String::new();
    while !received.contains(r#""content":"a"#) {
        let chunk = response.chunk().await.unwrap().unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    let events = recorded_after_disconnect(&app).await;
    assert_eq!(events.len(), 1, "the abandoned stream is recorded once");
    let event = &events[0];
    assert_eq!(event["error_kind"], "client_disconnected", "{event}");
    assert_eq!(event["usage_estimated"], true, "{event}");
    assert_eq!(event["prompt_tokens"], 501, "{event}");
    let completion = event["completion_tokens"].as_u64().unwrap();
    // At least the text the client read, at most the whole reply.
    assert!((1..=reply.len().div_ceil(4) as u64).contains(&completion), "{event}");
    assert!(event["cost"].as_i64().unwrap() > 0, "{event}");
    let owner = app.get(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await;
    assert_eq!(owner.body["usage"]["periods"]["total"]["tokens"], json!(501 + completion), "{}", owner.body);
    assert!(app.leases_all_returned().await, "nothing stays in flight");
}
