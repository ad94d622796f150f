//! `FakeDropboxHandle`: the test-facing control surface (knobs, faults, counters, inspection and
//! state mutators). `FakeDropbox` derefs to it, and it is `Clone` so other tasks can hold one.
//! The `/_fake/…` HTTP control API calls the same methods.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::hash::content_hash;
use super::knobs::WRITE_ROUTES;
use super::model::{
    AccessError, AccessLevel, Fault, FileInfo, InviteeInfo, Knobs, MemberError, MemberInfo,
    MountError, SharedFolderInfo, TreeEntry,
};
use super::paths::{self, PathRef};
use super::server::Shared;
use super::sharing::{Selector, ShareOptions};
use super::state::{Kind, Node, PathRoot, State, Token};
use super::tree::Commit;

/// Cloneable control handle of a running fake Dropbox.
#[derive(Clone)]
pub struct FakeDropboxHandle {
    pub(crate) shared: Arc<Shared>,
}

/// Normalizes a test-supplied path (`"a/b"`, `"/A/b"`, `"/a/b/"`) to a lower-cased key.
fn key(path: &str) -> String {
    let p = path.trim_end_matches('/');
    let p = if p.is_empty() || p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    paths::lower(&p)
}

fn file_info(node: &Node, lower: &str) -> Option<FileInfo> {
    match &node.kind {
        Kind::File(f) => Some(FileInfo {
            id: node.id.clone(),
            path_display: node.display.clone(),
            path_lower: lower.to_string(),
            size: f.size,
            rev: f.rev.clone(),
            content_hash: f.hash.clone(),
            client_modified: f.client_modified.clone(),
            server_modified: f.server_modified.clone(),
        }),
        Kind::Folder { .. } => None,
    }
}

fn shared_info(st: &State, sf_id: &str) -> Option<SharedFolderInfo> {
    let sf = st.shared.get(sf_id)?;
    let (name, display) = match &sf.unmounted {
        Some(u) => (u.name.clone(), String::new()),
        None => {
            let display = st.shared_folder_path(sf_id)?;
            (paths::name_of(&display).to_string(), display)
        }
    };
    Some(SharedFolderInfo {
        shared_folder_id: sf.id.clone(),
        folder_id: sf.folder_id.clone(),
        name,
        mounted: sf.unmounted.is_none(),
        path_lower: paths::lower(&display),
        path_display: display,
        members: sf.members.clone(),
        invitees: sf.invitees.clone(),
    })
}

impl FakeDropboxHandle {
    // ---- knobs ------------------------------------------------------------------------------

    /// Current knobs.
    pub fn knobs(&self) -> Knobs {
        self.shared.knobs()
    }

    /// Replaces all knobs.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.shared.set_knobs(knobs);
    }

    /// Changes some knobs: `fake.update_knobs(|k| k.latency_ms = 50)`.
    pub fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        let mut k = self.shared.knobs();
        f(&mut k);
        self.shared.set_knobs(k);
    }

    /// Delay added to every `/2/` call.
    pub fn set_latency(&self, latency: Duration) {
        self.update_knobs(|k| k.latency_ms = latency.as_millis() as u64);
    }

    /// Probability of an injected 429, and its `retry_after`.
    pub fn set_rate_limit(&self, rate: f64, retry_after_secs: u64) {
        self.update_knobs(|k| {
            k.rate_limit_rate = rate.clamp(0.0, 1.0);
            k.retry_after_secs = retry_after_secs;
        });
    }

    /// Injected 429s as plain text (only `Retry-After`) instead of JSON.
    pub fn set_rate_limit_plain_text(&self, plain: bool) {
        self.update_knobs(|k| k.rate_limit_plain_text = plain);
    }

    /// Probability of an injected 5xx.
    pub fn set_server_error_rate(&self, rate: f64) {
        self.update_knobs(|k| k.server_error_rate = rate.clamp(0.0, 1.0));
    }

    /// Refuse with 429 beyond this many concurrent `/2/` calls.
    pub fn set_max_concurrent_requests(&self, max: Option<usize>) {
        self.update_knobs(|k| k.max_concurrent_requests = max);
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.update_knobs(|k| k.token_lifetime_secs = lifetime.as_secs());
    }

    /// `share_folder` answers with an async job even without `force_async`.
    pub fn set_share_folder_async(&self, on: bool) {
        self.update_knobs(|k| k.share_folder_async = on);
    }

    /// This share (0.0..=1.0) of `share_folder` calls answers with an async job, deterministically
    /// (0.5: every second share, 0.25: every fourth). See `Knobs::share_folder_async_ratio`.
    pub fn set_share_folder_async_ratio(&self, ratio: f64) {
        self.update_knobs(|k| k.share_folder_async_ratio = ratio.clamp(0.0, 1.0));
    }

    /// Async jobs (share, remove member, unshare) answer `in_progress` for `polls` polls and
    /// until `delay` has passed since they started.
    pub fn set_async_job_completion(&self, polls: u32, delay: Duration) {
        self.update_knobs(|k| {
            k.async_job_polls = polls;
            k.async_job_delay_ms = delay.as_millis() as u64;
        });
    }

    /// Re-seeds the fault-injection RNG.
    pub fn reseed(&self, seed: u64) {
        self.shared.faults().reseed(seed);
    }

    /// The next `times` calls to `route` (e.g. `"files/upload"`, `"oauth2/token"`, or `"*"` for
    /// any `/2/` route) fail with `fault`, before any random injection.
    pub fn fail_next(&self, route: &str, fault: Fault, times: u32) {
        self.shared.faults().push(route, fault, times);
    }

    /// Drops all scripted faults.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Every issued (refreshed) access token answers 401 `expired_access_token` from now on.
    /// Static tokens from the options are left alone.
    pub fn expire_tokens(&self) {
        let mut st = self.shared.state();
        for t in st.tokens.values_mut() {
            if t.expires_at.is_some() {
                t.expired = true;
            }
        }
    }

    /// Mints a short-lived access token directly (as if refreshed).
    pub fn issue_token(&self) -> String {
        let lifetime = self.shared.knobs().token_lifetime_secs;
        let mut st = self.shared.state();
        let token = st.new_opaque("sl.fake-direct-");
        st.tokens.insert(
            token.clone(),
            Token {
                expires_at: Some(std::time::Instant::now() + Duration::from_secs(lifetime)),
                expired: false,
            },
        );
        token
    }

    /// Invalidates every `list_folder` cursor: `continue` answers 409 `reset`.
    pub fn reset_cursors(&self) {
        self.shared.state().cursor_epoch += 1;
    }

    /// The signed notification Dropbox would send for the owner's account.
    pub fn webhook_notification(&self) -> super::webhook::WebhookNotification {
        let st = self.shared.state();
        super::webhook::notification(&st.owner.account_id, &st.app_secret)
    }

    /// POSTs a signed notification to `url` now; returns the HTTP status it answered.
    pub async fn send_webhook(&self, url: &str) -> Result<u16, String> {
        super::webhook::deliver(url, &self.webhook_notification()).await
    }

    // ---- counters ---------------------------------------------------------------------------

    /// Calls received on a route (e.g. `"files/upload"`, `"oauth2/token"`), failed ones included.
    pub fn calls(&self, route: &str) -> u64 {
        self.shared
            .counters()
            .calls
            .get(route)
            .copied()
            .unwrap_or(0)
    }

    /// Calls on a route that answered 200.
    pub fn ok_calls(&self, route: &str) -> u64 {
        self.shared.counters().ok.get(route).copied().unwrap_or(0)
    }

    /// All calls received, per route.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.shared.counters().calls.clone()
    }

    /// Calls received on namespace-writing routes (see `WRITE_ROUTES`).
    pub fn total_write_calls(&self) -> u64 {
        let c = self.shared.counters();
        WRITE_ROUTES
            .iter()
            .map(|r| c.calls.get(*r).copied().unwrap_or(0))
            .sum()
    }

    /// All calls received.
    pub fn total_calls(&self) -> u64 {
        self.shared.counters().calls.values().sum()
    }

    /// Zeroes every counter.
    pub fn reset_counters(&self) {
        *self.shared.counters() = Default::default();
    }

    // ---- inspection -------------------------------------------------------------------------

    /// Every folder and file, in path order.
    pub fn tree(&self) -> Vec<TreeEntry> {
        let st = self.shared.state();
        st.nodes
            .iter()
            .filter_map(|(lower, n)| match &n.kind {
                Kind::Folder { shared } => Some(TreeEntry::Folder {
                    id: n.id.clone(),
                    path_display: n.display.clone(),
                    shared_folder_id: shared.clone(),
                }),
                Kind::File(_) => file_info(n, lower).map(TreeEntry::File),
            })
            .collect()
    }

    /// Case-preserved paths of every node, in path order.
    pub fn paths(&self) -> Vec<String> {
        self.shared
            .state()
            .nodes
            .values()
            .map(|n| n.display.clone())
            .collect()
    }

    /// Whether anything exists at `path` (case-insensitive).
    pub fn exists(&self, path: &str) -> bool {
        self.shared.state().nodes.contains_key(&key(path))
    }

    /// Wire `Metadata` (tagged) of `path`, as `files/get_metadata` would answer.
    pub fn metadata(&self, path: &str) -> Option<Value> {
        self.shared.state().render(&key(path), true)
    }

    /// The file at `path`.
    pub fn file(&self, path: &str) -> Option<FileInfo> {
        let k = key(path);
        let st = self.shared.state();
        st.nodes.get(&k).and_then(|n| file_info(n, &k))
    }

    /// The shared folder rooted at `path`.
    pub fn shared_folder_by_path(&self, path: &str) -> Option<SharedFolderInfo> {
        let st = self.shared.state();
        match st.nodes.get(&key(path)) {
            Some(Node {
                kind: Kind::Folder { shared: Some(id) },
                ..
            }) => shared_info(&st, id),
            _ => None,
        }
    }

    /// The shared folder with this id.
    pub fn shared_folder(&self, shared_folder_id: &str) -> Option<SharedFolderInfo> {
        shared_info(&self.shared.state(), shared_folder_id)
    }

    /// All shared folders, unmounted ones included (`mounted: false`, empty path).
    pub fn shared_folders(&self) -> Vec<SharedFolderInfo> {
        let st = self.shared.state();
        st.shared
            .keys()
            .filter_map(|id| shared_info(&st, id))
            .collect()
    }

    /// Length of the change log (grows by one per recorded change).
    pub fn change_count(&self) -> u64 {
        self.shared.state().latest_seq()
    }

    /// Upload sessions not yet finished.
    pub fn open_sessions(&self) -> usize {
        self.shared.state().sessions.len()
    }

    // ---- mutators ---------------------------------------------------------------------------

    fn display_for(st: &State, path: &str) -> Result<String, String> {
        let p = format!("/{}", path.trim_matches('/'));
        st.resolve(&PathRef::Plain(p.clone()), &PathRoot::Home)
            .map_err(|e| format!("bad path {p:?}: {e:?}"))
    }

    /// Creates a folder (and its parents), as if by another Dropbox client. Ok: its id.
    pub fn create_folder(&self, path: &str) -> Result<String, String> {
        let mut st = self.shared.state();
        let display = Self::display_for(&st, path)?;
        st.create_folder(&display, false)
            .map_err(|e| e.to_string())?;
        st.nodes
            .get(&paths::lower(&display))
            .map(|n| n.id.clone())
            .ok_or_else(|| "folder vanished".to_string())
    }

    /// Writes a file with these bytes (only size and hash are kept), overwriting.
    pub fn put_file(&self, path: &str, content: &[u8]) -> Result<FileInfo, String> {
        self.put_file_modified(path, content, None)
    }

    /// [`Self::put_file`] with the `client_modified` a desktop or web upload sends (the local
    /// file's modification time, `%Y-%m-%dT%H:%M:%SZ`); `None`: the time of the write.
    pub fn put_file_modified(
        &self,
        path: &str,
        content: &[u8],
        client_modified: Option<&str>,
    ) -> Result<FileInfo, String> {
        let mut st = self.shared.state();
        let display = Self::display_for(&st, path)?;
        st.commit_file(
            &display,
            &Commit {
                client_modified: client_modified.map(str::to_string),
                ..Commit::default()
            },
            content.len() as u64,
            &content_hash(content),
        )
        .map_err(|e| e.to_string())?;
        let k = paths::lower(&display);
        st.nodes
            .get(&k)
            .and_then(|n| file_info(n, &k))
            .ok_or_else(|| "file vanished".to_string())
    }

    /// Deletes `path` and everything below it, as if the owner did it in Dropbox. Shared folders
    /// in it (or at it) are only unmounted, as Dropbox does: they keep their id, members and
    /// content, and `sharing/mount_folder` brings them back. False when nothing was there.
    pub fn delete(&self, path: &str) -> bool {
        self.shared.state().remove_subtree(&key(path)).is_some()
    }

    /// Mounts an unmounted shared folder again, as the owner would in Dropbox ("add to my
    /// Dropbox"): at the root under its name. Ok: its path.
    pub fn mount_by_hand(&self, shared_folder_id: &str) -> Result<String, String> {
        let mut st = self.shared.state();
        st.mount(shared_folder_id).map_err(|e| format!("{e:?}"))?;
        st.shared_folder_path(shared_folder_id)
            .ok_or_else(|| "mounted folder has no path".to_string())
    }

    /// Unshares a shared folder by id (mounted or not), as the owner would in Dropbox: the id is
    /// gone (`invalid_id` from then on), members lose access, a mounted folder stays as a plain
    /// folder. False when there is no such shared folder.
    pub fn unshare_by_hand(&self, shared_folder_id: &str) -> bool {
        self.shared.state().unshare(shared_folder_id).is_ok()
    }

    /// Moves or renames, as if a user did it in Dropbox.
    pub fn move_path(&self, from: &str, to: &str) -> Result<(), String> {
        let mut st = self.shared.state();
        let from = Self::display_for(&st, from)?;
        let to = Self::display_for(&st, to)?;
        st.move_path(&from, &to, false)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    /// Shares the folder at `path` (creating it if missing). Ok: the shared folder id.
    pub fn share(&self, path: &str) -> Result<String, String> {
        let mut st = self.shared.state();
        let display = Self::display_for(&st, path)?;
        st.share_folder(&display, &ShareOptions::default())
            .map_err(|e| format!("{e:?}"))
    }

    /// Unshares the shared folder at `path`, as if the owner did it in Dropbox (see
    /// [`FakeDropboxHandle::unshare_by_hand`]).
    pub fn unshare_path(&self, path: &str) -> bool {
        let id = self.shared_folder_by_path(path).map(|s| s.shared_folder_id);
        match id {
            Some(id) => self.shared.state().unshare(&id).is_ok(),
            None => false,
        }
    }

    /// Adds a member as if someone did it by hand in Dropbox (a known user becomes a member, an
    /// unknown e-mail an invitee). Member-error knobs do not apply.
    pub fn add_member_by_hand(
        &self,
        shared_folder_id: &str,
        email: &str,
        access: AccessLevel,
    ) -> Result<(), String> {
        let mut st = self.shared.state();
        let saved = st.member_errors.remove(&email.to_lowercase());
        let res = st.add_members(
            shared_folder_id,
            &[(Selector::Email(email.to_string()), access)],
            true,
        );
        if let Some(e) = saved {
            st.member_errors.insert(email.to_lowercase(), e);
        }
        res.map_err(|e| format!("{e:?}"))
    }

    /// Removes a member or invitee by e-mail, as if done by hand.
    pub fn remove_member_by_hand(&self, shared_folder_id: &str, email: &str) -> Result<(), String> {
        self.shared
            .state()
            .remove_member(shared_folder_id, &Selector::Email(email.to_string()))
            .map_err(|e| format!("{e:?}"))
    }

    /// Changes the access of a member or invitee by e-mail, as if done by hand in Dropbox.
    pub fn set_member_access_by_hand(
        &self,
        shared_folder_id: &str,
        email: &str,
        access: AccessLevel,
    ) -> Result<(), String> {
        self.shared
            .state()
            .update_member(
                shared_folder_id,
                &Selector::Email(email.to_string()),
                access,
            )
            .map_err(|e| format!("{e:?}"))
    }

    /// Registers a Dropbox account: e-mails of known accounts become `users` when invited.
    pub fn add_user(&self, email: &str, account_id: &str) {
        let name = email.split('@').next().unwrap_or(email).to_string();
        self.shared.state().add_user(email, account_id, &name);
    }

    /// The owner of the account with e-mail `old` changes it to `new` (the account keeps its id;
    /// its folders list it under `new`). False when no account has `old`.
    pub fn change_user_email(&self, old: &str, new: &str) -> bool {
        self.shared.state().change_user_email(old, new)
    }

    /// Registers a Dropbox account with a derived `dbid:` id; returns it.
    pub fn add_user_auto(&self, email: &str) -> String {
        let id = super::state::account_id_for(email);
        self.add_user(email, &id);
        id
    }

    /// Makes `add_folder_member` fail (whole call) whenever this e-mail is in it.
    pub fn set_member_error(&self, email: &str, error: MemberError) {
        self.shared
            .state()
            .member_errors
            .insert(email.to_lowercase(), error);
    }

    /// Makes every sharing route on this shared folder answer this `SharedFolderAccessError`
    /// (bare from `get_folder_metadata` / `list_folder_members`, under `access_error` from the
    /// others); `None` clears it.
    pub fn set_access_error(&self, shared_folder_id: &str, error: Option<AccessError>) {
        let mut st = self.shared.state();
        match error {
            Some(e) => st.access_errors.insert(shared_folder_id.to_string(), e),
            None => st.access_errors.remove(shared_folder_id),
        };
    }

    /// Makes `sharing/mount_folder` of this shared folder fail with this error; `None` clears it.
    pub fn set_mount_error(&self, shared_folder_id: &str, error: Option<MountError>) {
        let mut st = self.shared.state();
        match error {
            Some(e) => st.mount_errors.insert(shared_folder_id.to_string(), e),
            None => st.mount_errors.remove(shared_folder_id),
        };
    }

    /// Removes a member-error knob.
    pub fn clear_member_error(&self, email: &str) {
        self.shared
            .state()
            .member_errors
            .remove(&email.to_lowercase());
    }

    /// Members of a shared folder (owner first), for quick assertions.
    pub fn members(&self, shared_folder_id: &str) -> Vec<MemberInfo> {
        self.shared_folder(shared_folder_id)
            .map(|s| s.members)
            .unwrap_or_default()
    }

    /// Invitees of a shared folder.
    pub fn invitees(&self, shared_folder_id: &str) -> Vec<InviteeInfo> {
        self.shared_folder(shared_folder_id)
            .map(|s| s.invitees)
            .unwrap_or_default()
    }
}
