//! API-key permissions ("scopes"): which one each DocSpace route the bridge calls needs, decided
//! by the same first-match rules the server applies to a restricted key (`files/rooms*` →
//! `rooms:read`, other `files*` → `files:read`, `people/@self` → `accounts.self:read`, other
//! `people*` and `group*` → `accounts:read`; `*:read` covers every GET). A key without the
//! route's scope is refused by the server's authorization layer with a bare `403` (no body),
//! before the route runs: that is how the client tells a missing scope from a refused object.

/// One DocSpace route the bridge calls, the scope it needs and what needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteUse {
    /// Route template as used in errors and metrics (`group/{id}`).
    pub route: &'static str,
    pub scope: &'static str,
    /// What the bridge does with it, for `check` and the README.
    pub needed_for: &'static str,
    /// The bridge works without it (only `check` reads the key's own profile).
    pub optional: bool,
}

/// Every GET route the bridge calls on DocSpace.
pub const ROUTES: &[RouteUse] = &[
    RouteUse {
        route: "group",
        scope: "accounts:read",
        needed_for: "group folders",
        optional: false,
    },
    RouteUse {
        route: "group/{id}",
        scope: "accounts:read",
        needed_for: "group folders",
        optional: false,
    },
    RouteUse {
        route: "files/file/{id}",
        scope: "files:read",
        needed_for: "file export",
        optional: false,
    },
    RouteUse {
        route: "files/file/{id}/presigneduri",
        scope: "files:read",
        needed_for: "file export",
        optional: false,
    },
    RouteUse {
        route: "files/{folderId}",
        scope: "files:read",
        needed_for: "file export",
        optional: false,
    },
    RouteUse {
        route: "files/folder/{id}",
        scope: "files:read",
        needed_for: "file export",
        optional: false,
    },
    RouteUse {
        route: "files/rooms",
        scope: "rooms:read",
        needed_for: "the file reconcile",
        optional: false,
    },
    RouteUse {
        route: "people/@self",
        scope: "accounts.self:read",
        needed_for: "the \"acting as\" line of check",
        optional: true,
    },
];

/// The routes the bridge calls that DocSpace also serves to anonymous callers
/// (`[AllowAnonymous]`: `FilesController` `file/{fileId}`, `FoldersController` `{folderId}` and
/// `folder/{folderId}`). A key DocSpace does not know (expired, revoked, wrong) counts there as
/// no credentials, and its API key scope filter answers an empty 403, the answer a valid key
/// without the route's scope gets; every other route answers such a key 401.
pub fn served_to_anonymous(route: &str) -> bool {
    matches!(
        route,
        "files/file/{id}" | "files/{folderId}" | "files/folder/{id}"
    )
}

/// The scope a GET of `route` (a template below `api/2.0/`) needs, by the server's first-match
/// rules; `None` for routes outside those rules (any key may call them).
pub fn required_scope(route: &str) -> Option<&'static str> {
    let under = |prefix: &str| {
        route == prefix
            || route
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if under("files/rooms") {
        Some("rooms:read")
    } else if under("files") {
        Some("files:read")
    } else if under("people/@self") {
        Some("accounts.self:read")
    } else if under("people") || under("group") {
        Some("accounts:read")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_the_scope_the_server_asks_for() {
        for r in ROUTES {
            assert_eq!(required_scope(r.route), Some(r.scope), "{}", r.route);
        }
        assert_eq!(required_scope("files/rooms"), Some("rooms:read"));
        assert_eq!(required_scope("files/roomsx"), Some("files:read"));
        assert_eq!(required_scope("people/{id}"), Some("accounts:read"));
        assert_eq!(required_scope("download"), None);
    }
}
