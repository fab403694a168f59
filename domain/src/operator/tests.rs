use chrono::TimeZone;
use cqrs_es::test::TestFramework;

use super::*;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

fn t() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

fn created() -> OperatorEvent {
    OperatorEvent::OperatorCreated { username: "admin".into(), password_hash: HASH.into(), at: t() }
}

#[tokio::test]
async fn creating_an_operator_records_only_the_hash() {
    TestFramework::<Operator>::with(())
        .given_no_previous_events()
        .when_async(OperatorCommand::Create { username: "admin".into(), password_hash: HASH.into(), at: t() })
        .await
        .then_expect_events(vec![created()]);
}

#[tokio::test]
async fn a_plaintext_password_is_refused() {
    TestFramework::<Operator>::with(())
        .given_no_previous_events()
        .when_async(OperatorCommand::Create { username: "admin".into(), password_hash: "hunter2".into(), at: t() })
        .await
        .then_expect_error(OperatorError::InvalidPasswordHash);
}

#[tokio::test]
async fn creating_twice_or_changing_a_missing_operator_is_refused() {
    TestFramework::<Operator>::with(())
        .given(vec![created()])
        .when_async(OperatorCommand::Create { username: "admin".into(), password_hash: HASH.into(), at: t() })
        .await
        .then_expect_error(OperatorError::AlreadyExists);
    TestFramework::<Operator>::with(())
        .given_no_previous_events()
        .when_async(OperatorCommand::Disable { at: t() })
        .await
        .then_expect_error(OperatorError::NotFound);
}

#[tokio::test]
async fn password_changes_and_disabling_are_recorded_and_a_disabled_operator_keeps_its_password() {
    TestFramework::<Operator>::with(())
        .given(vec![created()])
        .when_async(OperatorCommand::ChangePassword { password_hash: HASH.into(), at: t() })
        .await
        .then_expect_events(vec![OperatorEvent::OperatorPasswordChanged { password_hash: HASH.into(), at: t() }]);
    TestFramework::<Operator>::with(())
        .given(vec![created()])
        .when_async(OperatorCommand::Disable { at: t() })
        .await
        .then_expect_events(vec![OperatorEvent::OperatorDisabled { at: t() }]);
    TestFramework::<Operator>::with(())
        .given(vec![created(), OperatorEvent::OperatorDisabled { at: t() }])
        .when_async(OperatorCommand::ChangePassword { password_hash: HASH.into(), at: t() })
        .await
        .then_expect_error(OperatorError::Disabled);
}

fn given(events: Vec<OperatorEvent>, command: OperatorCommand) -> Result<Vec<OperatorEvent>, OperatorError> {
    let mut operator = Operator::default();
    for event in events {
        operator.apply(event);
    }
    operator.decide(command)
}

fn disabled() -> OperatorEvent {
    OperatorEvent::OperatorDisabled { at: t() }
}

fn deleted() -> OperatorEvent {
    OperatorEvent::OperatorDeleted { at: t() }
}

#[tokio::test]
async fn a_disabled_operator_can_be_enabled_and_an_active_one_cannot() {
    TestFramework::<Operator>::with(())
        .given(vec![created(), disabled()])
        .when_async(OperatorCommand::Enable { at: t() })
        .await
        .then_expect_events(vec![OperatorEvent::OperatorEnabled { at: t() }]);
    TestFramework::<Operator>::with(())
        .given(vec![created()])
        .when_async(OperatorCommand::Enable { at: t() })
        .await
        .then_expect_error(OperatorError::NotDisabled);
}

#[tokio::test]
async fn disabling_twice_is_refused() {
    TestFramework::<Operator>::with(())
        .given(vec![created(), disabled()])
        .when_async(OperatorCommand::Disable { at: t() })
        .await
        .then_expect_error(OperatorError::Disabled);
}

#[tokio::test]
async fn active_and_disabled_operators_can_be_deleted() {
    for history in [vec![created()], vec![created(), disabled()]] {
        TestFramework::<Operator>::with(())
            .given(history)
            .when_async(OperatorCommand::Delete { at: t() })
            .await
            .then_expect_events(vec![deleted()]);
    }
}

#[tokio::test]
async fn a_deleted_operator_is_gone_for_every_command() {
    let commands = [
        OperatorCommand::ChangePassword { password_hash: HASH.into(), at: t() },
        OperatorCommand::Disable { at: t() },
        OperatorCommand::Enable { at: t() },
        OperatorCommand::Delete { at: t() },
        OperatorCommand::EndSessions { at: t() },
    ];
    for command in commands {
        assert_eq!(given(vec![created(), deleted()], command), Err(OperatorError::NotFound));
    }
    assert_eq!(
        given(
            vec![created(), deleted()],
            OperatorCommand::Create { username: "admin".into(), password_hash: HASH.into(), at: t() }
        ),
        Err(OperatorError::AlreadyExists)
    );
}

#[tokio::test]
async fn ending_sessions_is_recorded_for_active_operators_only() {
    TestFramework::<Operator>::with(())
        .given(vec![created()])
        .when_async(OperatorCommand::EndSessions { at: t() })
        .await
        .then_expect_events(vec![OperatorEvent::OperatorSessionsEnded { at: t() }]);
    assert_eq!(
        given(vec![created(), disabled()], OperatorCommand::EndSessions { at: t() }),
        Err(OperatorError::Disabled)
    );
    assert_eq!(given(vec![], OperatorCommand::EndSessions { at: t() }), Err(OperatorError::NotFound));
}

#[test]
fn every_session_ending_event_bumps_the_session_version_and_enabling_does_not() {
    let version_after = |events: Vec<OperatorEvent>| {
        let mut operator = Operator::default();
        for event in events {
            operator.apply(event);
        }
        operator.state.map(|s| s.session_version)
    };
    assert_eq!(version_after(vec![created()]), Some(0));
    assert_eq!(
        version_after(vec![created(), OperatorEvent::OperatorPasswordChanged { password_hash: HASH.into(), at: t() }]),
        Some(1)
    );
    assert_eq!(version_after(vec![created(), disabled()]), Some(1));
    assert_eq!(version_after(vec![created(), disabled(), OperatorEvent::OperatorEnabled { at: t() }]), Some(1));
    assert_eq!(version_after(vec![created(), OperatorEvent::OperatorSessionsEnded { at: t() }]), Some(1));
    assert_eq!(version_after(vec![created(), disabled(), deleted()]), Some(2));
}

#[test]
fn old_state_json_without_the_new_fields_still_reads() {
    let old = r#"{"username":"admin","password_hash":"$a$b$c$d","disabled":false,
        "created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#;
    let state: OperatorState = serde_json::from_str(old).unwrap();
    assert_eq!((state.deleted, state.session_version), (false, 0));
}
