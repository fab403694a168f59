//! Provider credentials by NAME. A deployment stores only a name — `env:VAR` (read
//! from the environment at each use, so a rotated variable takes effect without a
//! restart) or a name defined in the config file's `[credentials]` table (whose
//! value may itself be `env:VAR`). Values stay in memory: they are never written to
//! an event, a table, a log line or a response.

use std::collections::BTreeMap;
use std::sync::RwLock;

use gaiarouter_domain::route::is_deployment_id;

use crate::config::Secret;
use crate::gateway::providers::ApiKey;

/// The config file's named credentials. Process-wide because a deployment's
/// credential is resolved deep in the completion path, from a name alone.
static CONFIGURED: RwLock<BTreeMap<String, Secret>> = RwLock::new(BTreeMap::new());

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("credential name `{0}` must be 1 to 64 of [a-z0-9_-]")]
    InvalidName(String),
}

/// Installs the config file's `[credentials]`, replacing earlier ones.
pub fn configure(named: &BTreeMap<String, Secret>) -> Result<(), CredentialsError> {
    if let Some(bad) = named.keys().find(|name| !is_deployment_id(name)) {
        return Err(CredentialsError::InvalidName(bad.clone()));
    }
    if let Ok(mut configured) = CONFIGURED.write() {
        *configured = named.clone();
    }
    Ok(())
}

fn from_env(var: &str) -> Option<ApiKey> {
    std::env::var(var).ok().and_then(|value| ApiKey::new(value).ok())
}

/// The secret a credential name stands for, if it is set on this gateway.
pub fn resolve(name: &str) -> Option<ApiKey> {
    if let Some(var) = name.strip_prefix("env:") {
        return from_env(var);
    }
    let configured = CONFIGURED.read().ok()?;
    let value = configured.get(name)?.expose();
    match value.strip_prefix("env:") {
        Some(var) => from_env(var),
        None => ApiKey::new(value).ok(),
    }
}

/// Whether `name` resolves on this gateway (the admin API refuses names that do not).
pub fn is_set(name: &str) -> bool {
    resolve(name).is_some()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn given_env_and_config_names_when_resolved_then_values_come_from_memory_only() {
        // Unique variable names: tests of this module share the process environment.
        std::env::set_var("GR_CRED_TEST_DIRECT", "sk-direct-123");
        std::env::set_var("GR_CRED_TEST_INDIRECT", "sk-indirect-456");
        configure(&BTreeMap::from([
            ("azure-east".to_string(), Secret::new("sk-config-789")),
            ("via-env".to_string(), Secret::new("env:GR_CRED_TEST_INDIRECT")),
            ("via-missing".to_string(), Secret::new("env:GR_CRED_TEST_MISSING")),
        ]))
        .unwrap();
        assert_eq!(resolve("env:GR_CRED_TEST_DIRECT").unwrap().expose(), "sk-direct-123");
        assert_eq!(resolve("azure-east").unwrap().expose(), "sk-config-789");
        assert_eq!(resolve("via-env").unwrap().expose(), "sk-indirect-456");
        assert!(resolve("via-missing").is_none());
        assert!(resolve("env:GR_CRED_TEST_MISSING").is_none());
        assert!(!is_set("unknown"));
        assert!(format!("{:?}", resolve("azure-east")).contains("***"));
        assert_eq!(
            configure(&BTreeMap::from([("Bad Name".to_string(), Secret::new("x"))])),
            Err(CredentialsError::InvalidName("Bad Name".into()))
        );
    }
}
