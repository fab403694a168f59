//! Who may manage which API key: one rule for every key-management route.
//!
//! A caller acts on a key only when its permission is at least the key's, and it
//! hands out nothing it does not hold itself: no higher permission, no looser
//! limits, no later expiry. Acting on its own key that means a non-admin key may
//! tighten its limits and expiry but never lift what an admin set on it. Admins
//! (operators and `admin` keys) hold everything, so nothing caps them.
//!
//! Organization scope (a key of another organization is invisible, answered as
//! "not found") is decided before this rule, where keys are looked up.

use chrono::{DateTime, Utc};

use crate::{Limits, Permission};

/// What the caller holds: the ceiling of what it may hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authority {
    /// Operators and `admin` keys.
    Admin,
    /// A `read` or `write` key, with its own limits and expiry.
    Key { permission: Permission, limits: Box<Limits>, expires_at: Option<DateTime<Utc>> },
}

/// A change to a key, or the issue of a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    Issue { permission: Permission, limits: Limits, expires_at: Option<DateTime<Utc>> },
    Rename,
    ChangePermission(Permission),
    ChangeLimits(Limits),
    SetExpiry(Option<DateTime<Utc>>),
    Rotate,
    Revoke,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    #[error("managing API keys needs the `write` permission")]
    CannotManageKeys,
    #[error("this key has the `{0}` permission, higher than yours")]
    TargetOutranksCaller(&'static str),
    #[error("cannot grant a permission higher than your own")]
    PermissionAboveOwn,
    #[error("cannot set `{0}` above (or remove) the limit of your own key")]
    LimitAboveOwn(&'static str),
    #[error("cannot set an expiry later than (or remove) the expiry of your own key")]
    ExpiryBeyondOwn,
}

impl AuthorizationError {
    /// The request field the refusal is about, when there is one.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            Self::CannotManageKeys | Self::TargetOutranksCaller(_) => None,
            Self::PermissionAboveOwn => Some("permission"),
            Self::LimitAboveOwn(_) => Some("limits"),
            Self::ExpiryBeyondOwn => Some("expires_at"),
        }
    }
}

impl Authority {
    fn permission(&self) -> Permission {
        match self {
            Authority::Admin => Permission::Admin,
            Authority::Key { permission, .. } => *permission,
        }
    }
}

/// Decides whether `caller` may perform `action` on a key whose permission is
/// `target` (`None` when the action issues a new key).
pub fn authorize_key_action(
    caller: &Authority,
    target: Option<Permission>,
    action: &KeyAction,
) -> Result<(), AuthorizationError> {
    let Authority::Key { permission: own, limits: own_limits, expires_at: own_expiry } = caller else {
        return Ok(());
    };
    if !own.allows(Permission::Write) {
        return Err(AuthorizationError::CannotManageKeys);
    }
    if let Some(target) = target {
        if !caller.permission().allows(target) {
            return Err(AuthorizationError::TargetOutranksCaller(target.as_str()));
        }
    }
    match action {
        KeyAction::Issue { permission, limits, expires_at } => {
            check_permission(*own, *permission)?;
            check_limits(own_limits, limits)?;
            check_expiry(*own_expiry, *expires_at)
        }
        KeyAction::ChangePermission(permission) => check_permission(*own, *permission),
        KeyAction::ChangeLimits(limits) => check_limits(own_limits, limits),
        KeyAction::SetExpiry(expires_at) => check_expiry(*own_expiry, *expires_at),
        KeyAction::Rename | KeyAction::Rotate | KeyAction::Revoke => Ok(()),
    }
}

fn check_permission(own: Permission, granted: Permission) -> Result<(), AuthorizationError> {
    if own.allows(granted) {
        Ok(())
    } else {
        Err(AuthorizationError::PermissionAboveOwn)
    }
}

/// A limit the caller has caps the same limit of what it hands out; `None`
/// (unlimited) is above every number.
fn within<T: PartialOrd>(own: Option<T>, granted: Option<T>) -> bool {
    match (own, granted) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(own), Some(granted)) => granted <= own,
    }
}

fn check_limits(own: &Limits, granted: &Limits) -> Result<(), AuthorizationError> {
    let granted: std::collections::HashMap<String, Option<i64>> = granted.named_limits().into_iter().collect();
    for (name, own_value) in own.named_limits() {
        if !within(own_value, granted.get(&name).copied().flatten()) {
            return Err(AuthorizationError::LimitAboveOwn(static_name(&name)));
        }
    }
    Ok(())
}

/// The refusal names the limit; per-model limits are named by their group.
fn static_name(name: &str) -> &'static str {
    const NAMES: [&str; 15] = [
        "daily_requests",
        "daily_tokens",
        "daily_cost_usd",
        "weekly_requests",
        "weekly_tokens",
        "weekly_cost_usd",
        "monthly_requests",
        "monthly_tokens",
        "monthly_cost_usd",
        "total_requests",
        "total_tokens",
        "total_cost_usd",
        "requests_per_minute",
        "tokens_per_minute",
        "concurrent_requests",
    ];
    NAMES.into_iter().find(|n| *n == name).unwrap_or("models")
}

fn check_expiry(own: Option<DateTime<Utc>>, granted: Option<DateTime<Utc>>) -> Result<(), AuthorizationError> {
    if within(own, granted) {
        Ok(())
    } else {
        Err(AuthorizationError::ExpiryBeyondOwn)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::Money;
    use AuthorizationError as E;
    use Permission::{Admin, Read, Write};

    fn key(permission: Permission) -> Authority {
        Authority::Key { permission, limits: Box::new(Limits::UNLIMITED), expires_at: None }
    }

    fn limited_write_key() -> Authority {
        Authority::Key {
            permission: Write,
            limits: Box::new(Limits {
                monthly_requests: Some(100),
                monthly_tokens: None,
                monthly_cost: Some(Money::from_nanos(5)),
                ..Limits::UNLIMITED
            }),
            expires_at: Some(day(10)),
        }
    }

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, 0, 0, 0).single().unwrap_or_default()
    }

    fn requests(n: Option<u64>) -> Limits {
        Limits { monthly_requests: n, ..Limits::UNLIMITED }
    }

    #[test]
    fn given_an_admin_when_it_does_anything_then_it_is_allowed() {
        for action in [KeyAction::Rotate, KeyAction::ChangeLimits(Limits::UNLIMITED), KeyAction::SetExpiry(None)] {
            assert_eq!(authorize_key_action(&Authority::Admin, Some(Admin), &action), Ok(()));
        }
    }

    #[test]
    fn given_a_read_key_when_it_changes_any_key_then_it_is_refused() {
        for target in [None, Some(Read)] {
            assert_eq!(authorize_key_action(&key(Read), target, &KeyAction::Rename), Err(E::CannotManageKeys));
        }
    }

    #[test]
    fn given_a_write_key_when_it_acts_on_an_admin_key_then_every_action_is_refused() {
        let actions = [
            KeyAction::Rename,
            KeyAction::Rotate,
            KeyAction::Revoke,
            KeyAction::ChangePermission(Read),
            KeyAction::ChangeLimits(requests(Some(1))),
            KeyAction::SetExpiry(Some(day(1))),
        ];
        for action in actions {
            assert_eq!(
                authorize_key_action(&key(Write), Some(Admin), &action),
                Err(E::TargetOutranksCaller("admin")),
                "{action:?}"
            );
        }
    }

    #[test]
    fn given_a_write_key_when_it_acts_on_write_and_read_keys_then_it_is_allowed() {
        for target in [Write, Read] {
            for action in [KeyAction::Rename, KeyAction::Rotate, KeyAction::Revoke, KeyAction::ChangePermission(Read)] {
                assert_eq!(authorize_key_action(&key(Write), Some(target), &action), Ok(()));
            }
        }
    }

    #[test]
    fn given_a_write_key_when_it_grants_admin_then_it_is_refused() {
        assert_eq!(
            authorize_key_action(&key(Write), Some(Write), &KeyAction::ChangePermission(Admin)),
            Err(E::PermissionAboveOwn)
        );
        let issue = KeyAction::Issue { permission: Admin, limits: Limits::UNLIMITED, expires_at: None };
        assert_eq!(authorize_key_action(&key(Write), None, &issue), Err(E::PermissionAboveOwn));
    }

    #[test]
    fn given_a_limited_key_when_it_lifts_its_own_limits_then_it_is_refused() {
        let caller = limited_write_key();
        let lifted = [requests(None), requests(Some(101))];
        for limits in lifted {
            assert_eq!(
                authorize_key_action(&caller, Some(Write), &KeyAction::ChangeLimits(limits)),
                Err(E::LimitAboveOwn("monthly_requests"))
            );
        }
        let no_cost = Limits { monthly_requests: Some(10), ..Limits::UNLIMITED };
        assert_eq!(
            authorize_key_action(&caller, Some(Write), &KeyAction::ChangeLimits(no_cost)),
            Err(E::LimitAboveOwn("monthly_cost_usd"))
        );
    }

    #[test]
    fn given_a_limited_key_when_it_tightens_limits_then_it_is_allowed() {
        let tighter = Limits {
            monthly_requests: Some(50),
            monthly_tokens: Some(1_000),
            monthly_cost: Some(Money::from_nanos(5)),
            ..Limits::UNLIMITED
        };
        assert_eq!(authorize_key_action(&limited_write_key(), Some(Write), &KeyAction::ChangeLimits(tighter)), Ok(()));
    }

    #[test]
    fn given_an_expiring_key_when_it_removes_or_extends_expiry_then_it_is_refused() {
        let caller = limited_write_key();
        for expiry in [None, Some(day(11))] {
            assert_eq!(
                authorize_key_action(&caller, Some(Write), &KeyAction::SetExpiry(expiry)),
                Err(E::ExpiryBeyondOwn)
            );
        }
        assert_eq!(authorize_key_action(&caller, Some(Write), &KeyAction::SetExpiry(Some(day(9)))), Ok(()));
    }

    #[test]
    fn given_a_limited_key_when_it_issues_an_unlimited_key_then_it_is_refused() {
        let caller = limited_write_key();
        let unlimited = KeyAction::Issue { permission: Read, limits: Limits::UNLIMITED, expires_at: Some(day(2)) };
        assert_eq!(authorize_key_action(&caller, None, &unlimited), Err(E::LimitAboveOwn("monthly_requests")));
        let forever = KeyAction::Issue {
            permission: Read,
            limits: Limits {
                monthly_requests: Some(1),
                monthly_tokens: None,
                monthly_cost: Some(Money::from_nanos(1)),
                ..Limits::UNLIMITED
            },
            expires_at: None,
        };
        assert_eq!(authorize_key_action(&caller, None, &forever), Err(E::ExpiryBeyondOwn));
    }

    #[test]
    fn refusals_name_the_field_they_are_about() {
        assert_eq!(E::LimitAboveOwn("monthly_tokens").param(), Some("limits"));
        assert_eq!(E::ExpiryBeyondOwn.param(), Some("expires_at"));
        assert_eq!(E::TargetOutranksCaller("admin").param(), None);
    }
}
