//! The floor of GaiaRouter's own stack, for the load benchmark (`scripts/bench/run.sh`):
//! the same HTTP server (an axum router on hyper's HTTP/1.1 connection, `TCP_NODELAY`,
//! as `server::connection` runs it), client (reqwest, as the
//! providers build it), runtime and allocator, doing nothing but pass each
//! `POST /v1/chat/completions` body to the upstream and its answer back, streamed,
//! unread. No key, no parsing, no routing, no record. What GaiaRouter serves beyond
//! this is what its own work costs; what this serves below the nginx hop is what
//! the stack costs.
//!
//! Usage: `bare_proxy --listen ADDR --upstream URL` (or `BARE_PROXY_LISTEN`,
//! `BARE_PROXY_UPSTREAM`; defaults `127.0.0.1:9901`, `http://127.0.0.1:9900`);
//! `GET /health` answers `ok` once it listens.
//! Never a product surface: it forwards to one fixed upstream, loopback only.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clap::Parser;
use hyper_util::rt::TokioIo;
use tower::ServiceExt;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The upstream and the client that calls it (`--client`).
enum Forward {
    /// reqwest, built as GaiaRouter's providers build theirs.
    Reqwest { client: reqwest::Client, url: reqwest::Url },
    /// hyper's own pooled client: what reqwest adds is the difference.
    Hyper { client: HyperClient, uri: axum::http::Uri },
}

type HyperClient = hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

#[derive(Clone, Copy, clap::ValueEnum)]
enum ClientKind {
    Reqwest,
    Hyper,
}

impl Forward {
    fn new(kind: ClientKind, url: reqwest::Url) -> Result<Self, String> {
        Ok(match kind {
            ClientKind::Reqwest => Forward::Reqwest {
                client: reqwest::Client::builder().tcp_nodelay(true).build().map_err(|e| e.to_string())?,
                url,
            },
            ClientKind::Hyper => {
                let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
                connector.set_nodelay(true);
                let client =
                    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
                Forward::Hyper {
                    client,
                    uri: url.as_str().parse().map_err(|e: axum::http::uri::InvalidUri| e.to_string())?,
                }
            }
        })
    }
}

async fn forward(State(forward): State<Arc<Forward>>, headers: HeaderMap, body: Bytes) -> Response {
    let kind = headers.get(header::CONTENT_TYPE);
    match &*forward {
        Forward::Reqwest { client, url } => {
            let mut request = client.post(url.clone()).body(body);
            if let Some(kind) = kind {
                request = request.header(header::CONTENT_TYPE, kind);
            }
            match request.send().await {
                Ok(answer) => {
                    let (status, kind) = (answer.status(), answer.headers().get(header::CONTENT_TYPE).cloned());
                    passed_back(status, kind, Body::from_stream(answer.bytes_stream()))
                }
                Err(error) => (StatusCode::BAD_GATEWAY, error.without_url().to_string()).into_response(),
            }
        }
        Forward::Hyper { client, uri } => {
            let mut request = axum::http::Request::post(uri.clone());
            if let Some(kind) = kind {
                request = request.header(header::CONTENT_TYPE, kind);
            }
            let Ok(request) = request.body(Body::from(body)) else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            match client.request(request).await {
                Ok(answer) => {
                    let (parts, incoming) = answer.into_parts();
                    passed_back(parts.status, parts.headers.get(header::CONTENT_TYPE).cloned(), Body::new(incoming))
                }
                Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
            }
        }
    }
}

/// The upstream's answer as the client gets it: its status, content type and body.
fn passed_back(status: StatusCode, kind: Option<axum::http::HeaderValue>, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(kind) = kind {
        response.headers_mut().insert(header::CONTENT_TYPE, kind);
    }
    response
}

fn say(message: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "bare_proxy: {message}");
}

#[derive(Parser)]
#[command(about = "GaiaRouter's stack passing bodies through unread (the load benchmark's floor)")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BARE_PROXY_LISTEN", default_value = "127.0.0.1:9901")]
    listen: String,
    /// The upstream's origin; requests go to its `/v1/chat/completions`.
    #[arg(long, env = "BARE_PROXY_UPSTREAM", default_value = "http://127.0.0.1:9900")]
    upstream: String,
    /// The upstream client: `reqwest` (as GaiaRouter's providers) or `hyper` (hyper's
    /// own pooled client, to measure what reqwest adds).
    #[arg(long, env = "BARE_PROXY_CLIENT", value_enum, default_value_t = ClientKind::Reqwest)]
    client: ClientKind,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Args { listen, upstream, client } = Args::parse();
    let url = match reqwest::Url::parse(&format!("{}/v1/chat/completions", upstream.trim_end_matches('/'))) {
        Ok(url) => url,
        Err(error) => {
            say(format_args!("invalid upstream {upstream}: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let forward_to = match Forward::new(client, url) {
        Ok(forward) => forward,
        Err(error) => {
            say(format_args!("cannot build the HTTP client: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(forward))
        .route("/health", get(|| async { "ok" }))
        .with_state(Arc::new(forward_to));
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(error) => {
            say(format_args!("cannot listen on {listen}: {error}"));
            return ExitCode::FAILURE;
        }
    };
    say(format_args!("{listen} -> {upstream}"));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                say(format_args!("accept: {error}"));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                router.clone().oneshot(request)
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
