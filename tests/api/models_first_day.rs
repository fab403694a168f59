//! Models as a new user meets them: one model however it is spelled, the README's
//! models file and echo model, and custom models without a price made visible.

use gaiarouter::config::Config;
use gaiarouter::gateway::providers::{ApiKey, ProvidersConfig, Upstream};
use reqwest::StatusCode;
use serde_json::json;

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{fresh_database, spawn_app_configured, test_config, user_message};

fn pointing_at(upstream: &FakeUpstream) -> Upstream {
    Upstream { base_url: format!("{}/v1", upstream.origin), api_key: Some(ApiKey::new("upstream-key").unwrap()) }
}

#[tokio::test]
async fn a_bare_model_id_and_its_provider_form_are_one_model_in_the_events_the_stats_and_the_log() {
    let upstream = FakeUpstream::start(fakes::openai::router, vec![Behaviour::Answer(Reply::Text("Hi".into()))]).await;
    let providers = ProvidersConfig { openai: Some(pointing_at(&upstream)), ..ProvidersConfig::default() };
    let app = spawn_app_configured(test_config(), &fresh_database().await, providers).await;
    let org = app.create_org("Spellings").await;
    let (_, key) = app.issue_key(&org, "write").await;
    for model in ["gpt-4o", "openai/gpt-4o"] {
        let answer = app.chat(&key, json!({"model": model, "messages": user_message("Hello")})).await;
        assert_eq!(answer.status, StatusCode::OK, "{model}: {}", answer.body);
    }
    let recorded: Vec<_> = app.request_events().await.into_iter().map(|e| e["model"].clone()).collect();
    assert_eq!(recorded, [json!("openai/gpt-4o"), json!("openai/gpt-4o")]);

    app.wait_for_projections().await;
    let by_model = app.get("/v1/stats?group_by=model", &app.admin_token).await;
    let rows = by_model.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one model: {}", by_model.body);
    assert_eq!((rows[0]["key"].clone(), rows[0]["requests"].clone()), (json!("openai/gpt-4o"), json!(2)));
    for spelling in ["gpt-4o", "openai/gpt-4o"] {
        let log = app.get(&format!("/v1/logs?model={spelling}"), &app.admin_token).await;
        assert_eq!(log.body["data"].as_array().unwrap().len(), 2, "filtered by {spelling}: {}", log.body);
    }
}

#[tokio::test]
async fn a_models_file_model_without_a_price_is_flagged_in_the_catalogue() {
    let upstream = FakeUpstream::start(fakes::openai::router, vec![Behaviour::Answer(Reply::Text("Hi".into()))]).await;
    let file = std::env::temp_dir().join(format!("gr-models-{}.json", uuid::Uuid::now_v7()));
    std::fs::write(
        &file,
        r#"[{"id": "lab/free", "provider": "lab", "upstream_model": "free"},
            {"id": "lab/priced", "provider": "lab", "upstream_model": "priced",
             "input_per_million_usd": "0.05", "output_per_million_usd": "0.10"}]"#,
    )
    .unwrap();
    let providers =
        ProvidersConfig { custom: vec![("lab".into(), pointing_at(&upstream))], ..ProvidersConfig::default() };
    let config = Config { models_file: Some(file.clone()), ..test_config() };
    let app = spawn_app_configured(config, &fresh_database().await, providers).await;
    std::fs::remove_file(file).unwrap();

    let catalogue = app.get("/v1/catalogue", &app.admin_token).await;
    let entry = |id: &str| catalogue.body["data"].as_array().unwrap().iter().find(|e| e["id"] == id).cloned();
    let free = entry("lab/free").expect("listed");
    assert_eq!((free["priced"].clone(), free["pricing"].clone()), (json!(false), json!(null)));
    assert_eq!(entry("lab/priced").expect("listed")["priced"], json!(true));
    assert!(entry("echo/demo").is_some(), "the README's echo model is listed: {}", catalogue.body);
}

#[tokio::test]
async fn a_model_of_a_provider_that_is_not_configured_is_refused_naming_what_to_set() {
    let file = std::env::temp_dir().join(format!("gr-models-{}.json", uuid::Uuid::now_v7()));
    // The README's example, alone.
    let readme = include_str!("../../README.md");
    let example = readme.split("```json\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    std::fs::write(&file, example).unwrap();
    let config = Config { models_file: Some(file.clone()), ..test_config() };
    let app = spawn_app_configured(config, &fresh_database().await, ProvidersConfig::default()).await;
    std::fs::remove_file(file).unwrap();
    let org = app.create_org("Local").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let answer = app.chat(&key, json!({"model": "local-vllm/llama-3.1-8b", "messages": user_message("Hi")})).await;
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("GAIAROUTER_OPENAI_COMPATIBLE=local-vllm="), "{}", answer.body);
    assert!(!message.contains("API key"), "the misleading hint is gone: {message}");
}
