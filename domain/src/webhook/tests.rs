use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;

type Given = TestFramework<WebhookEndpoint>;

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).single().unwrap_or_default()
}

fn org() -> Option<Uuid> {
    Some(Uuid::from_u128(7))
}

fn spec() -> EndpointSpec {
    EndpointSpec {
        url: "https://hooks.example.com/gaia".into(),
        description: Some("alerts".into()),
        event_types: vec!["ApiKeyIssued".into(), "BudgetThresholdReached".into()],
        enabled: true,
    }
}

fn sealed(n: u8) -> SealedSecret {
    SealedSecret { nonce: format!("nonce-{n}"), ciphertext: format!("ciphertext-{n}") }
}

fn created() -> WebhookEvent {
    WebhookEvent::WebhookEndpointCreated { organization_id: org(), spec: spec(), secret: sealed(1), at: t(0) }
}

fn with(change: impl FnOnce(&mut EndpointSpec)) -> EndpointSpec {
    let mut spec = spec();
    change(&mut spec);
    spec
}

#[tokio::test]
async fn given_nothing_when_a_valid_endpoint_is_created_then_it_is_recorded() {
    Given::with(())
        .given_no_previous_events()
        .when_async(WebhookCommand::Create { organization_id: org(), spec: spec(), secret: sealed(1), at: t(0) })
        .await
        .then_expect_events(vec![created()]);
}

#[tokio::test]
async fn given_an_endpoint_when_created_again_then_refused() {
    Given::with(())
        .given(vec![created()])
        .when_async(WebhookCommand::Create { organization_id: org(), spec: spec(), secret: sealed(2), at: t(1) })
        .await
        .then_expect_error(WebhookError::AlreadyExists);
}

#[tokio::test]
async fn given_nothing_or_a_deleted_endpoint_when_changed_then_not_found() {
    for given in [vec![], vec![created(), WebhookEvent::WebhookEndpointDeleted { at: t(1) }]] {
        for command in [
            WebhookCommand::Update { spec: spec(), at: t(2) },
            WebhookCommand::RotateSecret { secret: sealed(3), at: t(2) },
            WebhookCommand::Delete { at: t(2) },
        ] {
            Given::with(()).given(given.clone()).when_async(command).await.then_expect_error(WebhookError::NotFound);
        }
    }
}

#[tokio::test]
async fn given_an_endpoint_when_disabled_then_the_new_spec_is_recorded_and_the_same_spec_records_nothing() {
    let disabled = with(|s| s.enabled = false);
    Given::with(())
        .given(vec![created()])
        .when_async(WebhookCommand::Update { spec: disabled.clone(), at: t(1) })
        .await
        .then_expect_events(vec![WebhookEvent::WebhookEndpointUpdated { spec: disabled, at: t(1) }]);
    Given::with(())
        .given(vec![created()])
        .when_async(WebhookCommand::Update { spec: spec(), at: t(1) })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn given_an_endpoint_when_its_secret_is_rotated_then_only_the_new_ciphertext_is_recorded() {
    Given::with(())
        .given(vec![created()])
        .when_async(WebhookCommand::RotateSecret { secret: sealed(2), at: t(1) })
        .await
        .then_expect_events(vec![WebhookEvent::WebhookEndpointSecretRotated { secret: sealed(2), at: t(1) }]);
    Given::with(())
        .given(vec![created()])
        .when_async(WebhookCommand::RotateSecret { secret: sealed(1), at: t(1) })
        .await
        .then_expect_error(WebhookError::SameSecret);
}

#[tokio::test]
async fn given_an_endpoint_when_deleted_then_recorded() {
    Given::with(())
        .given(vec![created()])
        .when_async(WebhookCommand::Delete { at: t(1) })
        .await
        .then_expect_events(vec![WebhookEvent::WebhookEndpointDeleted { at: t(1) }]);
}

#[tokio::test]
async fn given_an_organization_endpoint_when_it_asks_for_route_events_then_refused() {
    let routes = with(|s| s.event_types = vec!["RouteCreated".into()]);
    Given::with(())
        .given(vec![created()])
        .when_async(WebhookCommand::Update { spec: routes.clone(), at: t(1) })
        .await
        .then_expect_error(WebhookError::InvalidSpec(EndpointSpecError::GatewayEventType("RouteCreated".into())));
    Given::with(())
        .given_no_previous_events()
        .when_async(WebhookCommand::Create { organization_id: None, spec: routes.clone(), secret: sealed(1), at: t(0) })
        .await
        .then_expect_events(vec![WebhookEvent::WebhookEndpointCreated {
            organization_id: None,
            spec: routes,
            secret: sealed(1),
            at: t(0),
        }]);
}

#[test]
fn urls_must_be_http_or_https_bounded_and_without_credentials() {
    let refused = |url: &str| with(|s| s.url = url.into()).validate().err();
    assert_eq!(refused("ftp://example.com/x"), Some(EndpointSpecError::UrlScheme));
    assert_eq!(refused("javascript:alert(1)"), Some(EndpointSpecError::UrlScheme));
    assert_eq!(refused("not a url"), Some(EndpointSpecError::UrlInvalid));
    assert_eq!(refused("https://user:pass@example.com/"), Some(EndpointSpecError::UrlCredentials));
    assert_eq!(refused("https://user@example.com/"), Some(EndpointSpecError::UrlCredentials));
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    assert_eq!(refused(&long), Some(EndpointSpecError::UrlTooLong));
    assert_eq!(refused("http://127.0.0.1:9000/hook?x=1"), None);
    assert_eq!(EndpointSpecError::UrlCredentials.param(), "url");
}

#[test]
fn event_types_come_from_the_fixed_list_and_are_normalized() {
    let unknown = with(|s| s.event_types = vec!["RequestCompleted".into()]).validate().err();
    assert_eq!(unknown, Some(EndpointSpecError::UnknownEventType("RequestCompleted".into())));
    assert_eq!(with(|s| s.event_types.clear()).validate().err(), Some(EndpointSpecError::NoEventTypes));
    let messy = with(|s| {
        s.event_types = vec!["RouteDeleted".into(), "ApiKeyIssued".into(), "RouteDeleted".into()];
        s.description = Some("   ".into());
    })
    .normalized();
    assert_eq!(messy.event_types, vec!["ApiKeyIssued".to_string(), "RouteDeleted".to_string()]);
    assert_eq!(messy.description, None);
    let control = with(|s| s.description = Some("a\u{0}b".into())).validate().err();
    assert_eq!(control, Some(EndpointSpecError::InvalidDescription));
}
