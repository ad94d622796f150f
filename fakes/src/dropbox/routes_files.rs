//! `users/get_current_account` and the `files/*` RPC routes (folders, metadata, move, delete,
//! list_folder with cursors over the change log).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::args::{
    self, CreateFolderArg, CursorArg, DeleteArg, GetMetadataArg, GetTemporaryLinkArg,
    ListFolderArg, RelocationArg,
};
use super::error::{ApiError, ApiResult};
use super::paths::{self, PathPattern};
use super::server::Call;
use super::state::{Kind, ResolveError, State};

/// Checks a path argument's pattern (400) and resolves it (inner error for the route to wrap).
pub(crate) fn resolve(
    call: &Call<'_>,
    st: &State,
    field: &str,
    raw: &str,
    pattern: PathPattern,
) -> Result<Result<String, ResolveError>, ApiError> {
    let pref = paths::parse_path(call.route, field, raw, pattern)?;
    Ok(st.resolve(&pref, &call.root))
}

/// `users/get_current_account`: `FullAccount`.
pub(crate) fn current_account(call: &Call<'_>) -> Value {
    let st = call.shared.state();
    let display = st.owner.display_name.clone();
    let mut parts = display.split_whitespace();
    let given = parts.next().unwrap_or("").to_string();
    let surname = parts.collect::<Vec<_>>().join(" ");
    let abbreviated: String = display
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .collect();
    json!({
        "account_id": st.owner.account_id,
        "name": {
            "given_name": given,
            "surname": surname,
            "familiar_name": given,
            "display_name": display,
            "abbreviated_name": abbreviated,
        },
        "email": st.owner.email,
        "email_verified": true,
        "disabled": false,
        "country": "US",
        "locale": "en",
        "referral_link": "https://www.dropbox.com/referrals/fake",
        "is_paired": false,
        "account_type": {".tag": "basic"},
        "root_info": {
            ".tag": "user",
            "root_namespace_id": st.root_ns,
            "home_namespace_id": st.root_ns,
        },
    })
}

/// `files/create_folder_v2`.
pub(crate) fn create_folder(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: CreateFolderArg = args::parse(call.route, "request body", arg)?;
    let mut st = call.shared.state();
    let path_err = |w: Value| ApiError::route(json!({".tag": "path", "path": w}));
    let display = resolve(call, &st, "path", &a.path, PathPattern::Write)?
        .map_err(|e| path_err(e.write()))?;
    if display.is_empty() {
        return Err(path_err(json!({".tag": "malformed_path"})));
    }
    let meta = st.create_folder(&display, a.autorename).map_err(path_err)?;
    Ok(json!({ "metadata": meta }))
}

/// `files/get_metadata`.
pub(crate) fn get_metadata(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: GetMetadataArg = args::parse(call.route, "request body", arg)?;
    let st = call.shared.state();
    let not_found = || ApiError::route(json!({".tag": "path", "path": {".tag": "not_found"}}));
    let display = resolve(call, &st, "path", &a.path, PathPattern::Read)?
        .map_err(|e| ApiError::route(json!({".tag": "path", "path": e.lookup()})))?;
    if display.is_empty() {
        return Err(ApiError::bad_input(
            call.route,
            "request body: path: Metadata for the root folder is unsupported.",
        ));
    }
    let lower = paths::lower(&display);
    if let Some(meta) = st.render(&lower, true) {
        return Ok(meta);
    }
    match st.deleted.get(&lower) {
        Some(d) if a.include_deleted => Ok(State::render_deleted(d)),
        _ => Err(not_found()),
    }
}

/// `files/get_temporary_link`: the file's metadata and a link to stream it. The stand-in keeps no
/// bytes, so the link is well-formed but not served; folders are `path/not_file`.
pub(crate) fn get_temporary_link(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: GetTemporaryLinkArg = args::parse(call.route, "request body", arg)?;
    let mut st = call.shared.state();
    let path_err = |lookup: Value| ApiError::route(json!({".tag": "path", "path": lookup}));
    let display = resolve(call, &st, "path", &a.path, PathPattern::Read)?
        .map_err(|e| path_err(e.lookup()))?;
    let lower = paths::lower(&display);
    match st.nodes.get(&lower).map(|n| &n.kind) {
        Some(Kind::File(_)) => {}
        Some(_) => return Err(path_err(json!({".tag": "not_file"}))),
        None => return Err(path_err(json!({".tag": "not_found"}))),
    }
    let meta = st
        .render(&lower, false)
        .ok_or_else(|| path_err(json!({".tag": "not_found"})))?;
    let link = format!(
        "https://dl.dropboxusercontent.com/cd/0/get/{}/file",
        &st.new_opaque("l")[1..]
    );
    Ok(json!({ "metadata": meta, "link": link }))
}

/// `files/move_v2`.
pub(crate) fn move_v2(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: RelocationArg = args::parse(call.route, "request body", arg)?;
    let mut st = call.shared.state();
    let from = resolve(call, &st, "from_path", &a.from_path, PathPattern::WriteOrId)?
        .map_err(|e| ApiError::route(json!({".tag": "from_lookup", "from_lookup": e.lookup()})))?;
    let to = resolve(call, &st, "to_path", &a.to_path, PathPattern::WriteOrId)?
        .map_err(|e| ApiError::route(json!({".tag": "to", "to": e.write()})))?;
    if from.is_empty() || to.is_empty() {
        return Err(ApiError::route(
            json!({".tag": "from_write", "from_write": {".tag": "malformed_path"}}),
        ));
    }
    let meta = st.move_path(&from, &to, a.autorename)?;
    Ok(json!({ "metadata": meta }))
}

/// `files/delete_v2`.
pub(crate) fn delete_v2(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: DeleteArg = args::parse(call.route, "request body", arg)?;
    let mut st = call.shared.state();
    let display = resolve(call, &st, "path", &a.path, PathPattern::WriteOrId)?
        .map_err(|e| ApiError::route(json!({".tag": "path_lookup", "path_lookup": e.lookup()})))?;
    if display.is_empty() {
        return Err(ApiError::route(
            json!({".tag": "path_write", "path_write": {".tag": "malformed_path"}}),
        ));
    }
    let meta = st.delete(&display, a.parent_rev.as_deref())?;
    Ok(json!({ "metadata": meta }))
}

/// What a `list_folder` cursor encodes: the listing it belongs to and a position in it.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct ListCursor {
    /// Cursor epoch; bumping the state's epoch invalidates every cursor (`reset`).
    e: u64,
    /// Listed folder, lower-cased (`""` = root).
    p: String,
    r: bool,
    d: bool,
    /// Page size.
    n: usize,
    /// Change-log position already covered.
    s: u64,
    /// Snapshot listing still being paged, and the offset in it.
    l: Option<u64>,
    o: usize,
}

impl ListCursor {
    fn encode(&self) -> String {
        format!(
            "AAG{}",
            hex::encode(serde_json::to_vec(self).unwrap_or_default())
        )
    }

    fn decode(s: &str) -> Option<Self> {
        let raw = hex::decode(s.strip_prefix("AAG")?).ok()?;
        serde_json::from_slice(&raw).ok()
    }

    fn in_scope(&self, path_lower: &str) -> bool {
        if self.r {
            paths::is_within(path_lower, &self.p)
        } else {
            paths::parent(path_lower) == self.p && path_lower != self.p
        }
    }
}

/// `files/list_folder` and `files/list_folder/get_latest_cursor`.
pub(crate) fn list_folder(call: &Call<'_>, arg: Value, latest_only: bool) -> ApiResult {
    let a: ListFolderArg = args::parse(call.route, "request body", arg)?;
    if let Some(limit) = a.limit {
        if !(1..=2000).contains(&limit) {
            return Err(ApiError::bad_input(
                call.route,
                format!("request body: limit: {limit} is not within range [1, 2000]"),
            ));
        }
    }
    let page = a
        .limit
        .map(|l| l as usize)
        .unwrap_or_else(|| call.shared.knobs().list_folder_page_size.max(1));
    let mut st = call.shared.state();
    let path_err = |v: Value| ApiError::route(json!({".tag": "path", "path": v}));
    let display = resolve(call, &st, "path", &a.path, PathPattern::ListOrId)?
        .map_err(|e| path_err(e.lookup()))?;
    let lower = paths::lower(&display);
    if !lower.is_empty() {
        match st.nodes.get(&lower).map(|n| &n.kind) {
            None => return Err(path_err(json!({".tag": "not_found"}))),
            Some(Kind::File(_)) => return Err(path_err(json!({".tag": "not_folder"}))),
            Some(Kind::Folder { .. }) => {}
        }
    }
    let mut cursor = ListCursor {
        e: st.cursor_epoch,
        p: lower.clone(),
        r: a.recursive,
        d: a.include_deleted,
        n: page,
        s: st.latest_seq(),
        l: None,
        o: 0,
    };
    if latest_only {
        return Ok(json!({ "cursor": cursor.encode() }));
    }
    let mut entries = st.listing(&lower, a.recursive, a.include_deleted);
    let has_more = entries.len() > page;
    if has_more {
        let id = st.next_listing;
        st.next_listing += 1;
        let first: Vec<Value> = entries.drain(..page).collect();
        st.listings.insert(id, entries);
        cursor.l = Some(id);
        cursor.o = 0;
        entries = first;
    }
    Ok(json!({"entries": entries, "cursor": cursor.encode(), "has_more": has_more}))
}

/// `files/list_folder/continue`.
pub(crate) fn list_folder_continue(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: CursorArg = args::parse(call.route, "request body", arg)?;
    let Some(mut cursor) = ListCursor::decode(&a.cursor) else {
        return Err(ApiError::bad_input(
            call.route,
            format!("Invalid \"cursor\" parameter: {:?}", a.cursor),
        ));
    };
    let st = call.shared.state();
    if cursor.e != st.cursor_epoch {
        return Err(ApiError::tag("reset"));
    }
    if let Some(id) = cursor.l {
        let Some(rest) = st.listings.get(&id) else {
            return Err(ApiError::tag("reset"));
        };
        let end = (cursor.o + cursor.n).min(rest.len());
        let entries = rest.get(cursor.o..end).unwrap_or(&[]).to_vec();
        let has_more = end < rest.len();
        if has_more {
            cursor.o = end;
        } else {
            cursor.l = None;
            cursor.o = 0;
        }
        return Ok(json!({"entries": entries, "cursor": cursor.encode(), "has_more": has_more}));
    }
    let mut entries = Vec::new();
    let latest = st.latest_seq();
    let mut pos = cursor.s;
    while pos < latest && entries.len() < cursor.n {
        let change = &st.changes[pos as usize];
        pos += 1;
        // Deleted entries are reported even without include_deleted (what clients rely on in
        // practice; not documented, so bridges should set include_deleted).
        if cursor.in_scope(&change.path_lower) {
            entries.push(change.entry.clone());
        }
    }
    cursor.s = pos;
    let has_more = pos < latest;
    Ok(json!({"entries": entries, "cursor": cursor.encode(), "has_more": has_more}))
}
