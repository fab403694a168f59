use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};

use super::*;
use crate::{Limits, Money};

type Given = TestFramework<Organization>;

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).single().unwrap_or_default()
}

fn limits() -> Limits {
    Limits {
        monthly_requests: Some(100),
        monthly_tokens: None,
        monthly_cost: Some(Money::from_nanos(5)),
        ..Limits::UNLIMITED
    }
}

fn created() -> OrganizationEvent {
    OrganizationEvent::OrganizationCreated { name: "Acme".into(), limits: Limits::UNLIMITED, at: t(0) }
}

#[tokio::test]
async fn creating_an_organization_trims_its_name() {
    Given::with(())
        .given_no_previous_events()
        .when_async(OrganizationCommand::Create { name: "  Acme ".into(), limits: limits(), at: t(0) })
        .await
        .then_expect_events(vec![OrganizationEvent::OrganizationCreated {
            name: "Acme".into(),
            limits: limits(),
            at: t(0),
        }]);
}

#[tokio::test]
async fn creating_twice_is_refused() {
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::Create { name: "Acme".into(), limits: limits(), at: t(1) })
        .await
        .then_expect_error(OrganizationError::AlreadyExists);
}

#[tokio::test]
async fn an_empty_name_is_refused() {
    Given::with(())
        .given_no_previous_events()
        .when_async(OrganizationCommand::Create { name: " ".into(), limits: limits(), at: t(0) })
        .await
        .then_expect_error(OrganizationError::InvalidName(crate::NameError::Empty));
}

#[tokio::test]
async fn a_negative_cost_limit_is_refused() {
    let negative = Limits { monthly_cost: Some(Money::from_nanos(-1)), ..Limits::UNLIMITED };
    Given::with(())
        .given_no_previous_events()
        .when_async(OrganizationCommand::Create { name: "Acme".into(), limits: negative, at: t(0) })
        .await
        .then_expect_error(OrganizationError::InvalidLimits(crate::limits::LimitsError::NegativeCost));
}

#[tokio::test]
async fn commands_on_a_missing_organization_are_refused() {
    Given::with(())
        .given_no_previous_events()
        .when_async(OrganizationCommand::Rename { name: "New".into(), at: t(1) })
        .await
        .then_expect_error(OrganizationError::NotFound);
}

#[tokio::test]
async fn renaming_records_the_new_name() {
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::Rename { name: "Acme Corp".into(), at: t(1) })
        .await
        .then_expect_events(vec![OrganizationEvent::OrganizationRenamed { name: "Acme Corp".into(), at: t(1) }]);
}

#[tokio::test]
async fn renaming_to_the_same_name_records_nothing() {
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::Rename { name: "Acme".into(), at: t(1) })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn changing_limits_records_them_once() {
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::ChangeLimits { limits: limits(), at: t(1) })
        .await
        .then_expect_events(vec![OrganizationEvent::OrganizationLimitsChanged { limits: limits(), at: t(1) }]);
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::ChangeLimits { limits: Limits::UNLIMITED, at: t(1) })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn suspend_and_reactivate_alternate() {
    let suspended = OrganizationEvent::OrganizationSuspended { reason: None, at: t(1) };
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::Suspend { reason: Some("unpaid".into()), at: t(1) })
        .await
        .then_expect_events(vec![OrganizationEvent::OrganizationSuspended { reason: Some("unpaid".into()), at: t(1) }]);
    Given::with(())
        .given(vec![created(), suspended.clone()])
        .when_async(OrganizationCommand::Suspend { reason: None, at: t(2) })
        .await
        .then_expect_error(OrganizationError::AlreadySuspended);
    Given::with(())
        .given(vec![created(), suspended])
        .when_async(OrganizationCommand::Reactivate { at: t(2) })
        .await
        .then_expect_events(vec![OrganizationEvent::OrganizationReactivated { at: t(2) }]);
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::Reactivate { at: t(2) })
        .await
        .then_expect_error(OrganizationError::NotSuspended);
}

#[tokio::test]
async fn a_deleted_organization_accepts_no_more_changes() {
    let deleted = OrganizationEvent::OrganizationDeleted { at: t(1) };
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::Delete { at: t(1) })
        .await
        .then_expect_events(vec![deleted.clone()]);
    for command in [
        OrganizationCommand::Rename { name: "X".into(), at: t(2) },
        OrganizationCommand::Delete { at: t(2) },
        OrganizationCommand::Reactivate { at: t(2) },
        OrganizationCommand::Suspend { reason: None, at: t(2) },
        OrganizationCommand::ChangeLimits { limits: limits(), at: t(2) },
    ] {
        Given::with(())
            .given(vec![created(), deleted.clone()])
            .when_async(command)
            .await
            .then_expect_error(OrganizationError::Deleted);
    }
}

#[test]
fn applying_events_folds_the_state() {
    let mut org = Organization::default();
    org.apply(created());
    org.apply(OrganizationEvent::OrganizationRenamed { name: "B".into(), at: t(1) });
    org.apply(OrganizationEvent::OrganizationSuspended { reason: None, at: t(2) });
    let state = org.state.unwrap_or_else(|| unreachable!());
    assert_eq!(state.name, "B");
    assert_eq!(state.status, OrganizationStatus::Suspended);
    assert_eq!(state.created_at, t(0));
    assert_eq!(state.updated_at, t(2));
}

#[test]
fn given_events_written_in_version_1_0_when_loaded_then_budgets_and_rates_are_unlimited() {
    let created = r#"{"OrganizationCreated":{"name":"Acme","limits":{"monthly_requests":100,"monthly_tokens":null,"monthly_cost":5},"at":"2026-11-01T00:00:00Z"}}"#;
    let changed = r#"{"OrganizationLimitsChanged":{"limits":{"monthly_requests":null,"monthly_tokens":7,"monthly_cost":null},"at":"2026-11-02T00:00:00Z"}}"#;
    let created: OrganizationEvent = serde_json::from_str(created).unwrap();
    let changed: OrganizationEvent = serde_json::from_str(changed).unwrap();
    let mut org = Organization::default();
    org.apply(created);
    assert_eq!(org.state.as_ref().unwrap().limits, limits());
    org.apply(changed);
    let now = &org.state.as_ref().unwrap().limits;
    assert_eq!(now.monthly_tokens, Some(7));
    assert_eq!(now.daily_requests, None);
    assert!(now.models.is_empty());
    assert_eq!(OrganizationEvent::OrganizationRenamed { name: "x".into(), at: Utc::now() }.event_version(), "1.0");
}

#[tokio::test]
async fn turning_body_logging_on_records_it() {
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::SetBodyLogging { enabled: true, at: t(1) })
        .await
        .then_expect_events(vec![OrganizationEvent::OrganizationBodyLoggingChanged { enabled: true, at: t(1) }]);
}

#[tokio::test]
async fn body_logging_is_off_at_creation_so_turning_it_off_changes_nothing() {
    Given::with(())
        .given(vec![created()])
        .when_async(OrganizationCommand::SetBodyLogging { enabled: false, at: t(1) })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn turning_body_logging_off_after_on_records_it() {
    Given::with(())
        .given(vec![created(), OrganizationEvent::OrganizationBodyLoggingChanged { enabled: true, at: t(1) }])
        .when_async(OrganizationCommand::SetBodyLogging { enabled: false, at: t(2) })
        .await
        .then_expect_events(vec![OrganizationEvent::OrganizationBodyLoggingChanged { enabled: false, at: t(2) }]);
}

#[tokio::test]
async fn body_logging_of_a_deleted_organization_cannot_change() {
    Given::with(())
        .given(vec![created(), OrganizationEvent::OrganizationDeleted { at: t(1) }])
        .when_async(OrganizationCommand::SetBodyLogging { enabled: true, at: t(2) })
        .await
        .then_expect_error(OrganizationError::Deleted);
}

#[test]
fn the_body_logging_event_folds_into_the_state_and_keeps_its_name() {
    let mut organization = Organization::default();
    organization.apply(created());
    let event = OrganizationEvent::OrganizationBodyLoggingChanged { enabled: true, at: t(3) };
    assert_eq!(event.event_type(), "OrganizationBodyLoggingChanged");
    assert_eq!(event.event_version(), "1.0");
    organization.apply(event);
    let state = organization.state.unwrap_or_else(|| panic!("created"));
    assert!(state.log_bodies);
    assert_eq!(state.updated_at, t(3));
}

#[test]
fn a_state_stored_before_body_logging_reads_as_off() {
    let old = serde_json::json!({
        "name": "Acme", "limits": {}, "status": "active",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    });
    let state: OrganizationState = serde_json::from_value(old).unwrap_or_else(|e| panic!("{e}"));
    assert!(!state.log_bodies);
}
