//! Finding 2 of issue 8: one recorded request whose model id was 3,000 characters
//! made the rollup projector fail on every batch (`index row size ... exceeds btree
//! version 4 maximum 2704`), so analytics stopped for every tenant, and a rebuild
//! replayed the same event. Now a projector quarantines an event it cannot apply,
//! visibly, and goes on; rebuilds skip it the same way.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use gaiarouter_domain::request::RequestCompleted;
use gaiarouter_projections::usage_rollups::Rollup;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::helpers::{spawn_app, TestApp};
use crate::projections::{snapshot, stored_rollup, tests_event};

const NAMES: [&str; 4] = ["usage_rollups", "monthly_usage", "request_log", "budget_alerts"];

/// Appends a Request event as an old, pre-validation gateway would have: straight
/// into the log. Answers its aggregate id and global position.
async fn append(connection: &mut PgConnection, payload: Value) -> (String, i64) {
    let id = Uuid::now_v7().to_string();
    let position = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Request', $1, 1, 'RequestCompleted', '2.0', $2, '{}') RETURNING global_position",
    )
    .bind(&id)
    .bind(payload)
    .fetch_one(connection)
    .await
    .unwrap();
    (id, position)
}

/// Letters without repeats an LZ compressor could use: Postgres compresses index
/// entries, so `"m".repeat(3000)` would fit a btree row; the finding's id did not.
fn incompressible(len: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

fn good_event(i: u32) -> RequestCompleted {
    let started_at = Utc.with_ymd_and_hms(2026, 5, 1, 12, i, 0).single().unwrap();
    RequestCompleted { latency_ms: u64::from(i) * 7 + 1, prompt_tokens: u64::from(i), started_at, ..tests_event() }
}

async fn append_good(connection: &mut PgConnection, i: u32, good: &mut Vec<(String, RequestCompleted)>) {
    let event = good_event(i);
    let (id, _) = append(connection, json!({ "RequestCompleted": event })).await;
    good.push((id, event));
}

async fn statuses(app: &TestApp) -> BTreeMap<String, Value> {
    let answer = app.get("/v1/projections", &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

/// Waits until every projection is running with no lag and has quarantined the
/// expected number of events (the visibility horizon is cluster-wide, so other
/// tests' open transactions may delay it).
async fn settled(app: &TestApp, quarantined: [i64; 4]) -> BTreeMap<String, Value> {
    let mut last = BTreeMap::new();
    for _ in 0..300 {
        last = statuses(app).await;
        let done = NAMES.iter().zip(quarantined).all(|(name, expected)| {
            last.get(*name).is_some_and(|p| {
                p["state"] == "running" && p["lag_events"] == json!(0) && p["quarantined"] == json!(expected)
            })
        });
        if done {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("projections did not settle: {last:?}");
}

/// (position, event type, reason) of a projection's quarantine, newest first.
async fn quarantine(app: &TestApp, name: &str) -> Vec<(i64, String, String)> {
    let answer = app.get(&format!("/v1/projections/{name}/quarantine"), &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["projection"], name);
            assert_eq!(e["aggregate_type"], "Request");
            (
                e["global_position"].as_i64().unwrap(),
                e["event_type"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn logged_ids(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT id::text FROM request_log ORDER BY 1").fetch_all(pool).await.unwrap()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn an_event_a_projector_cannot_apply_is_quarantined_and_projections_go_on_live_and_in_rebuilds() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    let mut good = Vec::new();

    // One transaction, so the projectors read good and bad events in ONE batch.
    let mut tx = pool.begin().await.unwrap();
    for i in 0..3 {
        append_good(&mut tx, i, &mut good).await;
    }
    let long_model = RequestCompleted { model: format!("echo/{}", incompressible(3000)), ..good_event(3) };
    let (long_id, long_position) = append(&mut tx, json!({ "RequestCompleted": long_model })).await;
    append_good(&mut tx, 4, &mut good).await;
    let (_, corrupt_position) = append(&mut tx, json!({"RequestCompleted": {"model": 42}})).await;
    for i in 5..8 {
        append_good(&mut tx, i, &mut good).await;
    }
    tx.commit().await.unwrap();

    // Every projection keeps running and applies the good events; the rollups cannot
    // hold the long model id, none can decode the corrupt payload.
    let status = settled(&app, [2, 1, 1, 1]).await;
    let good_events: Vec<RequestCompleted> = good.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(stored_rollup(&pool).await, Rollup::of(&good_events), "the rollups hold exactly the good events");
    // The request log and the monthly usage can hold the long model id: only the
    // undecodable event is missing there.
    let mut expected_log: Vec<String> = good.iter().map(|(id, _)| id.clone()).collect();
    expected_log.push(long_id.clone());
    assert_eq!(logged_ids(&pool).await, sorted(expected_log.clone()));
    let monthly: i64 =
        sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_monthly WHERE scope = 'organization'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(monthly, good.len() as i64 + 1);

    let rollups = quarantine(&app, "usage_rollups").await;
    assert_eq!(rollups.iter().map(|q| q.0).collect::<Vec<_>>(), vec![corrupt_position, long_position]);
    assert!(rollups.iter().all(|q| q.1 == "RequestCompleted"));
    assert!(rollups[0].2.contains("cannot be read"), "{}", rollups[0].2);
    assert!(rollups[1].2.contains("index row size"), "{}", rollups[1].2);
    assert!(
        rollups.iter().all(|q| q.2.chars().count() <= 501 && !q.2.contains(&long_model.model[5..40])),
        "{rollups:?}"
    );
    for name in ["monthly_usage", "request_log", "budget_alerts"] {
        let entries = quarantine(&app, name).await;
        assert_eq!(entries.iter().map(|q| q.0).collect::<Vec<_>>(), vec![corrupt_position], "{name}");
    }
    assert_eq!(status["usage_rollups"]["last_quarantine_reason"].as_str(), Some(rollups[0].2.as_str()));
    assert_eq!(status["request_log"]["last_quarantine_reason"].as_str(), Some(rollups[0].2.as_str()));

    // Later events are applied too.
    let mut connection = pool.acquire().await.unwrap();
    for i in 8..10 {
        append_good(&mut connection, i, &mut good).await;
    }
    drop(connection);
    settled(&app, [2, 1, 1, 1]).await;
    let good_events: Vec<RequestCompleted> = good.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(stored_rollup(&pool).await, Rollup::of(&good_events));
    expected_log.extend(good[good.len() - 2..].iter().map(|(id, _)| id.clone()));
    assert_eq!(logged_ids(&pool).await, sorted(expected_log));

    // A rebuild skips the same events, ends equal, and finds the same quarantine.
    let before = snapshot(&pool).await;
    let mut quarantined_before = Vec::new();
    for name in NAMES {
        quarantined_before.push(quarantine(&app, name).await);
        let answer = app.post(&format!("/v1/projections/{name}/rebuild"), &app.admin_token, json!({})).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    }
    // A rebuild is requested: wait until the projecting process has done it.
    for _ in 0..300 {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM projection_checkpoints WHERE rebuild_requested")
            .fetch_one(&pool)
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    settled(&app, [2, 1, 1, 1]).await;
    assert_eq!(snapshot(&pool).await, before, "rebuilt equals live");
    for (name, entries) in NAMES.iter().zip(quarantined_before) {
        assert_eq!(quarantine(&app, name).await, entries, "{name}: the rebuild quarantines the same events");
    }
}

#[tokio::test]
async fn the_quarantine_is_for_admins_and_names_only_known_projections() {
    let app = spawn_app().await;
    let org = app.create_org("Quarantine readers").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let answer = app.get("/v1/projections/usage_rollups/quarantine", &key).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let answer = app.get("/v1/projections/nope/quarantine", &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    let answer = app.get("/v1/projections/usage_rollups/quarantine?limit=0", &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    // The pagination rule of every list (1–100).
    let answer = app.get("/v1/projections/usage_rollups/quarantine?limit=101", &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let answer = app.get("/v1/projections/usage_rollups/quarantine?limit=100", &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["data"], json!([]));
    let spec = app.get("/openapi.json", "").await;
    assert!(spec.body["paths"]["/v1/projections/{name}/quarantine"]["get"].is_object(), "documented");
    assert!(spec.body["components"]["schemas"]["QuarantinedEventDto"].is_object(), "its shape is documented");
}
