//! Who asked for a change and from where: the audit metadata of every event an
//! admin command or a login attempt writes. Lives with authentication (it names
//! the caller) so both `admin` and `auth::login_audit` use it without a cycle.

use std::collections::HashMap;

/// Who asked for a change and from where; stored as every event's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// `operator`, `api_key` or `system` (start-up tasks).
    pub kind: String,
    pub id: String,
    pub name: String,
    /// The server's request id (UUIDv7).
    pub request_id: Option<String>,
    /// The `x-request-id` the client sent, kept apart so it can never pass for ours.
    pub client_request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    pub fn system(task: &str) -> Self {
        Actor { kind: "system".into(), id: task.into(), name: task.into(), ..Default::default() }
    }

    /// The metadata stored with every event this actor causes.
    pub(crate) fn metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::from([
            ("actor_type".to_string(), self.kind.clone()),
            ("actor_id".to_string(), self.id.clone()),
            ("actor_name".to_string(), self.name.clone()),
        ]);
        for (key, value) in [
            ("request_id", &self.request_id),
            ("client_request_id", &self.client_request_id),
            ("client_ip", &self.client_ip),
            ("user_agent", &self.user_agent),
        ] {
            if let Some(value) = value {
                metadata.insert(key.to_string(), value.clone());
            }
        }
        metadata
    }
}
