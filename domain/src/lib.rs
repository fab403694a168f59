//! GaiaRouter's domain: aggregates, commands, events and value types.
//!
//! Everything here is pure: no IO, no clock reads (time arrives inside commands),
//! no randomness (secrets and their hashes are made by the caller). Each aggregate
//! decides with a synchronous `decide` function; the cqrs-es `handle` only forwards
//! the decided events to the sink, so the rules are testable without a runtime.

pub mod api_key;
pub mod authorization;
pub mod budget_alert;
pub mod deployment;
pub mod limits;
pub mod login;
pub mod money;
pub mod operator;
pub mod organization;
pub mod permission;
pub mod request;
pub mod route;
pub mod webhook;

pub use limits::Limits;
pub use money::Money;
pub use permission::Permission;

/// Longest display name accepted for organizations, keys and operators.
pub const MAX_NAME_LEN: usize = 200;

/// Characters that render as nothing or reorder the text around them: zero-width
/// spaces and joiners, bidirectional embeddings, overrides and isolates, and
/// invisible fillers. In a name they make look-alikes ("Acme" vs "Ac\u{200B}me")
/// that fool a reader of the audit trail, so names refuse them.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0E}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Normalizes a display name (Unicode NFC, every run of white space one plain
/// space, trimmed) and checks it is neither empty, too long, nor holding control
/// or invisible characters. Two names that look the same after this are equal.
pub fn normalize_name(raw: &str) -> Result<String, NameError> {
    use unicode_normalization::UnicodeNormalization;
    if raw.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(NameError::ControlCharacter);
    }
    if raw.chars().any(is_invisible) {
        return Err(NameError::InvisibleCharacter);
    }
    let name = raw.nfc().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    Ok(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must not be empty")]
    Empty,
    #[error("name must be at most 200 characters")]
    TooLong,
    #[error("name must not contain control characters")]
    ControlCharacter,
    #[error("name must not contain invisible or text-direction characters")]
    InvisibleCharacter,
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

    #[test]
    fn given_white_space_and_decomposed_letters_when_normalized_then_they_fold_to_one_form() {
        assert_eq!(normalize_name("Acme\t \u{00A0}Corp\n"), Ok("Acme Corp".to_string()));
        // "é" as e + combining acute and as one code point are the same name.
        assert_eq!(normalize_name("Caf\u{0065}\u{0301}"), normalize_name("Caf\u{00E9}"));
    }

    #[test]
    fn given_invisible_or_direction_characters_when_normalized_then_refused() {
        for spoof in ["Ac\u{200B}me", "\u{202E}emcA", "Acme\u{2066}", "\u{FEFF}Acme", "A\u{00AD}cme", "Acme\u{E0041}"] {
            assert_eq!(normalize_name(spoof), Err(NameError::InvisibleCharacter), "{spoof:?}");
        }
        assert_eq!(normalize_name("\u{1F600} Acme 株式会社"), Ok("\u{1F600} Acme 株式会社".to_string()));
    }
}
