//! `gaiarouter operators ...` against DATABASE_URL: the way back in when nobody can log in.

use std::process::Output;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, TestApp, ADMIN_USER};

fn cli(app: &TestApp, args: &[&str], password: Option<&str>) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gaiarouter"));
    command.args(args).env("DATABASE_URL", &app.database_url).env("RUST_LOG", "error");
    match password {
        Some(password) => command.env("GAIAROUTER_OPERATOR_PASSWORD", password),
        None => command.env_remove("GAIAROUTER_OPERATOR_PASSWORD"),
    };
    command.output().expect("run the gaiarouter binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[tokio::test]
async fn operators_are_managed_from_the_command_line_and_audited() {
    let app = spawn_app().await;
    let created = cli(&app, &["operators", "create", "--username", "frank"], Some("frank password 1"));
    assert!(created.status.success(), "{created:?}");
    let listed = stdout(&cli(&app, &["operators", "list"], None));
    assert!(listed.contains("frank") && listed.contains(ADMIN_USER) && listed.contains("active"), "{listed}");

    let frank = app.login("frank", "frank password 1").await;
    assert!(cli(&app, &["operators", "set-password", "frank"], Some("frank password 2")).status.success());
    assert_eq!(app.get("/v1/auth/me", &frank).await.status, StatusCode::UNAUTHORIZED, "sessions ended");
    let frank = app.login("frank", "frank password 2").await;

    assert!(cli(&app, &["operators", "disable", "frank"], None).status.success());
    assert!(stdout(&cli(&app, &["operators", "list"], None)).contains("disabled"));
    assert_eq!(app.get("/v1/auth/me", &frank).await.status, StatusCode::UNAUTHORIZED);
    assert!(cli(&app, &["operators", "enable", "frank"], None).status.success());
    let frank = app.login("frank", "frank password 2").await;
    assert!(cli(&app, &["operators", "end-sessions", "frank"], None).status.success());
    assert_eq!(app.get("/v1/auth/me", &frank).await.status, StatusCode::UNAUTHORIZED);

    assert!(cli(&app, &["operators", "delete", "frank"], None).status.success());
    assert!(!stdout(&cli(&app, &["operators", "list"], None)).contains("frank"));
    // The last active operator cannot be disabled or deleted, not even from the CLI.
    let refused = cli(&app, &["operators", "delete", ADMIN_USER], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("last active operator"), "{refused:?}");
    assert!(!cli(&app, &["operators", "disable", "nobody-here"], None).status.success());

    let audit = app.get("/v1/audit?aggregate_type=Operator&limit=100", &app.admin_token).await;
    let by_cli = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == json!({"type": "system", "id": "cli", "name": "cli"}))
        .count();
    assert_eq!(by_cli, 6, "create, password, disable, enable, end sessions, delete: {}", audit.body);
}
