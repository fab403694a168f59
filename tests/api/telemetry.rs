//! Traces and logs of the real binary (a tracing subscriber is global to a
//! process, so each test starts a gateway process of its own): one trace per
//! request in a local OTLP receiver, under the client's `traceparent` and passed
//! on to the upstream; and JSON log lines that name the request, never what was
//! said or a secret.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{
    spawn_app, start_other_process_with, user_message, Lines, OtherProcess, ADMIN_PASSWORD, JWT_SECRET,
};

/// The gateway binary on `database_url` with `env`, and every line it logs.
async fn start_gateway(database_url: &str, env: &[(&str, &str)]) -> (OtherProcess, Lines) {
    let gateway = start_other_process_with(database_url, env).await;
    let lines = Arc::clone(&gateway.log);
    (gateway, lines)
}

/// An OTLP/HTTP receiver (protobuf) on a free port: answers its endpoint and the
/// spans received.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let kept = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let kept = Arc::clone(&kept);
            async move {
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                let received = request.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
                kept.lock().unwrap().extend(received);
                StatusCode::OK
            }
        }),
    );
    (crate::helpers::serve_router(app).await, spans)
}

const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The spans of `trace` once the four a request makes have arrived (10 s at most).
async fn spans_of(spans: &Arc<Mutex<Vec<Span>>>, trace: &str) -> Vec<Span> {
    let mut found = Vec::new();
    for _ in 0..100 {
        found = spans.lock().unwrap().iter().filter(|s| hex::encode(&s.trace_id) == trace).cloned().collect();
        if ["request", "admission", "upstream", "commit"].iter().all(|name| found.iter().any(|s| s.name == *name)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    found
}

fn named(trace: &[Span], name: &str) -> Span {
    let found: Vec<&Span> = trace.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` span in {:?}", trace.iter().map(|s| &s.name).collect::<Vec<_>>());
    found[0].clone()
}

#[tokio::test]
async fn a_request_with_a_traceparent_is_one_trace_with_admission_upstream_and_commit_and_the_upstream_sees_it() {
    let app = spawn_app().await;
    let org = app.create_org("Traced").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let upstream =
        FakeUpstream::start(fakes::openai::router, vec![Behaviour::Answer(Reply::Text("traced".into()))]).await;
    let (endpoint, spans) = otlp_receiver().await;
    let base_url = format!("{}/v1", upstream.origin);
    let (gateway, _) = start_gateway(
        &app.database_url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OPENAI_BASE_URL", base_url.as_str()),
            ("OPENAI_API_KEY", "upstream-key"),
        ],
    )
    .await;

    // A plain answer, then a stream (whose commit happens while its body is sent).
    let traces = [("4bf92f3577b34da6a3ce929d0e0e4736", false), ("5c0a3f3577b34da6a3ce929d0e0e4737", true)];
    for (trace_id, stream) in traces {
        let answer = app
            .client
            .post(format!("{}/v1/chat/completions", gateway.base))
            .bearer_auth(&key)
            .header("traceparent", format!("00-{trace_id}-{CLIENT_SPAN}-01"))
            .json(&json!({"model": "openai/gpt-4o-mini", "messages": user_message("hi"), "stream": stream}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.text().await.unwrap().contains("traced"));
        let sent = upstream.last_request().headers;

        let trace = spans_of(&spans, trace_id).await;
        let request = named(&trace, "request");
        assert_eq!(hex::encode(&request.parent_span_id), CLIENT_SPAN, "the request span is the child of the client's");
        for child in ["admission", "upstream", "commit"] {
            assert_eq!(
                named(&trace, child).parent_span_id,
                request.span_id,
                "`{child}` is a child of the request span"
            );
        }
        let traceparent = sent.get("traceparent").expect("the upstream request carries a traceparent");
        let upstream_span = hex::encode(named(&trace, "upstream").span_id);
        assert_eq!(traceparent.to_str().unwrap(), format!("00-{trace_id}-{upstream_span}-01"), "the attempt's span");
    }
    let elsewhere = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| !traces.iter().any(|(t, _)| hex::encode(&s.trace_id) == *t) && s.name != "request")
        .count();
    assert_eq!(elsewhere, 0, "no span of these requests lands in another trace");
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_naming_it_and_never_the_prompt_the_completion_or_a_secret() {
    let app = spawn_app().await;
    let org = app.create_org("Logged").await;
    let (key_id, key) = app.issue_key(&org, "write").await;
    let completion = "completion-text-that-must-not-be-logged";
    let upstream =
        FakeUpstream::start(fakes::openai::router, vec![Behaviour::Answer(Reply::Text(completion.into()))]).await;
    let base_url = format!("{}/v1", upstream.origin);
    let upstream_key = "upstream-secret-key-that-must-not-be-logged";
    let (gateway, lines) = start_gateway(
        &app.database_url,
        &[("GAIAROUTER_LOG_FORMAT", "json"), ("OPENAI_BASE_URL", base_url.as_str()), ("OPENAI_API_KEY", upstream_key)],
    )
    .await;
    let prompt = "prompt-text-that-must-not-be-logged";
    for stream in [false, true] {
        let answer = app
            .client
            .post(format!("{}/v1/chat/completions", gateway.base))
            .bearer_auth(&key)
            .json(&json!({"model": "openai/gpt-4o-mini", "messages": user_message(prompt), "stream": stream}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.text().await.unwrap().contains("completion-text"), "the answer had the completion");
    }

    let mut completed: Vec<Value> = Vec::new();
    for _ in 0..100 {
        completed = lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["message"] == "request completed")
            .collect();
        if completed.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(completed.len(), 2, "one line per request");
    for line in &completed {
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["organization_id"], org.as_str());
        assert_eq!(line["api_key_id"], key_id.as_str());
        assert_eq!(line["model"], "openai/gpt-4o-mini");
        assert_eq!(line["status"], "ok");
        assert_eq!(line["http_status"], 200);
        assert!(line["latency_ms"].is_u64() && line["request_id"].is_string(), "{line}");
    }
    let output = lines.lock().unwrap().clone();
    for line in &output {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "not a JSON line: {line}");
        for secret in [prompt, completion, key.as_str(), upstream_key, ADMIN_PASSWORD, JWT_SECRET] {
            assert!(!line.contains(secret), "a log line holds `{secret}`: {line}");
        }
    }
}
