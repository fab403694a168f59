//! `/v1/routes`: routes as events of the Route aggregate, managed by operators and
//! admin keys, refused with a 400 naming the field when unsound, applied on every
//! gateway process within a second, and never holding a credential value.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{spawn_app, spawn_app_on, test_config, TestApp};

/// Sets a process environment variable for a credential (each test uses its own
/// names: nextest runs every test in its own process, plain cargo test shares one).
/// The `GR_ROUTES_TEST_*` names deployments may name are listed in `test_config`.
fn set_env(name: &str, value: &str) {
    std::env::set_var(name, value);
}

fn route(name: &str, credential: &str) -> Value {
    json!({
        "name": name,
        "deployments": [
            {"provider": "openai", "model": "gpt-4o-mini", "base_url": "http://10.0.0.5:8000/v1",
             "credential": credential, "weight": 3},
            {"provider": "echo", "model": "echo", "weight": 1, "priority": 1}
        ]
    })
}

async fn create(app: &TestApp, body: Value) -> String {
    let answer = app.post("/v1/routes", &app.admin_token, body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.id()
}

async fn event_count(app: &TestApp) -> i64 {
    app.scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Route'").await
}

#[tokio::test]
async fn a_route_is_created_read_changed_and_deleted_with_its_history() {
    let app = spawn_app().await;
    set_env("GR_ROUTES_TEST_CRUD_KEY", "sk-crud-value");
    let created = app.post("/v1/routes", &app.admin_token, route("smart", "env:GR_ROUTES_TEST_CRUD_KEY")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    let body = &created.body;
    assert_eq!(body["object"], "route");
    assert_eq!(body["deployments"][0]["id"], "d1");
    assert_eq!(body["deployments"][1]["id"], "d2");
    assert_eq!(body["deployments"][0]["credential"], "env:GR_ROUTES_TEST_CRUD_KEY");
    assert_eq!(body["deployments"][0]["credential_set"], true);
    assert_eq!(body["strategy"], "weighted_random");
    assert_eq!((body["max_attempts"].as_u64(), body["cooldown_seconds"].as_u64()), (Some(3), Some(30)));
    // Read-your-writes on the hot path: this process's table has it at once.
    assert_eq!(app.state.routes.get("smart").unwrap().deployments[0].weight, 3);

    let listed = app.get("/v1/routes", &app.admin_token).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    let before_change = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let patched = app
        .patch(
            &format!("/v1/routes/{id}"),
            &app.admin_token,
            json!({"deployments": [{"provider": "echo", "model": "echo", "weight": 7}], "strategy": "least_in_flight"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["deployments"][0]["weight"], 7);
    assert_eq!(patched.body["strategy"], "least_in_flight");
    assert_eq!(patched.body["version"], 2);
    assert_eq!(app.state.routes.get("smart").unwrap().deployments[0].weight, 7);

    let past = app
        .get(
            &format!("/v1/routes/{id}?as_of={}", before_change.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            &app.admin_token,
        )
        .await;
    assert_eq!(past.status, StatusCode::OK, "{}", past.body);
    assert_eq!(past.body["deployments"][0]["weight"], 3, "as_of folds the events up to then");

    let history = app.history(&format!("/v1/routes/{id}/history")).await;
    assert_eq!(TestApp::event_types(&history), ["RouteCreated", "RouteUpdated"]);
    assert_eq!(history[1]["actor"]["type"], "operator");
    assert_eq!(history[1]["actor"]["name"], "admin");
    assert_eq!(history[1]["payload"]["spec"]["deployments"][0]["weight"], 7);
    let audit = app.get("/v1/audit?aggregate_type=Route", &app.admin_token).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert_eq!(audit.body["data"].as_array().unwrap().len(), 2);
    let all = app.get("/v1/audit", &app.admin_token).await.body.to_string();
    assert!(all.contains("RouteUpdated"), "routes are part of the whole audit trail");

    let deleted = app.delete(&format!("/v1/routes/{id}"), &app.admin_token).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(app.get(&format!("/v1/routes/{id}"), &app.admin_token).await.status, StatusCode::NOT_FOUND);
    assert!(app.state.routes.get("smart").is_none());
    assert_eq!(app.history(&format!("/v1/routes/{id}/history")).await.len(), 3, "the history stays");
    // The name is free again.
    create(&app, json!({"name": "smart", "deployments": [{"provider": "echo", "model": "x"}]})).await;
}

#[tokio::test]
async fn unsound_definitions_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    set_env("GR_ROUTES_TEST_REFUSE_KEY", "sk-refuse-value");
    std::env::set_var("GR_ROUTES_TEST_UNLISTED", "sk-unlisted-value");
    let echo = |name: &str, fallbacks: Value| json!({"name": name, "deployments": [{"provider": "echo", "model": "x"}], "fallbacks": fallbacks});
    let a = create(&app, echo("a", json!([]))).await;
    create(&app, echo("b", json!(["a"]))).await;
    let events = event_count(&app).await;

    let one = |deployment: Value| json!({"name": "bad", "deployments": [deployment]});
    let cases: Vec<(Value, &str, &str)> = vec![
        (one(json!({"provider": "azure", "model": "m"})), "deployments[0].provider", "invalid_route"),
        (
            one(json!({"provider": "openai", "model": "m", "base_url": "not a url"})),
            "deployments[0].base_url",
            "invalid_route",
        ),
        (
            one(json!({"provider": "openai", "model": "m", "base_url": "ftp://h/v1"})),
            "deployments[0].base_url",
            "invalid_route",
        ),
        (one(json!({"provider": "openai", "model": "m", "weight": 0})), "deployments[0].weight", "invalid_route"),
        (one(json!({"provider": "openai", "model": "m", "weight": -1})), "deployments[0].weight", "invalid_body"),
        (
            json!({"name": "bad", "deployments": [{"id": "x", "provider": "echo", "model": "m"},
                                                  {"id": "x", "provider": "echo", "model": "m"}]}),
            "deployments.id",
            "invalid_route",
        ),
        (
            one(json!({"provider": "openai", "model": "m", "credential": "env:GR_ROUTES_TEST_NOT_SET"})),
            "deployments[0].credential",
            "credential_not_set",
        ),
        (
            one(json!({"provider": "openai", "model": "m", "credential": "no-such-name"})),
            "deployments[0].credential",
            "credential_not_set",
        ),
        (
            one(json!({"provider": "openai", "model": "m", "credential": "env:GR_ROUTES_TEST_UNLISTED"})),
            "deployments[0].credential",
            "credential_not_allowed",
        ),
        (
            one(json!({"provider": "openai", "model": "m", "credential": "env:GAIAROUTER_JWT_SECRET"})),
            "deployments[0].credential",
            "credential_not_allowed",
        ),
        (
            one(json!({"provider": "openai", "model": "m", "credential": "sk-a value"})),
            "deployments[0].credential",
            "invalid_route",
        ),
        (echo("bad", json!(["a", "nowhere"])), "fallbacks[1]", "unknown_fallback"),
        (echo("bad", json!(["bad"])), "fallbacks[0]", "invalid_route"),
        (echo("gpt-4o", json!([])), "name", "route_name_reserved"),
        (echo("openai/gpt-4o", json!([])), "name", "route_name_reserved"),
        (echo("echo/x", json!([])), "name", "route_name_reserved"),
        (echo("has space", json!([])), "name", "invalid_route"),
        (json!({"name": "bad", "deployments": []}), "deployments", "invalid_route"),
        (
            json!({"name": "bad", "deployments": [{"provider": "echo", "model": "m"}], "max_attempts": 11}),
            "max_attempts",
            "invalid_route",
        ),
    ];
    for (body, param, code) in cases {
        let answer = app.post("/v1/routes", &app.admin_token, body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body} → {}", answer.body);
        assert_eq!(answer.error_code(), code, "{body} → {}", answer.body);
        assert_eq!(answer.body["error"]["param"], param, "{body} → {}", answer.body);
    }
    // A cycle across routes: b falls back to a; a falling back to b closes it.
    let cycle = app.patch(&format!("/v1/routes/{a}"), &app.admin_token, json!({"fallbacks": ["b"]})).await;
    assert_eq!(
        (cycle.status, cycle.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "fallback_cycle"),
        "{}",
        cycle.body
    );
    assert_eq!(cycle.body["error"]["param"], "fallbacks");
    // A name already taken, and deleting or renaming a route others fall back to.
    let taken = app.post("/v1/routes", &app.admin_token, echo("A", json!([]))).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    let in_use = app.delete(&format!("/v1/routes/{a}"), &app.admin_token).await;
    assert_eq!((in_use.status, in_use.error_code().as_str()), (StatusCode::CONFLICT, "route_in_use"));
    let renamed = app.patch(&format!("/v1/routes/{a}"), &app.admin_token, json!({"name": "a2"})).await;
    assert_eq!((renamed.status, renamed.error_code().as_str()), (StatusCode::CONFLICT, "route_in_use"));
    let unknown = app.patch(&format!("/v1/routes/{}", uuid::Uuid::now_v7()), &app.admin_token, json!({})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    assert_eq!(event_count(&app).await, events, "refusals record nothing");
    assert!(app.state.routes.get("bad").is_none());
    assert_eq!(app.scalar("SELECT count(*) FROM name_claims WHERE scope = 'route'").await, 2, "no claim leaks");
}

#[tokio::test]
async fn only_operators_and_admin_keys_manage_routes() {
    let app = spawn_app().await;
    let org = app.create_org("Tenants").await;
    let (_, admin_key) = app.issue_key(&org, "admin").await;
    let (_, write_key) = app.issue_key(&org, "write").await;
    let write_key_again = write_key.clone();
    let (_, read_key) = app.issue_key(&org, "read").await;
    let id = create(&app, json!({"name": "matrix", "deployments": [{"provider": "echo", "model": "x"}]})).await;
    let new_route =
        |n: usize| json!({"name": format!("matrix-{n}"), "deployments": [{"provider": "echo", "model": "x"}]});

    let requests = |n: usize| -> Vec<(Method, String, Option<Value>)> {
        vec![
            (Method::GET, "/v1/routes".into(), None),
            (Method::POST, "/v1/routes".into(), Some(new_route(n))),
            (Method::GET, format!("/v1/routes/{id}"), None),
            (Method::GET, format!("/v1/routes/{id}?as_of=2099-01-01T00:00:00Z"), None),
            (Method::GET, format!("/v1/routes/{id}/history"), None),
            (Method::PATCH, format!("/v1/routes/{id}"), Some(json!({"cooldown_seconds": n}))),
        ]
    };
    for (n, (who, token, allowed)) in [
        ("operator", app.admin_token.clone(), true),
        ("admin key", admin_key, true),
        ("write key", write_key, false),
        ("read key", read_key.clone(), false),
    ]
    .into_iter()
    .enumerate()
    {
        for (method, path, body) in requests(n) {
            let answer = app.call(method.clone(), &path, &token, body).await;
            if allowed {
                assert!(answer.status.is_success(), "{who} {method} {path}: {} {}", answer.status, answer.body);
            } else {
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{who} {method} {path}: {}", answer.body);
            }
        }
    }
    for token in [&write_key_again, &read_key] {
        assert_eq!(app.delete(&format!("/v1/routes/{id}"), token).await.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.delete(&format!("/v1/routes/{id}"), &app.admin_token).await.status, StatusCode::OK);
    let second = app.get("/v1/routes", &app.admin_token).await.body["data"][0]["id"].as_str().unwrap().to_string();
    let (_, another_admin) = app.issue_key(&app.create_org("Elsewhere").await, "admin").await;
    assert_eq!(
        app.delete(&format!("/v1/routes/{second}"), &another_admin).await.status,
        StatusCode::OK,
        "gateway-wide"
    );
    let history = app.history(&format!("/v1/routes/{id}/history")).await;
    let actors: Vec<&str> = history.iter().map(|e| e["actor"]["type"].as_str().unwrap()).collect();
    assert!(actors.contains(&"api_key") && actors.contains(&"operator"), "{actors:?}");
}

#[tokio::test]
async fn no_credential_value_appears_in_any_table_event_or_response() {
    let secret = "sk-live-ROUTESECRET-7f3a9c1e5d";
    set_env("GR_ROUTES_TEST_SCAN_KEY", secret);
    let app = spawn_app().await;
    let id = create(&app, route("scanned", "env:GR_ROUTES_TEST_SCAN_KEY")).await;
    let mut responses = Vec::new();
    let patch = json!({"deployments": [{"provider": "openai", "model": "m", "credential": "env:GR_ROUTES_TEST_SCAN_KEY",
                                        "weight": 2}]});
    responses.push(app.patch(&format!("/v1/routes/{id}"), &app.admin_token, patch).await.body);
    responses.push(app.get("/v1/routes", &app.admin_token).await.body);
    responses.push(app.get(&format!("/v1/routes/{id}"), &app.admin_token).await.body);
    responses.push(app.get(&format!("/v1/routes/{id}/history"), &app.admin_token).await.body);
    responses.push(app.get("/v1/audit", &app.admin_token).await.body);
    responses
        .push(app.post("/v1/routes", &app.admin_token, route("refused", "env:GR_ROUTES_TEST_SCAN_MISSING")).await.body);
    for body in &responses {
        assert!(!body.to_string().contains(secret), "credential value in a response: {body}");
    }
    assert!(responses[2].to_string().contains("env:GR_ROUTES_TEST_SCAN_KEY"), "the name is shown");

    let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert!(tables.contains(&"route_view".to_string()));
    let mut rows = 0;
    for table in tables {
        for row in sqlx::query(&format!(r#"SELECT row_to_json(t)::text AS row FROM "{table}" t"#))
            .fetch_all(&app.state.pool)
            .await
            .unwrap()
        {
            let text: String = row.get("row");
            rows += 1;
            assert!(!text.contains(secret), "credential value in {table}: {text}");
        }
    }
    assert!(rows > 5);
    // The value is there for the gateway to use, in memory only.
    assert_eq!(gaiarouter::routing::credentials::resolve("env:GR_ROUTES_TEST_SCAN_KEY").unwrap().expose(), secret);
}

#[tokio::test]
async fn a_change_made_on_one_process_is_served_by_another_within_a_second() {
    let a = spawn_app().await;
    let b = spawn_app_on(&a.database_url).await;
    let id =
        create(&a, json!({"name": "shared", "deployments": [{"provider": "echo", "model": "x", "weight": 3}]})).await;
    let seen = |weight: u32| {
        let table = b.state.routes.clone();
        async move {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(1) {
                if table.get("shared").is_some_and(|r| r.deployments[0].weight == weight) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        }
    };
    assert!(seen(3).await, "B sees the new route within 1 s");
    let patch = json!({"deployments": [{"provider": "echo", "model": "x", "weight": 1}]});
    let changed = a.patch(&format!("/v1/routes/{id}"), &a.admin_token, patch).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(seen(1).await, "B uses the new weight within 1 s");
    assert_eq!(b.get(&format!("/v1/routes/{id}"), &b.admin_token).await.body["deployments"][0]["weight"], 1);
    assert_eq!(a.delete(&format!("/v1/routes/{id}"), &a.admin_token).await.status, StatusCode::OK);
    let start = Instant::now();
    while b.state.routes.get("shared").is_some() && start.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(b.state.routes.get("shared").is_none(), "B drops the deleted route within 1 s");
}

#[tokio::test]
async fn a_routes_file_seeds_missing_routes_once() {
    let database_url = crate::helpers::fresh_database().await;
    set_env("GR_ROUTES_TEST_SEED_KEY", "sk-seed-value");
    let dir = std::env::temp_dir().join(format!("gr-routes-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("routes.toml");
    // `primary` names `backup` before it is defined: the order in the file does not matter.
    std::fs::write(
        &file,
        "[[routes]]\nname = \"primary\"\nfallbacks = [\"backup\"]\n\
         [[routes.deployments]]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\ncredential = \"env:GR_ROUTES_TEST_SEED_KEY\"\nweight = 3\n\
         [[routes.deployments]]\nprovider = \"echo\"\nmodel = \"x\"\n\
         [[routes]]\nname = \"backup\"\n[[routes.deployments]]\nprovider = \"echo\"\nmodel = \"y\"\n",
    )
    .unwrap();
    let mut config = test_config();
    config.routes_file = Some(file.clone());
    let state =
        gaiarouter::app::prepare_with_providers(config.clone(), &database_url, Default::default()).await.unwrap();
    assert_eq!(state.routes.get("primary").unwrap().fallbacks, vec!["backup".to_string()]);
    assert_eq!(state.routes.get("primary").unwrap().deployments[0].weight, 3);
    assert!(state.routes.get("backup").is_some());
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT metadata->>'actor_type' || '/' || (metadata->>'actor_id') FROM events WHERE aggregate_type = 'Route'",
    )
    .fetch_all(&state.pool)
    .await
    .unwrap();
    assert_eq!(actors, ["system/routes-file", "system/routes-file"]);
    state.shutdown().await;

    // A restart creates nothing new; a JSON file works the same way.
    let again =
        gaiarouter::app::prepare_with_providers(config.clone(), &database_url, Default::default()).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Route'")
        .fetch_one(&again.pool)
        .await
        .unwrap();
    assert_eq!(count, 2, "seeding is idempotent");
    again.shutdown().await;
    let json_file = dir.join("routes.json");
    std::fs::write(
        &json_file,
        r#"[{"name": "third", "deployments": [{"provider": "echo", "model": "z"}], "fallbacks": ["primary"]}]"#,
    )
    .unwrap();
    config.routes_file = Some(json_file);
    let third =
        gaiarouter::app::prepare_with_providers(config.clone(), &database_url, Default::default()).await.unwrap();
    assert!(third.routes.get("third").is_some());
    third.shutdown().await;

    // A file with an unsound route stops the start, naming the route and field.
    let bad_file = dir.join("bad.json");
    std::fs::write(
        &bad_file,
        r#"{"routes": [{"name": "gpt-4o", "deployments": [{"provider": "echo", "model": "z"}]}]}"#,
    )
    .unwrap();
    config.routes_file = Some(bad_file);
    let error = gaiarouter::app::prepare_with_providers(config, &database_url, Default::default()).await.err().unwrap();
    assert!(error.to_string().contains("gpt-4o") && error.to_string().contains("name"), "{error}");
}

#[tokio::test]
async fn a_restart_repairs_a_lost_route_view_and_loads_the_table_from_it() {
    let app = spawn_app().await;
    create(&app, json!({"name": "durable", "deployments": [{"provider": "echo", "model": "x", "weight": 4}]})).await;
    // As if a crash had come between the commit and the view update.
    sqlx::query("DELETE FROM route_view").execute(&app.state.pool).await.unwrap();
    let restarted = spawn_app_on(&app.database_url).await;
    assert_eq!(restarted.state.routes.get("durable").unwrap().deployments[0].weight, 4);
    assert_eq!(restarted.get("/v1/routes", &restarted.admin_token).await.body["data"][0]["name"], "durable");
}
