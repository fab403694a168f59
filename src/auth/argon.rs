//! argon2id through the argon2 crate, which allocates its working memory (19 MiB
//! with the default parameters) for each hash and frees it after. Hashing threads
//! once kept that memory for the life of the process (a buffer per thread, reused,
//! because glibc's malloc kept every freed 19 MiB block in its arenas): 19 MiB
//! resident per hashing thread from the first login (the one at start included)
//! on, half of an idle gateway's heap. jemalloc, whose background threads return
//! freed pages within seconds (`Cargo.toml`), makes the buffer unnecessary; how many
//! hashes hold memory at once stays bounded by the gate in `password`.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};

/// Stored hashes asking for more memory than this (64 MiB) are refused, not run.
const MAX_BLOCKS: usize = 64 * 1024;

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) with default parameters.
pub fn hash(password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password, &salt).map(|hash| hash.to_string()).map_err(|e| e.to_string())
}

/// Whether `password` matches the stored PHC string (its own algorithm, version and
/// parameters); false for any unreadable one or one whose cost is past the bound.
pub fn verify(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    match Params::try_from(&parsed) {
        Ok(params) if params.block_count() <= MAX_BLOCKS => {}
        _ => return false,
    }
    Argon2::default().verify_password(password, &parsed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        let ours = hash(b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"correct horse", &salt).unwrap();
        assert!(verify(b"correct horse", &theirs.to_string()));
        assert!(!verify(b"wrong horse", &theirs.to_string()));
        assert!(verify(b"correct horse", &ours));
        assert!(!verify(b"correct horsf", &ours));
        // A stored hash is checked with its own algorithm and parameters.
        let argon2i =
            Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, Params::new(8192, 3, 1, None).unwrap());
        let theirs = argon2i.hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(theirs.starts_with("$argon2i$v=19$m=8192,t=3,p=1$"));
        assert!(verify(b"correct horse", &theirs));
        assert!(!verify(b"wrong horse", &theirs));
        assert!(!verify(b"correct horse", "not a hash"));
        assert!(!verify(b"correct horse", "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
    }
}
