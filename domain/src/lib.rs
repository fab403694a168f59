//! GaiaRouter's domain: aggregates, commands, events and value types.
//!
//! Everything here is pure: no IO, no clock reads (time arrives inside commands),
//! no randomness (secrets and their hashes are made by the caller). Each aggregate
//! decides with a synchronous `decide` function; the cqrs-es `handle` only forwards
//! the decided events to the sink, so the rules are testable without a runtime.

pub mod api_key;
pub mod limits;
pub mod login;
pub mod money;
pub mod operator;
pub mod organization;
pub mod permission;
pub mod request;

pub use limits::Limits;
pub use money::Money;
pub use permission::Permission;

/// Longest display name accepted for organizations, keys and operators.
pub const MAX_NAME_LEN: usize = 200;

/// Trims a display name and checks it is neither empty nor too long.
pub fn normalize_name(raw: &str) -> Result<String, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    Ok(name.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must not be empty")]
    Empty,
    #[error("name must be at most 200 characters")]
    TooLong,
    #[error("name must not contain control characters")]
    ControlCharacter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(normalize_name("  Acme  "), Ok("Acme".to_string()));
        assert_eq!(normalize_name("   "), Err(NameError::Empty));
        assert_eq!(normalize_name(&"x".repeat(201)), Err(NameError::TooLong));
        assert_eq!(normalize_name("a\u{0}b"), Err(NameError::ControlCharacter));
    }
}
