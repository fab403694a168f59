//! Finding 9: every kind of answer carries the security headers, so no page or
//! JSON answer of this origin can be framed, sniffed or leak its URL.

use gaiarouter::config::Config;
use gaiarouter::gateway::ProvidersConfig;
use gaiarouter::http::security_headers::CONTENT_SECURITY_POLICY_VALUE;
use reqwest::{Method, Response};
use serde_json::json;

use super::{config_with_timeouts, Server};
use crate::helpers::test_config;

fn assert_secured(what: &str, response: &Response) {
    let headers = response.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("(missing)").to_string();
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("cross-origin-opener-policy"), "same-origin", "{what}");
    let policy = header("content-security-policy");
    assert_eq!(policy, CONTENT_SECURITY_POLICY_VALUE, "{what}");
    for directive in ["frame-ancestors 'none'", "default-src 'self'", "script-src 'self'", "connect-src 'self'"] {
        assert!(policy.contains(directive), "{what}: {directive} missing from {policy}");
    }
    assert!(!policy.contains("unsafe-eval"), "{what}: {policy}");
}

/// A dashboard build stand-in: an index page and one asset.
fn static_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gaiarouter-static-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>dashboard</title>").unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log('dashboard')").unwrap();
    dir
}

#[tokio::test]
async fn every_kind_of_answer_carries_the_security_headers() {
    let dir = static_dir();
    let config = Config { static_dir: Some(dir.clone()), ..test_config() };
    let server = Server::start(config, ProvidersConfig::default()).await;
    let key = server.write_key().await;
    let get = |path: &str| server.client.get(server.url(path)).send();
    let cases: Vec<(&str, Response)> = vec![
        ("JSON", get("/health").await.unwrap()),
        ("OpenAPI document", get("/openapi.json").await.unwrap()),
        ("401 error", get("/v1/organizations").await.unwrap()),
        ("unknown API route", get("/v1/no-such-thing").await.unwrap()),
        ("405", server.client.request(Method::PUT, server.url("/health")).send().await.unwrap()),
        (
            "bad JSON",
            server
                .client
                .post(server.url("/v1/auth/login"))
                .body("{")
                .header("content-type", "application/json")
                .send()
                .await
                .unwrap(),
        ),
        ("dashboard index", get("/").await.unwrap()),
        ("dashboard asset", get("/assets/app.js").await.unwrap()),
        ("dashboard deep link", get("/organizations/123").await.unwrap()),
        ("docs page", get("/docs/").await.unwrap()),
        ("docs asset", get("/docs/swagger-ui-bundle.js").await.unwrap()),
        (
            "SSE stream",
            server
                .client
                .post(server.url("/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&json!({"model": "echo/x", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap(),
        ),
    ];
    for (what, response) in &cases {
        assert_secured(what, response);
    }
    let statuses: Vec<u16> = cases.iter().map(|(_, r)| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 401, 404, 405, 400, 200, 200, 200, 200, 200, 200]);
    let sse = cases.last().unwrap().1.headers()["content-type"].to_str().unwrap().to_string();
    assert!(sse.starts_with("text/event-stream"), "{sse}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_body_timeout_answer_carries_them_too() {
    use super::{read_until_closed, send};
    let server = Server::start(config_with_timeouts(5_000, 300, 30_000), ProvidersConfig::default()).await;
    let mut stream = tokio::net::TcpStream::connect(server.address).await.unwrap();
    send(
        &mut stream,
        b"POST /v1/auth/login HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await;
    let outcome = read_until_closed(&mut stream, std::time::Duration::from_secs(6)).await;
    let head = outcome.received.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 408"), "{}", outcome.received);
    assert!(head.contains("x-content-type-options: nosniff"), "{}", outcome.received);
    assert!(head.contains("content-security-policy: default-src 'self'"), "{}", outcome.received);
}
