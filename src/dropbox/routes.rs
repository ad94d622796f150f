//! Typed Dropbox routes: account, files (folders, metadata, listing, moves, deletes) and sharing
//! (share and mount folders, members, async job polling). Each function builds a `wire` argument
//! and goes through the client's single call path; none repeats auth, retry or error handling.
//! Uploads live in `upload.rs`.

use std::time::Duration;

use super::client::DropboxClient;
use super::error::{tag_path, DropboxError};
use super::wire::*;

/// Async sharing jobs: first poll after this, then doubling up to `POLL_MAX`. A run lends its
/// worker slot out between polls (`provider::slot`), so a short first pause costs a slow job
/// one more status call and nothing else, while a quick one is picked up sooner.
const POLL_FIRST: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(2);
/// Give up waiting for an async sharing job after this long (the job queue retries later).
const POLL_DEADLINE: Duration = Duration::from_secs(120);

type Result<T> = std::result::Result<T, DropboxError>;

impl DropboxClient {
    /// `users/get_current_account`.
    pub async fn get_current_account(&self) -> Result<FullAccount> {
        self.call_rpc("users/get_current_account", &()).await
    }

    /// `files/create_folder_v2`. An existing folder is the 409 `path/conflict/folder`.
    pub async fn create_folder_v2(&self, path: &str, autorename: bool) -> Result<FolderMetadata> {
        let arg = CreateFolderArg {
            path: path.to_string(),
            autorename,
        };
        let r: CreateFolderResult = self.call_rpc("files/create_folder_v2", &arg).await?;
        Ok(r.metadata)
    }

    /// `files/get_metadata`; `Ok(None)` when nothing is at `path` (`path/not_found`).
    /// `include_deleted` returns `Metadata::Deleted` for deleted items instead.
    pub async fn get_metadata(
        &self,
        path: &str,
        include_deleted: bool,
    ) -> Result<Option<Metadata>> {
        let arg = GetMetadataArg {
            path: path.to_string(),
            include_deleted,
            include_has_explicit_shared_members: false,
        };
        match self.call_rpc("files/get_metadata", &arg).await {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.has_tag("path/not_found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `files/move_v2` (renames too).
    pub async fn move_v2(
        &self,
        from_path: &str,
        to_path: &str,
        autorename: bool,
    ) -> Result<Metadata> {
        let arg = RelocationArg {
            from_path: from_path.to_string(),
            to_path: to_path.to_string(),
            autorename,
            allow_ownership_transfer: false,
        };
        let r: RelocationResult = self.call_rpc("files/move_v2", &arg).await?;
        Ok(r.metadata)
    }

    /// `files/delete_v2`.
    pub async fn delete_v2(&self, path: &str) -> Result<Metadata> {
        let arg = DeleteArg {
            path: path.to_string(),
            parent_rev: None,
        };
        let r: DeleteResult = self.call_rpc("files/delete_v2", &arg).await?;
        Ok(r.metadata)
    }

    /// `files/list_folder` (one page; continue with [`DropboxClient::list_folder_continue`]
    /// while `has_more`).
    pub async fn list_folder(&self, arg: &ListFolderArg) -> Result<ListFolderResult> {
        self.call_rpc("files/list_folder", arg).await
    }

    /// `files/list_folder/continue`. A 409 `reset` means: list again from scratch.
    pub async fn list_folder_continue(&self, cursor: &str) -> Result<ListFolderResult> {
        let arg = ListFolderContinueArg {
            cursor: cursor.to_string(),
        };
        self.call_rpc("files/list_folder/continue", &arg).await
    }

    /// `files/list_folder/get_latest_cursor`: a cursor that sees only changes from now on.
    pub async fn list_folder_get_latest_cursor(&self, arg: &ListFolderArg) -> Result<String> {
        let r: ListFolderGetLatestCursorResult = self
            .call_rpc("files/list_folder/get_latest_cursor", arg)
            .await?;
        Ok(r.cursor)
    }

    /// `users/get_current_account`, asked once per client and kept: the account that owns
    /// the folders this client shares.
    pub async fn current_account(&self) -> Result<FullAccount> {
        self.inner
            .account
            .get_or_try_init(|| self.get_current_account())
            .await
            .cloned()
    }

    /// `sharing/share_folder`, idempotent: a folder that is already shared (`bad_path/
    /// already_shared`) returns its existing metadata; an async launch is polled to completion.
    pub async fn share_folder(&self, path: &str) -> Result<SharedFolderMetadata> {
        Ok(self.share_folder_fresh(path).await?.0)
    }

    /// [`DropboxClient::share_folder`], and whether this call made the share (`false`: the folder
    /// was shared already, and may have members of its own).
    pub async fn share_folder_fresh(&self, path: &str) -> Result<(SharedFolderMetadata, bool)> {
        let arg = ShareFolderArg {
            path: path.to_string(),
            force_async: false,
        };
        let launch: std::result::Result<ShareFolderLaunch, _> =
            self.call_rpc("sharing/share_folder", &arg).await;
        match launch {
            Ok(ShareFolderLaunch::Complete(m)) => Ok((m, true)),
            Ok(ShareFolderLaunch::AsyncJobId { async_job_id }) => {
                self.wait_share_job(&async_job_id).await
            }
            Ok(ShareFolderLaunch::Other) => Err(DropboxError::Decode {
                route: "sharing/share_folder",
                message: "unknown ShareFolderLaunch tag".into(),
            }),
            Err(e) => match e.already_shared() {
                Some(m) => Ok((m, false)),
                None => Err(e),
            },
        }
    }

    /// `sharing/check_share_job_status` (one poll).
    pub async fn check_share_job_status(&self, async_job_id: &str) -> Result<ShareFolderJobStatus> {
        let arg = PollArg {
            async_job_id: async_job_id.to_string(),
        };
        self.call_rpc("sharing/check_share_job_status", &arg).await
    }

    /// The shared folder an async share made, and whether it made it (`false`: already shared).
    async fn wait_share_job(&self, job_id: &str) -> Result<(SharedFolderMetadata, bool)> {
        const ROUTE: &str = "sharing/check_share_job_status";
        poll(ROUTE, || async {
            match self.check_share_job_status(job_id).await? {
                ShareFolderJobStatus::InProgress => Ok(None),
                ShareFolderJobStatus::Complete(m) => Ok(Some((m, true))),
                ShareFolderJobStatus::Failed { failed } => {
                    let err = job_failed(ROUTE, failed);
                    match err.already_shared() {
                        Some(m) => Ok(Some((m, false))),
                        None => Err(err),
                    }
                }
                ShareFolderJobStatus::Other => Err(DropboxError::Decode {
                    route: ROUTE,
                    message: "unknown ShareFolderJobStatus tag".into(),
                }),
            }
        })
        .await
    }

    /// `sharing/add_folder_member`: invites every `(email, access level)` in one call.
    /// Validate addresses first ([`is_valid_email`]): one address Dropbox's pattern rejects fails
    /// the whole call with 400. Errors: 409 tags such as `bad_member/invalid_email`.
    pub async fn add_folder_member(
        &self,
        shared_folder_id: &str,
        members: &[(String, AccessLevel)],
        quiet: bool,
    ) -> Result<()> {
        if members.is_empty() {
            return Ok(());
        }
        let arg = AddFolderMemberArg {
            shared_folder_id: shared_folder_id.to_string(),
            members: members
                .iter()
                .map(|(email, level)| AddMember {
                    member: MemberSelector::Email {
                        email: email.clone(),
                    },
                    access_level: *level,
                })
                .collect(),
            quiet,
        };
        self.call_rpc("sharing/add_folder_member", &arg).await
    }

    /// `sharing/remove_folder_member` (without leaving a copy), then polls
    /// `sharing/check_remove_member_job_status` until done. Returns the access the member still
    /// has, e.g. through a parent folder.
    pub async fn remove_folder_member(
        &self,
        shared_folder_id: &str,
        member: MemberSelector,
    ) -> Result<MemberAccessLevelResult> {
        const ROUTE: &str = "sharing/remove_folder_member";
        let arg = RemoveFolderMemberArg {
            shared_folder_id: shared_folder_id.to_string(),
            member,
            leave_a_copy: false,
        };
        let launch: LaunchResultBase = self.call_rpc(ROUTE, &arg).await?;
        let job_id = match launch {
            LaunchResultBase::AsyncJobId { async_job_id } => async_job_id,
            LaunchResultBase::Other => {
                return Err(DropboxError::Decode {
                    route: ROUTE,
                    message: "unknown LaunchResultBase tag".into(),
                })
            }
        };
        const POLL_ROUTE: &str = "sharing/check_remove_member_job_status";
        poll(POLL_ROUTE, || async {
            match self.check_remove_member_job_status(&job_id).await? {
                RemoveMemberJobStatus::InProgress => Ok(None),
                RemoveMemberJobStatus::Complete(r) => Ok(Some(r)),
                RemoveMemberJobStatus::Failed { failed } => Err(job_failed(POLL_ROUTE, failed)),
                RemoveMemberJobStatus::Other => Err(DropboxError::Decode {
                    route: POLL_ROUTE,
                    message: "unknown RemoveMemberJobStatus tag".into(),
                }),
            }
        })
        .await
    }

    /// `sharing/update_folder_member`: sets an existing member's access level (synchronous).
    /// Dropbox accepts only a `dropbox_id` selector here and never `owner` as the level.
    /// Errors: 409 `wire::UpdateFolderMemberError` tags such as `member_error/not_a_member`,
    /// `no_permission`, `insufficient_plan`. Returns access the member has through a parent.
    pub async fn update_folder_member(
        &self,
        shared_folder_id: &str,
        member: MemberSelector,
        access_level: AccessLevel,
    ) -> Result<MemberAccessLevelResult> {
        let arg = UpdateFolderMemberArg {
            shared_folder_id: shared_folder_id.to_string(),
            member,
            access_level,
        };
        self.call_rpc("sharing/update_folder_member", &arg).await
    }

    /// `sharing/check_remove_member_job_status` (one poll).
    pub async fn check_remove_member_job_status(
        &self,
        async_job_id: &str,
    ) -> Result<RemoveMemberJobStatus> {
        let arg = PollArg {
            async_job_id: async_job_id.to_string(),
        };
        self.call_rpc("sharing/check_remove_member_job_status", &arg)
            .await
    }

    /// `sharing/list_folder_members` and `/continue`: every page, merged.
    pub async fn list_folder_members(&self, shared_folder_id: &str) -> Result<SharedFolderMembers> {
        let arg = ListFolderMembersArgs {
            shared_folder_id: shared_folder_id.to_string(),
            limit: 1000,
        };
        let mut all: SharedFolderMembers =
            self.call_rpc("sharing/list_folder_members", &arg).await?;
        let mut cursor = all.cursor.take();
        let mut pages = 1;
        while let Some(c) = cursor.filter(|c| !c.is_empty()) {
            pages += 1;
            if pages > 10_000 {
                return Err(DropboxError::Decode {
                    route: "sharing/list_folder_members/continue",
                    message: "member listing never ends".into(),
                });
            }
            let page: SharedFolderMembers = self
                .call_rpc(
                    "sharing/list_folder_members/continue",
                    &ListFolderMembersContinueArg { cursor: c },
                )
                .await?;
            all.users.extend(page.users);
            all.groups.extend(page.groups);
            all.invitees.extend(page.invitees);
            cursor = page.cursor;
        }
        Ok(all)
    }

    /// `sharing/get_folder_metadata`.
    pub async fn get_folder_metadata(
        &self,
        shared_folder_id: &str,
    ) -> Result<SharedFolderMetadata> {
        let arg = GetFolderMetadataArg {
            shared_folder_id: shared_folder_id.to_string(),
        };
        self.call_rpc("sharing/get_folder_metadata", &arg).await
    }

    /// `sharing/mount_folder`: puts a shared folder the account has unmounted (deleted from its
    /// Dropbox: same id, members and content) back at the root of its namespace, under its last
    /// name (autorenamed on a clash); the answer has the new path. Errors: 409 tags such as
    /// `already_mounted`, `insufficient_quota`, `access_error/invalid_id` (unshared for good).
    pub async fn mount_folder(&self, shared_folder_id: &str) -> Result<SharedFolderMetadata> {
        // MountFolderArg has the same one field.
        let arg = GetFolderMetadataArg {
            shared_folder_id: shared_folder_id.to_string(),
        };
        self.call_rpc("sharing/mount_folder", &arg).await
    }
}

/// A failed async job reported like a 409 of the polling route.
fn job_failed(route: &'static str, failed: serde_json::Value) -> DropboxError {
    DropboxError::Route {
        route,
        tag: tag_path(&failed).unwrap_or_else(|| "unknown".into()),
        error: failed,
        user_message: None,
    }
}

/// Polls `step` until it yields a value, with growing pauses, for at most `POLL_DEADLINE`.
async fn poll<T, F, Fut>(route: &'static str, mut step: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let started = tokio::time::Instant::now();
    let mut delay = POLL_FIRST;
    loop {
        // Nothing to call until the pause is over: the run's worker slot serves other jobs.
        crate::provider::slot::wait(delay).await;
        if let Some(v) = step().await? {
            return Ok(v);
        }
        if started.elapsed() >= POLL_DEADLINE {
            return Err(DropboxError::JobTimeout {
                route,
                waited: started.elapsed(),
            });
        }
        delay = (delay * 2).min(POLL_MAX);
    }
}

/// Whether Dropbox will accept `email` in a `MemberSelector`: Stone's `common.EmailAddress`,
/// `^['#&A-Za-z0-9._%+-]+@[A-Za-z0-9-][A-Za-z0-9.-]*\.[A-Za-z]{2,15}$`, at most 255 characters.
/// Checked by hand: the local part is one run of those characters up to the first `@`; the
/// domain starts with a letter, digit or `-`, and after its last `.` come 2 to 15 letters.
pub fn is_valid_email(email: &str) -> bool {
    if email.len() > 255 {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "'#&._%+-".contains(c));
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let host_ok = host
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let tld_ok = (2..=15).contains(&tld.len()) && tld.chars().all(|c| c.is_ascii_alphabetic());
    local_ok && host_ok && tld_ok
}

#[cfg(test)]
mod tests {
    use super::is_valid_email;

    #[test]
    fn email_pattern() {
        assert!(is_valid_email("anna.smith+x@example.co.uk"));
        assert!(is_valid_email("o'brien@mail-1.example.com"));
        assert!(is_valid_email("a#b@example.com"));
        assert!(is_valid_email("r&d@example.com"));
        assert!(is_valid_email("-@-.io"));
        assert!(is_valid_email(&format!("{}@example.com", "a".repeat(243))));
        assert!(!is_valid_email(&format!("{}@example.com", "a".repeat(244))));
        assert!(!is_valid_email("a!b@example.com"));
        assert!(!is_valid_email("a@b@example.com"));
        assert!(!is_valid_email("a b@example.com"));
        assert!(!is_valid_email("a@exa_mple.com"));
        assert!(!is_valid_email("jürgen@example.com"));
        assert!(!is_valid_email("a@example.c"));
        assert!(!is_valid_email("a@example.abcdefghijklmnop"));
        assert!(!is_valid_email("no-at-sign"));
        assert!(!is_valid_email("@example.com"));
        assert!(!is_valid_email("a@.example.com"));
    }
}
