//! The HTTP edge against hostile or careless clients (issue 8, findings 8, 9
//! and 11a): server timeouts, security headers, the embedded docs and
//! server-made request ids.

mod docs;
mod request_ids;
mod security_headers;
mod slow_clients;

use std::net::SocketAddr;
use std::time::Duration;

use gaiarouter::app;
use gaiarouter::config::Config;
use gaiarouter::gateway::ProvidersConfig;
use gaiarouter::state::AppState;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::helpers::{fresh_database, test_config, ADMIN_PASSWORD, ADMIN_USER};

/// A server started with a config of the test's choosing (short timeouts, a
/// static dir); stopped when dropped.
pub struct Server {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    _state: AppState,
    _shutdown: oneshot::Sender<()>,
}

impl Server {
    pub async fn start(config: Config, providers: ProvidersConfig) -> Server {
        let state = app::prepare_with_providers(config, &fresh_database().await, providers).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            let _ = app::serve(serving, listener, async move {
                let _ = stop.await;
            })
            .await;
        });
        Server { address, client: reqwest::Client::new(), _state: state, _shutdown: shutdown }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Logs in as the first operator, makes an organization and a `write` key.
    pub async fn write_key(&self) -> String {
        let login: Value = self
            .client
            .post(self.url("/v1/auth/login"))
            .json(&json!({"username": ADMIN_USER, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_string();
        let org =
            self.client.post(self.url("/v1/organizations")).bearer_auth(&token).json(&json!({"name": "Edge Org"}));
        let org: Value = org.send().await.unwrap().json().await.unwrap();
        let key = self
            .client
            .post(self.url("/v1/api-keys"))
            .bearer_auth(&token)
            .json(&json!({"organization_id": org["id"], "name": "edge key", "permission": "write"}));
        let key = key.send().await.unwrap();
        assert_eq!(key.status(), StatusCode::CREATED);
        key.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_string()
    }
}

/// The test config with the given server timeouts (milliseconds).
pub fn config_with_timeouts(header_read: u64, body_read: u64, idle: u64) -> Config {
    Config {
        header_read_timeout_ms: header_read,
        body_read_timeout_ms: body_read,
        idle_timeout_ms: idle,
        ..test_config()
    }
}

/// What came back on a raw connection before the server closed it (or `wait` passed).
pub struct RawOutcome {
    pub received: String,
    pub closed: bool,
}

/// Reads until the server closes the connection or `wait` passes.
pub async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> RawOutcome {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    let closed = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => break false,
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    };
    RawOutcome { received: String::from_utf8_lossy(&received).into_owned(), closed }
}

/// Sends raw bytes, ignoring a closed connection (the server may cut it first).
pub async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes).await;
}
