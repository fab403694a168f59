use serde::{Deserialize, Serialize};

/// What an API key may do. Ordered: `Admin` ⊃ `Write` ⊃ `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read its own organization's keys, stats and logs; call the gateway.
    Read,
    /// Also manage its own organization's keys.
    Write,
    /// Everything, in every organization.
    Admin,
}

impl Permission {
    pub fn allows(self, needed: Permission) -> bool {
        self >= needed
    }

    /// The inverse of `as_str`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Permission::Read),
            "write" => Some(Permission::Write),
            "admin" => Some(Permission::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Permission::*;

    #[test]
    fn higher_permissions_include_lower_ones() {
        assert!(Admin.allows(Write) && Admin.allows(Read) && Write.allows(Read));
        assert!(!Read.allows(Write) && !Write.allows(Admin));
    }

    #[test]
    fn names_round_trip() {
        for permission in [Read, Write, Admin] {
            assert_eq!(super::Permission::parse(permission.as_str()), Some(permission));
        }
        assert_eq!(super::Permission::parse("root"), None);
    }
}
