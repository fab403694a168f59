use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::{Limits, Permission};

type Given = TestFramework<ApiKey>;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default() + Duration::minutes(minute)
}

const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn org() -> Uuid {
    Uuid::from_u128(7)
}

fn issue(expires_at: Option<DateTime<Utc>>) -> ApiKeyCommand {
    ApiKeyCommand::Issue {
        organization_id: org(),
        name: " ci ".into(),
        permission: Permission::Write,
        limits: Limits::UNLIMITED,
        expires_at,
        public_id: "abcdEFGH1234".into(),
        secret_hash: HASH_A.into(),
        at: t(0),
    }
}

fn issued() -> ApiKeyEvent {
    ApiKeyEvent::ApiKeyIssued {
        organization_id: org(),
        name: "ci".into(),
        permission: Permission::Write,
        limits: Limits::UNLIMITED,
        expires_at: None,
        public_id: "abcdEFGH1234".into(),
        secret_hash: HASH_A.into(),
        at: t(0),
    }
}

#[tokio::test]
async fn issuing_a_key_records_its_hash_and_public_id() {
    Given::with(()).given_no_previous_events().when_async(issue(None)).await.then_expect_events(vec![issued()]);
}

#[tokio::test]
async fn issuing_twice_is_refused() {
    Given::with(()).given(vec![issued()]).when_async(issue(None)).await.then_expect_error(ApiKeyError::AlreadyIssued);
}

#[tokio::test]
async fn issuing_with_a_past_expiry_is_refused() {
    Given::with(())
        .given_no_previous_events()
        .when_async(issue(Some(t(-1))))
        .await
        .then_expect_error(ApiKeyError::ExpiryInPast);
}

#[tokio::test]
async fn issuing_with_a_malformed_hash_or_public_id_is_refused() {
    let mut command = issue(None);
    if let ApiKeyCommand::Issue { secret_hash, .. } = &mut command {
        *secret_hash = "plaintext-secret".into();
    }
    Given::with(())
        .given_no_previous_events()
        .when_async(command)
        .await
        .then_expect_error(ApiKeyError::InvalidSecretHash);
    let mut command = issue(None);
    if let ApiKeyCommand::Issue { public_id, .. } = &mut command {
        *public_id = "x-y".into();
    }
    Given::with(())
        .given_no_previous_events()
        .when_async(command)
        .await
        .then_expect_error(ApiKeyError::InvalidPublicId);
}

#[tokio::test]
async fn changes_to_a_missing_key_are_refused() {
    Given::with(())
        .given_no_previous_events()
        .when_async(ApiKeyCommand::Revoke { at: t(1) })
        .await
        .then_expect_error(ApiKeyError::NotFound);
}

#[tokio::test]
async fn rename_permission_limits_and_expiry_are_recorded_when_they_change() {
    let limits = Limits { monthly_requests: Some(10), ..Limits::UNLIMITED };
    let cases = vec![
        (
            ApiKeyCommand::Rename { name: "prod".into(), at: t(1) },
            vec![ApiKeyEvent::ApiKeyRenamed { name: "prod".into(), at: t(1) }],
        ),
        (ApiKeyCommand::Rename { name: "ci".into(), at: t(1) }, vec![]),
        (
            ApiKeyCommand::ChangePermission { permission: Permission::Read, at: t(1) },
            vec![ApiKeyEvent::ApiKeyPermissionChanged { permission: Permission::Read, at: t(1) }],
        ),
        (ApiKeyCommand::ChangePermission { permission: Permission::Write, at: t(1) }, vec![]),
        (
            ApiKeyCommand::ChangeLimits { limits: limits.clone(), at: t(1) },
            vec![ApiKeyEvent::ApiKeyLimitsChanged { limits, at: t(1) }],
        ),
        (ApiKeyCommand::ChangeLimits { limits: Limits::UNLIMITED, at: t(1) }, vec![]),
        (
            ApiKeyCommand::SetExpiry { expires_at: Some(t(60)), at: t(1) },
            vec![ApiKeyEvent::ApiKeyExpirySet { expires_at: Some(t(60)), at: t(1) }],
        ),
        (ApiKeyCommand::SetExpiry { expires_at: None, at: t(1) }, vec![]),
    ];
    for (command, expected) in cases {
        Given::with(()).given(vec![issued()]).when_async(command).await.then_expect_events(expected);
    }
}

#[tokio::test]
async fn rotating_replaces_the_hash_and_refuses_the_same_secret() {
    Given::with(())
        .given(vec![issued()])
        .when_async(ApiKeyCommand::RotateSecret { secret_hash: HASH_B.into(), at: t(1) })
        .await
        .then_expect_events(vec![ApiKeyEvent::ApiKeySecretRotated { secret_hash: HASH_B.into(), at: t(1) }]);
    Given::with(())
        .given(vec![issued()])
        .when_async(ApiKeyCommand::RotateSecret { secret_hash: HASH_A.into(), at: t(1) })
        .await
        .then_expect_error(ApiKeyError::SameSecret);
}

#[tokio::test]
async fn a_revoked_key_accepts_no_more_changes() {
    let revoked = ApiKeyEvent::ApiKeyRevoked { at: t(1) };
    Given::with(())
        .given(vec![issued()])
        .when_async(ApiKeyCommand::Revoke { at: t(1) })
        .await
        .then_expect_events(vec![revoked.clone()]);
    Given::with(())
        .given(vec![issued(), revoked])
        .when_async(ApiKeyCommand::RotateSecret { secret_hash: HASH_B.into(), at: t(2) })
        .await
        .then_expect_error(ApiKeyError::Revoked);
}

#[test]
fn expiry_ends_usability() {
    let mut key = ApiKey::default();
    key.apply(issued());
    key.apply(ApiKeyEvent::ApiKeyExpirySet { expires_at: Some(t(10)), at: t(1) });
    let state = key.state.unwrap_or_else(|| unreachable!());
    assert!(state.is_usable_at(t(9)));
    assert!(!state.is_usable_at(t(10)));
}

fn any_command() -> impl Strategy<Value = ApiKeyCommand> {
    prop_oneof![
        "[a-z]{0,3}".prop_map(|name| ApiKeyCommand::Rename { name, at: t(2) }),
        prop_oneof![Just(Permission::Read), Just(Permission::Write), Just(Permission::Admin)]
            .prop_map(|permission| ApiKeyCommand::ChangePermission { permission, at: t(2) }),
        proptest::option::of(0_u64..5).prop_map(|r| ApiKeyCommand::ChangeLimits {
            limits: Limits { monthly_requests: r, ..Limits::UNLIMITED },
            at: t(2)
        }),
        proptest::option::of(-5_i64..100).prop_map(|m| ApiKeyCommand::SetExpiry { expires_at: m.map(t), at: t(2) }),
        prop_oneof![Just(HASH_A), Just(HASH_B)]
            .prop_map(|h| ApiKeyCommand::RotateSecret { secret_hash: h.to_string(), at: t(2) }),
        Just(ApiKeyCommand::Revoke { at: t(2) }),
        Just(issue(None)),
    ]
}

proptest! {
    /// Whatever commands follow, once revoked a key is never usable again and
    /// its secret hash never changes.
    #[test]
    fn a_revoked_key_never_becomes_usable_again(
        before in proptest::collection::vec(any_command(), 0..8),
        after in proptest::collection::vec(any_command(), 0..16),
    ) {
        let mut key = ApiKey::default();
        key.apply(issued());
        for command in before {
            for event in key.decide(command).unwrap_or_default() {
                key.apply(event);
            }
        }
        for event in key.decide(ApiKeyCommand::Revoke { at: t(3) }).unwrap_or_default() {
            key.apply(event);
        }
        let revoked_hash = key.state.as_ref().map(|s| s.secret_hash.clone());
        for command in after {
            prop_assert!(key.decide(command).is_err());
        }
        let state = key.state.as_ref().unwrap_or_else(|| unreachable!());
        prop_assert!(!state.is_usable_at(t(4)));
        prop_assert_eq!(Some(state.secret_hash.clone()), revoked_hash);
    }
}
