//! Session tokens for the management API: HS256 only (pinned), with expiry, and
//! the session version of their subject (`sv`) at minting: a token whose version
//! no longer matches its subject's current one is refused (see `auth::session`).

use chrono::Utc;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "gaiarouter";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Operator,
    ApiKey,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub kind: SubjectKind,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// The subject's session version when the token was minted. Tokens from before
    /// versions existed have none and are refused.
    #[serde(default)]
    pub sv: Option<String>,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_seconds: i64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_seconds: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_seconds,
        }
    }

    pub fn issue(
        &self,
        sub: Uuid,
        kind: SubjectKind,
        session_version: String,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub,
            kind,
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl_seconds,
            jti: Uuid::now_v7(),
            sv: Some(session_version),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Any failure (bad signature, other algorithm, expired, wrong issuer) is `None`.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation).ok().map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", 60);
        let id = Uuid::now_v7();
        let token = keys.issue(id, SubjectKind::Operator, "3".into()).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sv.as_deref()), (id, Some("3")));
        let other = JwtKeys::new(b"another-secret-another-secret-xx", 60);
        assert!(other.verify(&token).is_none());
        let mut tampered = token.clone();
        tampered.pop();
        assert!(keys.verify(&tampered).is_none());
        let expired = JwtKeys::new(b"0123456789abcdef0123456789abcdef", -120)
            .issue(id, SubjectKind::Operator, "0".into())
            .unwrap();
        assert!(keys.verify(&expired).is_none());
    }
}
