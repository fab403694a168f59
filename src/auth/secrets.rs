//! API key material. A key reads `gr-<public_id>-<secret>`: the public id finds the
//! key, the secret proves it. Only SHA-256 of the secret is stored.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "gr-";
const PUBLIC_ID_LEN: usize = 12;
const SECRET_LEN: usize = 40;

/// A freshly generated key: show `full_key` once, store only `secret_hash`.
pub struct NewKeyMaterial {
    pub public_id: String,
    pub secret_hash: String,
    pub full_key: String,
}

pub fn generate_public_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), PUBLIC_ID_LEN)
}

pub fn generate_secret(public_id: &str) -> NewKeyMaterial {
    let secret = Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN);
    NewKeyMaterial {
        public_id: public_id.to_string(),
        secret_hash: hash_secret(&secret),
        full_key: format!("{KEY_PREFIX}{public_id}-{secret}"),
    }
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The displayable, non-secret start of a key (`gr-<public_id>`).
pub fn display_prefix(public_id: &str) -> String {
    format!("{KEY_PREFIX}{public_id}")
}

/// Splits a presented key into (public id, secret); `None` if it is not shaped like one.
pub fn parse_key(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (public_id, secret) = rest.split_once('-')?;
    let well_formed = !public_id.is_empty()
        && !secret.is_empty()
        && public_id.chars().all(|c| c.is_ascii_alphanumeric())
        && secret.chars().all(|c| c.is_ascii_alphanumeric());
    well_formed.then_some((public_id, secret))
}

/// Compares a presented secret with a stored hash in constant time.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    hash_secret(secret).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_verify() {
        let material = generate_secret(&generate_public_id());
        let (public_id, secret) = parse_key(&material.full_key).unwrap();
        assert_eq!(public_id, material.public_id);
        assert!(secret_matches(secret, &material.secret_hash));
        assert!(!secret_matches("wrong", &material.secret_hash));
        assert!(!material.secret_hash.contains(secret));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for bad in ["", "gr-", "gr-abc", "sk-abc-def", "gr-a b-c", "gr--secret", "gr-abc-"] {
            assert!(parse_key(bad).is_none(), "{bad}");
        }
    }
}
