//! `users` namespace (and `common.RootInfo`, which it returns): who the token acts as.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Name {
    #[serde(default)]
    pub given_name: String,
    #[serde(default)]
    pub surname: String,
    #[serde(default)]
    pub familiar_name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub abbreviated_name: String,
}

/// `common.RootInfo` (subtypes `team` / `user`; the tag is kept, the fields are shared).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootInfo {
    #[serde(rename = ".tag", default)]
    pub tag: Option<String>,
    pub root_namespace_id: String,
    #[serde(default)]
    pub home_namespace_id: String,
    #[serde(default)]
    pub home_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum AccountType {
    Basic,
    Pro,
    Business,
    #[serde(other)]
    Other,
}

/// `users.FullAccount`.
#[derive(Debug, Clone, Deserialize)]
pub struct FullAccount {
    pub account_id: String,
    #[serde(default)]
    pub name: Name,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub team_member_id: Option<String>,
    #[serde(default)]
    pub account_type: Option<AccountType>,
    pub root_info: RootInfo,
}
