//! Session versions: what a session token must still match to be valid.
//!
//! - An operator's version is `session_version` of its view row, bumped by a
//!   password change, disabling, deletion and "end sessions".
//! - An API key's version is a short digest of its current secret hash, so rotating
//!   the key changes it (revoking makes the key unusable anyway). The digest is of a
//!   hash, not of the secret, and the token's holder already knows the key.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 16 hex characters (64 bits) of SHA-256 over the stored secret hash.
pub fn key_version(secret_hash: &str) -> String {
    let digest = Sha256::digest(secret_hash.as_bytes());
    hex::encode(&digest[..8])
}

pub fn same_version(presented: &str, current: &str) -> bool {
    presented.as_bytes().ct_eq(current.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_secret_hash_changes_the_key_version() {
        let before = key_version("aaaa");
        assert_eq!(before.len(), 16);
        assert_eq!(before, key_version("aaaa"));
        assert_ne!(before, key_version("aaab"));
        assert!(same_version(&before, &key_version("aaaa")));
        assert!(!same_version(&before, &key_version("aaab")));
    }
}
