//! Provider credentials by NAME. A deployment stores only a name — `env:VAR` (read
//! from the environment at each use, so a rotated variable takes effect without a
//! restart) or a name defined in the config file's `[credentials]` table (whose
//! value may itself be `env:VAR`). Values stay in memory: they are never written to
//! an event, a table, a log line or a response.
//!
//! Who manages routes (an operator, an `admin` key) is not who set the gateway's
//! environment. A deployment sends its credential to a base URL its author chose, so
//! `env:VAR` may name only a variable the gateway's deployer listed in
//! [`ALLOWED_VARS`]: otherwise a route could send the gateway's JWT secret, its
//! `DATABASE_URL` or any other variable of the process to a server of its author's.
//! The config file's `[credentials]` are the deployer's own choice, so their `env:`
//! values are not restricted.

use std::collections::BTreeMap;
use std::sync::RwLock;

use gaiarouter_domain::route::is_deployment_id;

use crate::config::Secret;
use crate::gateway::providers::ApiKey;

/// The config file's named credentials. Process-wide because a deployment's
/// credential is resolved deep in the completion path, from a name alone.
static CONFIGURED: RwLock<BTreeMap<String, Secret>> = RwLock::new(BTreeMap::new());

/// The setting listing (comma-separated) the variables a deployment may name as
/// `env:VAR` (`credential_vars` in the config file).
pub const ALLOWED_VARS: &str = "GAIAROUTER_CREDENTIAL_VARS";

/// The variables of [`ALLOWED_VARS`], installed at start.
static ALLOWED: RwLock<Vec<String>> = RwLock::new(Vec::new());

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("credential name `{0}` must be 1 to 64 of [a-z0-9_-]")]
    InvalidName(String),
}

/// Why a deployment's credential name cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// `env:VAR` with a variable not listed in [`ALLOWED_VARS`] (whether it is set is
    /// not told).
    NotAllowed,
    /// The name stands for nothing set on this gateway.
    NotSet,
}

/// Installs the config file's `[credentials]` and the variables deployments may
/// name (comma-separated), replacing earlier ones.
pub fn configure(named: &BTreeMap<String, Secret>, allowed_vars: Option<&str>) -> Result<(), CredentialsError> {
    if let Some(bad) = named.keys().find(|name| !is_deployment_id(name)) {
        return Err(CredentialsError::InvalidName(bad.clone()));
    }
    if let Ok(mut configured) = CONFIGURED.write() {
        *configured = named.clone();
    }
    let listed = allowed_vars.unwrap_or_default().split(',').map(str::trim).filter(|var| !var.is_empty());
    if let Ok(mut allowed) = ALLOWED.write() {
        *allowed = listed.map(str::to_owned).collect();
    }
    Ok(())
}

fn from_env(var: &str) -> Option<ApiKey> {
    std::env::var(var).ok().and_then(|value| ApiKey::new(value).ok())
}

/// Whether the deployer lets deployments name `var`. The gateway's own settings
/// (`GAIAROUTER_*`) never, even if listed.
fn may_name(var: &str) -> bool {
    !var.starts_with("GAIAROUTER_") && ALLOWED.read().is_ok_and(|allowed| allowed.iter().any(|listed| listed == var))
}

/// The secret a credential name stands for, or why it cannot be used.
pub fn usable(name: &str) -> Result<ApiKey, Unusable> {
    if let Some(var) = name.strip_prefix("env:") {
        if !may_name(var) {
            return Err(Unusable::NotAllowed);
        }
        return from_env(var).ok_or(Unusable::NotSet);
    }
    let configured = CONFIGURED.read().map_err(|_| Unusable::NotSet)?;
    let value = configured.get(name).ok_or(Unusable::NotSet)?.expose();
    match value.strip_prefix("env:") {
        Some(var) => from_env(var),
        None => ApiKey::new(value).ok(),
    }
    .ok_or(Unusable::NotSet)
}

/// The secret a credential name stands for, if it may be used and is set.
pub fn resolve(name: &str) -> Option<ApiKey> {
    usable(name).ok()
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
        configure(
            &BTreeMap::from([
                ("azure-east".to_string(), Secret::new("sk-config-789")),
                ("via-env".to_string(), Secret::new("env:GR_CRED_TEST_INDIRECT")),
                ("via-missing".to_string(), Secret::new("env:GR_CRED_TEST_MISSING")),
            ]),
            Some("GR_CRED_TEST_DIRECT, GR_CRED_TEST_MISSING"),
        )
        .unwrap();
        assert_eq!(resolve("env:GR_CRED_TEST_DIRECT").unwrap().expose(), "sk-direct-123");
        assert_eq!(resolve("azure-east").unwrap().expose(), "sk-config-789");
        assert_eq!(resolve("via-env").unwrap().expose(), "sk-indirect-456");
        assert!(resolve("via-missing").is_none());
        assert!(resolve("env:GR_CRED_TEST_MISSING").is_none());
        assert!(!is_set("unknown"));
        assert!(format!("{:?}", resolve("azure-east")).contains("***"));
        assert_eq!(
            configure(&BTreeMap::from([("Bad Name".to_string(), Secret::new("x"))]), None),
            Err(CredentialsError::InvalidName("Bad Name".into()))
        );
    }

    #[test]
    fn given_a_variable_the_deployer_did_not_list_when_named_then_it_is_not_used_set_or_not() {
        std::env::set_var("GR_CRED_TEST_UNLISTED", "the-process-secret");
        std::env::set_var("GAIAROUTER_CRED_TEST_OWN", "a-setting");
        configure(&BTreeMap::new(), Some("GR_CRED_TEST_LISTED,,GAIAROUTER_CRED_TEST_OWN")).unwrap();
        assert_eq!(usable("env:GR_CRED_TEST_UNLISTED").err(), Some(Unusable::NotAllowed));
        assert_eq!(usable("env:GR_CRED_TEST_NOWHERE").err(), Some(Unusable::NotAllowed), "unset: told the same");
        assert_eq!(usable("env:GR_CRED_TEST_LISTED").err(), Some(Unusable::NotSet));
        assert_eq!(
            usable("env:GAIAROUTER_CRED_TEST_OWN").err(),
            Some(Unusable::NotAllowed),
            "the gateway's own, listed"
        );
        assert_eq!(usable("env:ALLOWED_VARS").err(), Some(Unusable::NotAllowed));
        std::env::set_var("GR_CRED_TEST_LISTED", "sk-listed");
        assert_eq!(usable("env:GR_CRED_TEST_LISTED").unwrap().expose(), "sk-listed");
        configure(&BTreeMap::new(), None).unwrap();
        assert_eq!(
            usable("env:GR_CRED_TEST_LISTED").err(),
            Some(Unusable::NotAllowed),
            "nothing listed: nothing named"
        );
    }
}
