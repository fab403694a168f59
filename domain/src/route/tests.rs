use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;
use crate::request::ModelIdError;
use crate::Money;

type Given = TestFramework<Route>;

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).single().unwrap_or_default()
}

fn deployment(id: &str) -> DeploymentSpec {
    DeploymentSpec {
        id: id.into(),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        base_url: Some("http://10.0.0.5:8000/v1".into()),
        credential: Some("env:VLLM_KEY".into()),
        weight: 3,
        priority: 0,
        first_byte_timeout_ms: None,
        total_timeout_ms: None,
        rpm: None,
        tpm: None,
        price: None,
    }
}

fn spec() -> RouteSpec {
    RouteSpec {
        name: "smart".into(),
        deployments: vec![deployment("d1"), deployment("d2")],
        fallbacks: vec!["other-route".into()],
        strategy: RoutingStrategy::WeightedRandom,
        max_attempts: 3,
        cooldown_after_failures: 3,
        cooldown_seconds: 30,
    }
}

fn created() -> RouteEvent {
    RouteEvent::RouteCreated { spec: spec(), at: t(0) }
}

fn with(change: impl FnOnce(&mut RouteSpec)) -> RouteSpec {
    let mut spec = spec();
    change(&mut spec);
    spec
}

fn refused(spec: RouteSpec) -> (RouteSpecError, String) {
    let error = spec.validate().err().unwrap_or_else(|| unreachable!("expected a refusal"));
    let param = error.param();
    (error, param)
}

#[tokio::test]
async fn given_nothing_when_a_valid_route_is_created_then_it_is_recorded() {
    Given::with(())
        .given_no_previous_events()
        .when_async(RouteCommand::Create { spec: spec(), at: t(0) })
        .await
        .then_expect_events(vec![created()]);
}

#[tokio::test]
async fn given_a_route_when_created_again_then_refused() {
    Given::with(())
        .given(vec![created()])
        .when_async(RouteCommand::Create { spec: spec(), at: t(1) })
        .await
        .then_expect_error(RouteError::AlreadyExists);
}

#[tokio::test]
async fn given_nothing_when_updated_or_deleted_then_not_found() {
    Given::with(())
        .given_no_previous_events()
        .when_async(RouteCommand::Update { spec: spec(), at: t(1) })
        .await
        .then_expect_error(RouteError::NotFound);
    Given::with(())
        .given_no_previous_events()
        .when_async(RouteCommand::Delete { at: t(1) })
        .await
        .then_expect_error(RouteError::NotFound);
}

#[tokio::test]
async fn given_a_route_when_a_weight_changes_then_the_new_spec_is_recorded() {
    let changed = with(|s| s.deployments[0].weight = 1);
    Given::with(())
        .given(vec![created()])
        .when_async(RouteCommand::Update { spec: changed.clone(), at: t(1) })
        .await
        .then_expect_events(vec![RouteEvent::RouteUpdated { spec: changed, at: t(1) }]);
}

#[tokio::test]
async fn given_a_route_when_updated_to_the_same_spec_then_nothing_is_recorded() {
    Given::with(())
        .given(vec![created()])
        .when_async(RouteCommand::Update { spec: spec(), at: t(1) })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn given_a_route_when_updated_with_a_bad_spec_then_refused() {
    Given::with(())
        .given(vec![created()])
        .when_async(RouteCommand::Update { spec: with(|s| s.deployments[1].weight = 0), at: t(1) })
        .await
        .then_expect_error(RouteError::InvalidSpec(RouteSpecError::InvalidDeployment {
            index: 1,
            field: "weight",
            reason: "must be 1 to 1000000".into(),
        }));
}

#[tokio::test]
async fn given_nothing_when_created_with_a_bad_spec_then_refused() {
    Given::with(())
        .given_no_previous_events()
        .when_async(RouteCommand::Create { spec: with(|s| s.max_attempts = 0), at: t(0) })
        .await
        .then_expect_error(RouteError::InvalidSpec(RouteSpecError::MaxAttempts));
}

#[tokio::test]
async fn given_a_deleted_route_when_anything_is_asked_then_refused() {
    let deleted = RouteEvent::RouteDeleted { at: t(1) };
    Given::with(())
        .given(vec![created()])
        .when_async(RouteCommand::Delete { at: t(1) })
        .await
        .then_expect_events(vec![deleted.clone()]);
    for command in [RouteCommand::Delete { at: t(2) }, RouteCommand::Update { spec: spec(), at: t(2) }] {
        Given::with(())
            .given(vec![created(), deleted.clone()])
            .when_async(command)
            .await
            .then_expect_error(RouteError::Deleted);
    }
}

#[test]
fn given_events_when_applied_then_the_state_folds() {
    let mut route = Route::default();
    route.apply(created());
    let changed = with(|s| s.cooldown_seconds = 5);
    route.apply(RouteEvent::RouteUpdated { spec: changed.clone(), at: t(1) });
    route.apply(RouteEvent::RouteDeleted { at: t(2) });
    let state = route.state.unwrap_or_else(|| unreachable!());
    assert_eq!(state.spec, changed);
    assert!(state.deleted);
    assert_eq!((state.created_at, state.updated_at), (t(0), t(2)));
}

#[test]
fn given_a_valid_spec_when_validated_then_accepted() {
    assert_eq!(spec().validate(), Ok(()));
    let minimal = with(|s| {
        s.deployments = vec![DeploymentSpec { base_url: None, credential: None, weight: 1, ..deployment("a") }];
        s.fallbacks.clear();
    });
    assert_eq!(minimal.validate(), Ok(()));
    let full = with(|s| {
        s.strategy = RoutingStrategy::LeastInFlight;
        s.deployments[0].credential = Some("azure-east".into());
        s.deployments[0].first_byte_timeout_ms = Some(1);
        s.deployments[0].total_timeout_ms = Some(60_000);
        s.deployments[0].price = Some(DeploymentPrice {
            input_per_million: Money::from_nanos(1),
            cached_input_per_million: Some(Money::ZERO),
            output_per_million: Money::from_nanos(2),
        });
        s.deployments[1].base_url = Some("https://api.example.com".into());
    });
    assert_eq!(full.validate(), Ok(()));
}

#[test]
fn given_a_bad_name_when_validated_then_the_name_is_blamed() {
    assert_eq!(
        refused(with(|s| s.name = String::new())),
        (RouteSpecError::InvalidName(ModelIdError::Empty), "name".into())
    );
    assert_eq!(refused(with(|s| s.name = "a b".into())).1, "name");
    assert_eq!(refused(with(|s| s.name = "x".repeat(257))).1, "name");
}

#[test]
fn given_no_or_too_many_deployments_when_validated_then_refused() {
    assert_eq!(refused(with(|s| s.deployments.clear())), (RouteSpecError::DeploymentCount, "deployments".into()));
    let many = with(|s| s.deployments = (0..33).map(|i| deployment(&format!("d{i}"))).collect());
    assert_eq!(refused(many).0, RouteSpecError::DeploymentCount);
}

#[test]
fn given_a_bad_deployment_field_when_validated_then_that_field_is_named() {
    let cases: Vec<(RouteSpec, &str)> = vec![
        (with(|s| s.deployments[0].id = "D1".into()), "deployments[0].id"),
        (with(|s| s.deployments[0].id = String::new()), "deployments[0].id"),
        (with(|s| s.deployments[0].id = "x".repeat(65)), "deployments[0].id"),
        (with(|s| s.deployments[1].provider = "azure".into()), "deployments[1].provider"),
        (with(|s| s.deployments[0].model = String::new()), "deployments[0].model"),
        (with(|s| s.deployments[0].base_url = Some("not a url".into())), "deployments[0].base_url"),
        (with(|s| s.deployments[0].base_url = Some("ftp://host/v1".into())), "deployments[0].base_url"),
        (with(|s| s.deployments[0].base_url = Some("http://user:pw@host/v1".into())), "deployments[0].base_url"),
        (
            with(|s| s.deployments[0].base_url = Some(format!("http://h/{}", "a".repeat(2100)))),
            "deployments[0].base_url",
        ),
        (with(|s| s.deployments[0].credential = Some("env:".into())), "deployments[0].credential"),
        (with(|s| s.deployments[0].credential = Some("env:1BAD".into())), "deployments[0].credential"),
        (with(|s| s.deployments[0].credential = Some("sk-live-VALUE".into())), "deployments[0].credential"),
        (with(|s| s.deployments[0].credential = Some(format!("env:{}", "A".repeat(130)))), "deployments[0].credential"),
        (with(|s| s.deployments[0].weight = 0), "deployments[0].weight"),
        (with(|s| s.deployments[0].weight = MAX_WEIGHT + 1), "deployments[0].weight"),
        (with(|s| s.deployments[0].first_byte_timeout_ms = Some(0)), "deployments[0].first_byte_timeout_ms"),
        (with(|s| s.deployments[0].total_timeout_ms = Some(MAX_TIMEOUT_MS + 1)), "deployments[0].total_timeout_ms"),
        (
            with(|s| {
                s.deployments[0].price = Some(DeploymentPrice {
                    input_per_million: Money::from_nanos(-1),
                    cached_input_per_million: None,
                    output_per_million: Money::ZERO,
                })
            }),
            "deployments[0].price",
        ),
    ];
    for (spec, param) in cases {
        assert_eq!(refused(spec).1, param);
    }
}

#[test]
fn given_two_deployments_with_one_id_when_validated_then_refused() {
    let twice = with(|s| s.deployments[1].id = "d1".into());
    assert_eq!(refused(twice), (RouteSpecError::DuplicateDeploymentId("d1".into()), "deployments.id".into()));
}

#[test]
fn given_bad_fallbacks_when_validated_then_refused() {
    assert_eq!(refused(with(|s| s.fallbacks = (0..9).map(|i| format!("r{i}")).collect())).1, "fallbacks");
    assert_eq!(refused(with(|s| s.fallbacks = vec!["smart".into()])).1, "fallbacks[0]");
    assert_eq!(refused(with(|s| s.fallbacks = vec!["a".into(), "a".into()])).1, "fallbacks[1]");
    assert_eq!(refused(with(|s| s.fallbacks = vec![String::new()])).1, "fallbacks[0]");
}

#[test]
fn given_bad_attempt_or_cooldown_settings_when_validated_then_refused() {
    assert_eq!(refused(with(|s| s.max_attempts = 11)).1, "max_attempts");
    assert_eq!(refused(with(|s| s.cooldown_after_failures = 0)).1, "cooldown_after_failures");
    assert_eq!(refused(with(|s| s.cooldown_seconds = MAX_COOLDOWN_SECONDS + 1)).1, "cooldown_seconds");
}

#[test]
fn given_fallback_graphs_when_searched_then_only_cycles_through_the_route_are_found() {
    let graph: std::collections::HashMap<&str, Vec<String>> = [
        ("a", vec!["b".to_string()]),
        ("b", vec!["c".to_string(), "x".to_string()]),
        ("c", vec!["a".to_string()]),
        ("d", vec!["b".to_string()]),
    ]
    .into_iter()
    .collect();
    let lookup = |name: &str| graph.get(name).map(Vec::as_slice);
    assert_eq!(find_fallback_cycle("a", &lookup), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    assert_eq!(find_fallback_cycle("d", &lookup), None, "d reaches a cycle but is not on it");
    assert_eq!(find_fallback_cycle("x", &lookup), None);
}

#[test]
fn given_strategies_when_serialized_then_snake_case() {
    assert_eq!(serde_json::to_string(&RoutingStrategy::WeightedRandom).ok(), Some("\"weighted_random\"".into()));
    assert_eq!(serde_json::to_string(&RoutingStrategy::LeastInFlight).ok(), Some("\"least_in_flight\"".into()));
    assert_eq!(RoutingStrategy::LeastInFlight.as_str(), "least_in_flight");
}

#[test]
fn given_credential_names_when_checked_then_only_names_pass() {
    assert!(check_credential_name("env:AZURE_EAST_KEY").is_ok());
    assert!(check_credential_name("env:_x1").is_ok());
    assert!(check_credential_name("azure-east").is_ok());
    assert!(check_credential_name("env:A-B").is_err());
    assert!(check_credential_name("Bearer xyz").is_err());
}
