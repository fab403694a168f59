//! Webhook secrets: made here, sealed at rest with AES-256-GCM under a key derived
//! (HKDF-SHA256) from the server secret, and used to sign deliveries the Standard
//! Webhooks way. The sealed form is bound to its endpoint (the endpoint id is the
//! associated data), so a ciphertext copied onto another endpoint does not open.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gaiarouter_domain::webhook::SealedSecret;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::{Config, Secret};

/// Standard Webhooks secrets are `whsec_` + base64 of the key bytes.
pub const SECRET_PREFIX: &str = "whsec_";
const KEY_INFO: &[u8] = b"gaiarouter webhook signing secrets v1";
const MIN_SERVER_SECRET_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("a webhook secret could not be sealed")]
    Seal,
    /// Wrong server secret, or a tampered or misplaced ciphertext.
    #[error("a webhook secret could not be opened (was GAIAROUTER_SECRET_KEY changed?)")]
    Open,
    #[error("key derivation failed")]
    Derive,
}

/// Seals and opens webhook signing secrets. Holds only the derived key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

impl SecretBox {
    pub fn new(server_secret: &[u8]) -> Result<Self, CryptoError> {
        let mut key = [0_u8; 32];
        Hkdf::<Sha256>::new(None, server_secret).expand(KEY_INFO, &mut key).map_err(|_| CryptoError::Derive)?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| CryptoError::Derive)?;
        Ok(SecretBox { cipher })
    }

    pub fn seal(&self, endpoint: Uuid, secret: &str) -> Result<SealedSecret, CryptoError> {
        let nonce: [u8; 12] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: secret.as_bytes(), aad: endpoint.as_bytes() })
            .map_err(|_| CryptoError::Seal)?;
        Ok(SealedSecret { nonce: STANDARD.encode(nonce), ciphertext: STANDARD.encode(ciphertext) })
    }

    pub fn open(&self, endpoint: Uuid, sealed_nonce: &str, sealed_ciphertext: &str) -> Result<String, CryptoError> {
        let nonce = STANDARD.decode(sealed_nonce).map_err(|_| CryptoError::Open)?;
        let ciphertext = STANDARD.decode(sealed_ciphertext).map_err(|_| CryptoError::Open)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Open)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: &ciphertext, aad: endpoint.as_bytes() })
            .map_err(|_| CryptoError::Open)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Open)
    }
}

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_signing_secret() -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the
/// base64-decoded part of the secret after `whsec_` (Standard Webhooks).
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret)).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The configured server secret, else one generated once and kept (0600) in the
/// data dir, as the JWT secret is. Created exclusively: two processes starting
/// together on one data dir end up with the same secret.
pub fn server_secret(config: &Config) -> anyhow::Result<Secret> {
    if let Some(secret) = &config.secret_key {
        if secret.expose().len() < MIN_SERVER_SECRET_LEN {
            anyhow::bail!("GAIAROUTER_SECRET_KEY must be at least {MIN_SERVER_SECRET_LEN} characters");
        }
        return Ok(secret.clone());
    }
    let path = config.data_dir.join("secret_key");
    if let Some(existing) = read_secret(&path) {
        return Ok(existing);
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let generated = hex::encode(rand::random::<[u8; 32]>());
    match create_private(&path, &generated) {
        Ok(()) => Ok(Secret::new(generated)),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process wrote it first; give it a moment to finish writing.
            for _ in 0..50 {
                if let Some(existing) = read_secret(&path) {
                    return Ok(existing);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            anyhow::bail!("{} exists but holds no usable secret", path.display())
        }
        Err(error) => Err(anyhow::anyhow!("writing {}: {error}", path.display())),
    }
}

fn read_secret(path: &Path) -> Option<Secret> {
    let text = std::fs::read_to_string(path).ok()?;
    let trimmed = text.trim();
    (trimmed.len() >= MIN_SERVER_SECRET_LEN).then(|| Secret::new(trimmed))
}

fn create_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_the_same_server_secret_and_endpoint() {
        let sealing = SecretBox::new(b"server-secret-server-secret-0123456789").unwrap();
        let endpoint = Uuid::now_v7();
        let secret = generate_signing_secret();
        let sealed = sealing.seal(endpoint, &secret).unwrap();
        assert!(!sealed.ciphertext.contains(&secret[6..]));
        assert_eq!(sealing.open(endpoint, &sealed.nonce, &sealed.ciphertext).unwrap(), secret);
        assert!(sealing.open(Uuid::now_v7(), &sealed.nonce, &sealed.ciphertext).is_err(), "other endpoint");
        let other = SecretBox::new(b"another-secret-another-secret-0123456").unwrap();
        assert!(other.open(endpoint, &sealed.nonce, &sealed.ciphertext).is_err(), "other server secret");
        assert_ne!(sealing.seal(endpoint, &secret).unwrap(), sealed, "a fresh nonce each time");
    }

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }

    #[test]
    fn the_server_secret_is_generated_once_and_kept_or_taken_from_the_configuration() {
        let dir = std::env::temp_dir().join(format!("gaiarouter-secret-{}", Uuid::now_v7()));
        let config = Config { data_dir: dir.clone(), ..Config::default() };
        let first = server_secret(&config).unwrap();
        assert_eq!(server_secret(&config).unwrap(), first, "kept in data_dir/secret_key");
        assert_eq!(std::fs::read_to_string(dir.join("secret_key")).unwrap(), first.expose());
        let configured = Config { secret_key: Some(Secret::new("x".repeat(40))), ..config.clone() };
        assert_eq!(server_secret(&configured).unwrap().expose(), "x".repeat(40));
        let short = Config { secret_key: Some(Secret::new("short")), ..config };
        assert!(server_secret(&short).is_err());
        assert_eq!(format!("{:?}", SecretBox::new(b"k").unwrap()), "SecretBox([redacted])");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn generated_secrets_are_32_random_bytes_behind_the_prefix() {
        let secret = generate_signing_secret();
        let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX).unwrap()).unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(secret, generate_signing_secret());
    }
}
