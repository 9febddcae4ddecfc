//! Roles of the organization's users and API tokens, and what each may do.

use serde::{Deserialize, Serialize};

/// A user's (or API token's) role, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Builder,
    Support,
    Viewer,
}

/// A kind of operation, checked against a role on every API route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read anything of the organization.
    Read,
    /// Create, edit and publish integrations.
    EditIntegrations,
    /// Create/edit/delete customers; deploy, pause, upgrade and delete instances; run and replay.
    Operate,
    /// Create API tokens and change organization settings.
    Administer,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Owner, Role::Admin, Role::Builder, Role::Support, Role::Viewer];

    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Builder => "builder",
            Role::Support => "support",
            Role::Viewer => "viewer",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn allows(self, p: Permission) -> bool {
        match p {
            Permission::Read => true,
            Permission::EditIntegrations => matches!(self, Role::Owner | Role::Admin | Role::Builder),
            Permission::Operate => matches!(self, Role::Owner | Role::Admin | Role::Support),
            Permission::Administer => matches!(self, Role::Owner | Role::Admin),
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::from_name(s)
            .ok_or_else(|| format!("unknown role `{s}`: expected one of owner, admin, builder, support, viewer"))
    }
}
