//! Login attempts for the audit trail: one `Login` stream per attempt (id =
//! UUIDv7) with one event, like `Request`, so streams never grow however many
//! attempts an attacker makes. Never holds a password, only the (normalized,
//! bounded) username that was tried, known or not.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

pub const AGGREGATE_TYPE: &str = "Login";

/// Usernames longer than this are cut before they are recorded or tracked.
pub const MAX_USERNAME_LEN: usize = 200;

/// The form every tried username is recorded and throttled under: trimmed,
/// lower-case, control characters dropped, at most `MAX_USERNAME_LEN` characters.
pub fn normalize_username(raw: &str) -> String {
    raw.trim().chars().filter(|c| !c.is_control()).flat_map(char::to_lowercase).take(MAX_USERNAME_LEN).collect()
}

/// What a lockout applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockScope {
    Username,
    ClientIp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginEvent {
    /// A wrong password, or a username that does not exist (`known_user` false).
    LoginFailed { username: String, known_user: bool, at: DateTime<Utc> },
    /// Too many failures: attempts for this username or from this address are
    /// refused until `until`.
    LoginLockedOut { username: String, scope: LockScope, failures: u32, until: DateTime<Utc>, at: DateTime<Utc> },
}

impl DomainEvent for LoginEvent {
    fn event_type(&self) -> String {
        match self {
            Self::LoginFailed { .. } => "LoginFailed",
            Self::LoginLockedOut { .. } => "LoginLockedOut",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_recorded_normalized_and_bounded() {
        assert_eq!(normalize_username("  Admin\u{0}  "), "admin");
        assert_eq!(normalize_username(&"X".repeat(5_000)).chars().count(), MAX_USERNAME_LEN);
    }

    #[test]
    fn events_have_stable_names() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let failed = LoginEvent::LoginFailed { username: "a".into(), known_user: false, at };
        assert_eq!(failed.event_type(), "LoginFailed");
        let json = serde_json::to_value(&failed).unwrap_or_default();
        assert_eq!(json["LoginFailed"]["username"], "a");
        let locked = LoginEvent::LoginLockedOut {
            username: "a".into(),
            scope: LockScope::ClientIp,
            failures: 20,
            until: at,
            at,
        };
        assert_eq!(locked.event_type(), "LoginLockedOut");
    }
}
