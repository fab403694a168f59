//! The gateway's own provider key refused upstream, each provider's way (OpenAI and
//! OpenRouter 401, Anthropic 401 `authentication_error`, Gemini 400 `API_KEY_INVALID`,
//! and 403 from any of them): the client gets a 502 `upstream_auth_failed` that says
//! the gateway is misconfigured, never the provider's words (OpenAI's quote the key),
//! and the call is recorded.

use reqwest::StatusCode;
use serde_json::json;

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{four_providers_at, fresh_database, serve_router, spawn_app_with, user_message, TestApp};

/// What the operator configured: a key the fakes do not accept.
const CONFIGURED_KEY: &str = "sk-operator-key-7c1d";

const MODELS: [&str; 4] = [
    "openai/gpt-4o-mini",
    "openrouter/anthropic/claude-sonnet-4.5",
    "anthropic/claude-sonnet-4-5",
    "google/gemini-2.5-flash",
];

/// A gateway whose providers point at fakes playing `script`; with `good_key` false
/// the fakes accept only another key than the configured one.
async fn gateway(script: Vec<Behaviour>, good_key: bool) -> (TestApp, String, Vec<FakeUpstream>) {
    let fakes = vec![
        FakeUpstream::start(fakes::openai::router, script.clone()).await,
        FakeUpstream::start(fakes::openai::openrouter_router, script.clone()).await,
        FakeUpstream::start(fakes::anthropic::router, script.clone()).await,
        FakeUpstream::start(fakes::gemini::router, script).await,
    ];
    for fake in &fakes {
        fake.require_key(if good_key { CONFIGURED_KEY } else { "the-key-the-provider-knows" });
    }
    let origins = [0, 1, 2, 3].map(|i| fakes[i].origin.as_str());
    let (app, client_key) = gateway_at(origins, "Key Trouble Org").await;
    (app, client_key, fakes)
}

/// A gateway holding [`CONFIGURED_KEY`] for OpenAI, OpenRouter, Anthropic and Gemini
/// at these origins (in that order), and a `write` key of a new organization.
async fn gateway_at(origins: [&str; 4], org: &str) -> (TestApp, String) {
    let providers = four_providers_at(origins, CONFIGURED_KEY);
    let app = spawn_app_with(&fresh_database().await, providers).await;
    let org = app.create_org(org).await;
    let (_, client_key) = app.issue_key(&org, "write").await;
    (app, client_key)
}

async fn assert_bad_gateway_without_upstream_words(app: &TestApp, client_key: &str) {
    for model in MODELS {
        for stream in [false, true] {
            let body = json!({"model": model, "stream": stream, "messages": user_message("Hi")});
            let answer = app.chat(client_key, body).await;
            assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{model} stream={stream}: {}", answer.body);
            assert_eq!(answer.error_code(), "upstream_auth_failed", "{model}");
            let text = answer.body.to_string();
            assert!(text.contains("GaiaRouter's credentials"), "{model}: {text}");
            assert!(!text.contains("7c1d"), "{model}: the operator's key shows through: {text}");
            assert!(!text.contains("API key not valid") && !text.contains("may not use"), "{model}: {text}");
        }
    }
    let events = app.request_events().await;
    assert_eq!(events.len(), MODELS.len() * 2);
    assert!(events.iter().all(|e| e["error_kind"] == "upstream_auth_failed" && e["http_status"] == 502), "{events:?}");
}

#[tokio::test]
async fn a_wrong_provider_key_is_a_bad_gateway_for_every_provider_and_never_echoed() {
    let (app, client_key, fakes) = gateway(vec![Behaviour::Answer(Reply::Text("never".into()))], false).await;
    assert_bad_gateway_without_upstream_words(&app, &client_key).await;
    assert!(fakes.iter().all(|f| f.requests().len() == 2), "each provider was asked, with the configured key");
}

#[tokio::test]
async fn a_forbidden_provider_key_is_a_bad_gateway_for_every_provider() {
    let forbidden = Behaviour::Fail { status: 403, message: "this key may not use this model".into() };
    let (app, client_key, _fakes) = gateway(vec![forbidden], true).await;
    assert_bad_gateway_without_upstream_words(&app, &client_key).await;
}

/// An upstream that answers every call with a redirect to `target`, and one that
/// notes every call that reaches it: a provider (or whatever answers at its address)
/// must not be able to send the gateway's request, and the key in its headers, on.
type SeenHeaders = std::sync::Arc<std::sync::Mutex<Vec<axum::http::HeaderMap>>>;

/// A server noting the headers of every request it gets and answering `status`: its
/// origin and what it saw.
async fn header_collector(status: axum::http::StatusCode) -> (String, SeenHeaders) {
    use axum::http::HeaderMap;
    use std::sync::Arc;
    let seen: SeenHeaders = Arc::default();
    let noted = Arc::clone(&seen);
    let collector = axum::Router::new().fallback(move |headers: HeaderMap| {
        let noted = Arc::clone(&noted);
        async move {
            noted.lock().unwrap().push(headers);
            status
        }
    });
    (serve_router(collector).await, seen)
}

async fn redirecting_to_a_collector() -> (String, SeenHeaders) {
    use axum::http::{header, StatusCode as Status};
    let (collector_origin, seen) = header_collector(Status::OK).await;
    let redirector = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let location = format!("{collector_origin}{uri}");
        async move { (Status::TEMPORARY_REDIRECT, [(header::LOCATION, location)]) }
    });
    (serve_router(redirector).await, seen)
}

#[tokio::test]
async fn a_provider_redirect_is_not_followed_so_the_key_goes_nowhere_else() {
    let (origin, seen) = redirecting_to_a_collector().await;
    let (app, client_key) = gateway_at([origin.as_str(); 4], "Redirected Org").await;
    for model in MODELS {
        for stream in [false, true] {
            let body = json!({"model": model, "stream": stream, "messages": user_message("Hi")});
            let answer = app.chat(&client_key, body).await;
            assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{model} stream={stream}: {}", answer.body);
        }
    }
    let seen = seen.lock().unwrap();
    assert!(seen.is_empty(), "the redirect was followed: {seen:?}");
}

/// Whoever manages routes (here an organization's `admin` key) cannot read a
/// provider's configured key by pointing a deployment at a server of their own: the key
/// goes only to the scheme and host it was configured for, and `env:` names only the
/// variables the gateway's deployer listed.
#[tokio::test]
async fn a_route_to_another_host_gets_no_configured_key_and_names_no_unlisted_variable() {
    let (collector, seen) = header_collector(axum::http::StatusCode::UNAUTHORIZED).await;
    // The providers are configured at 127.0.0.1; the collector is reached as `localhost`.
    let (app, client_key) = gateway_at(
        ["http://127.0.0.1:9/v1", "http://127.0.0.1:9/api/v1", "http://127.0.0.1:9", "http://127.0.0.1:9"],
        "Collecting Org",
    )
    .await;
    let org = app.create_org("Route Admins").await;
    let (_, admin_key) = app.issue_key(&org, "admin").await;
    let elsewhere = collector.replacen("127.0.0.1", "localhost", 1);
    for (kind, base) in
        [("openai", format!("{elsewhere}/v1")), ("anthropic", elsewhere.clone()), ("google", elsewhere.clone())]
    {
        let route = json!({"name": format!("to-{kind}"), "deployments": [{"id": "d", "provider": kind, "model": "m", "base_url": base}], "max_attempts": 1});
        let created = app.post("/v1/routes", &admin_key, route).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(
            app.chat(&client_key, json!({"model": format!("to-{kind}"), "messages": user_message("Hi")})).await.status,
            StatusCode::BAD_GATEWAY
        );
    }
    std::env::set_var("GR_PROVIDER_KEYS_TEST_PROCESS_SECRET", "the-process-secret");
    for variable in ["GR_PROVIDER_KEYS_TEST_PROCESS_SECRET", "GAIAROUTER_JWT_SECRET", "DATABASE_URL"] {
        let route = json!({"name": "exfil", "deployments": [{"id": "d", "provider": "openai", "model": "m",
                           "base_url": format!("{elsewhere}/v1"), "credential": format!("env:{variable}")}]});
        let refused = app.post("/v1/routes", &admin_key, route).await;
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (StatusCode::BAD_REQUEST, "credential_not_allowed"),
            "{}",
            refused.body
        );
        assert!(!refused.body.to_string().contains("the-process-secret"));
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "each route's one call reached the collector");
    for headers in seen.iter() {
        for name in ["authorization", "x-api-key", "x-goog-api-key"] {
            assert!(headers.get(name).is_none(), "{name} was sent to another host: {headers:?}");
        }
    }
}
