//! API-key permissions ("scopes") the way the DocSpace server checks them: each API route needs
//! one of a few scopes, chosen by the first matching rule below (method and route template); a
//! GET also accepts the global `*:read`, anything `*:write`. A key whose permission list is empty
//! or contains `*` holds `*:write`, i.e. everything. A key lacking every accepted scope is
//! refused by ASP.NET authorization with a bare `403` (no body).
//!
//! Rules (first match wins, as in the server's scope map):
//! `GET files/rooms*` rooms:read|rooms:write · other `files/rooms*` rooms:write ·
//! `GET files*` files:read|files:write · other `files*` files:write ·
//! `GET people/@self` accounts.self:read|accounts.self:write · other `people/@self`
//! accounts.self:write · `GET people*` accounts:read|accounts:write · other `people*`
//! accounts:write · `GET group*` accounts:read · other `group*` accounts:write.
//! Routes outside `/api/2.0/` (the `filehandler.ashx` stream handler) have no scope rule.

/// The scopes one of which `method` on the route template `path` needs; `None` = no check.
pub fn required(is_get: bool, path: &str) -> Option<Vec<&'static str>> {
    let route = path.strip_prefix("/api/2.0/")?;
    let under = |prefix: &str| route == prefix || route.starts_with(&format!("{prefix}/"));
    let local: &[&'static str] = if under("files/rooms") {
        if is_get {
            &["rooms:read", "rooms:write"]
        } else {
            &["rooms:write"]
        }
    } else if under("files") {
        if is_get {
            &["files:read", "files:write"]
        } else {
            &["files:write"]
        }
    } else if under("people/@self") {
        if is_get {
            &["accounts.self:read", "accounts.self:write"]
        } else {
            &["accounts.self:write"]
        }
    } else if under("people") {
        if is_get {
            &["accounts:read", "accounts:write"]
        } else {
            &["accounts:write"]
        }
    } else if under("group") {
        if is_get {
            &["accounts:read"]
        } else {
            &["accounts:write"]
        }
    } else {
        &[]
    };
    let global: &[&'static str] = if is_get {
        &["*:read", "*:write"]
    } else {
        &["*:write"]
    };
    Some(global.iter().chain(local).copied().collect())
}

/// Whether a key with `permissions` holds one of `required`.
pub fn allows(permissions: &[String], required: &[&str]) -> bool {
    if permissions.is_empty() || permissions.iter().any(|p| p == "*") {
        return required.contains(&"*:write");
    }
    permissions.iter().any(|p| required.contains(&p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn may(perms: &[&str], is_get: bool, path: &str) -> bool {
        let perms: Vec<String> = perms.iter().map(|p| p.to_string()).collect();
        allows(&perms, &required(is_get, path).expect("an API route"))
    }

    #[test]
    fn routes_need_their_scopes() {
        assert!(may(&[], true, "/api/2.0/group"));
        assert!(may(&["*"], false, "/api/2.0/group/{id}"));
        assert!(may(&["accounts:read"], true, "/api/2.0/group/{id}"));
        assert!(!may(&["accounts:write"], true, "/api/2.0/group"));
        assert!(!may(&["accounts:read"], true, "/api/2.0/people/@self"));
        assert!(may(&["accounts.self:read"], true, "/api/2.0/people/@self"));
        assert!(may(&["accounts:read"], true, "/api/2.0/people/{id}"));
        assert!(may(&["files:read"], true, "/api/2.0/files/file/{id}"));
        assert!(may(&["files:write"], true, "/api/2.0/files/{folder_id}"));
        assert!(!may(&["files:read"], true, "/api/2.0/files/rooms"));
        assert!(may(&["rooms:read"], true, "/api/2.0/files/rooms"));
        assert!(!may(&["rooms:read"], true, "/api/2.0/files/{folder_id}"));
        assert!(may(&["*:read"], true, "/api/2.0/files/rooms"));
        assert!(!may(&["*:read"], false, "/api/2.0/group"));
        assert!(may(&["*:write"], false, "/api/2.0/group"));
        assert!(!may(&["files:read", "rooms:read"], true, "/api/2.0/group"));
        assert_eq!(required(true, "/filehandler.ashx"), None);
    }
}
