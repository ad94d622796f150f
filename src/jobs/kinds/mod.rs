//! Job kinds. Each kind is one type in its own module: the type is the job's payload (serde, the
//! JSON the API shows under `payload`), and its [`JobKind`] impl holds the kind's name, its
//! dedupe key and its `run`. Webhooks, the API, the scheduler and jobs that enqueue follow-ups
//! build jobs only from these types ([`JobKind::to_new_job`]), so equal requests get equal dedupe
//! keys and coalesce whoever makes them.
//!
//! The store keeps kinds and payloads as plain strings and JSON; [`run`] turns a claimed job back
//! into its type. An unknown kind, or a payload that does not parse as its kind's type, is a
//! permanent error.

mod dropbox_changes;
mod file_export;
mod files_sync_all;
mod group_delete;
mod group_sync;
mod groups_sync_all;

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{JobContext, JobError};
use crate::store::{Job, NewJob};

pub use dropbox_changes::DropboxChanges;
pub use file_export::{explicit_folder, FileExport};
pub use files_sync_all::FilesSyncAll;
pub use group_delete::GroupDelete;
pub use group_sync::GroupSync;
pub use groups_sync_all::GroupsSyncAll;

/// One kind of job: the implementing type is its payload.
pub trait JobKind: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind's name, as stored and shown by the API (`group.sync`).
    const NAME: &'static str;

    /// Jobs with the same key coalesce while one of them is queued.
    fn dedupe_key(&self) -> String;

    /// Does the work; the value is the job's result summary.
    fn run(self, ctx: &JobContext) -> impl Future<Output = Result<Value, JobError>> + Send;

    /// The job to enqueue.
    fn to_new_job(&self) -> NewJob {
        NewJob {
            kind: Self::NAME.to_string(),
            dedupe_key: Some(self.dedupe_key()),
            // Payloads are structs of strings, which always serialize; were one ever to fail,
            // the job would fail as unparseable rather than panic the caller.
            payload: serde_json::to_value(self).unwrap_or(Value::Null),
        }
    }
}

/// Every kind this build runs.
pub const NAMES: [&str; 6] = [
    GroupSync::NAME,
    GroupDelete::NAME,
    GroupsSyncAll::NAME,
    FileExport::NAME,
    FilesSyncAll::NAME,
    DropboxChanges::NAME,
];

/// Runs one claimed job as its kind.
pub async fn run(job: &Job, ctx: &JobContext) -> Result<Value, JobError> {
    match job.kind.as_str() {
        GroupSync::NAME => payload::<GroupSync>(job)?.run(ctx).await,
        GroupDelete::NAME => payload::<GroupDelete>(job)?.run(ctx).await,
        GroupsSyncAll::NAME => payload::<GroupsSyncAll>(job)?.run(ctx).await,
        FileExport::NAME => payload::<FileExport>(job)?.run(ctx).await,
        FilesSyncAll::NAME => payload::<FilesSyncAll>(job)?.run(ctx).await,
        DropboxChanges::NAME => payload::<DropboxChanges>(job)?.run(ctx).await,
        other => Err(JobError::permanent(format!(
            "unknown job kind {other:?}; this build runs {}",
            NAMES.join(", ")
        ))),
    }
}

fn payload<K: JobKind>(job: &Job) -> Result<K, JobError> {
    K::deserialize(&job.payload)
        .map_err(|e| JobError::permanent(format!("{} job payload does not parse: {e}", K::NAME)))
}

/// Payload fields as the kinds read them: ids may arrive as JSON numbers (DocSpace file ids)
/// or strings, and surrounding blanks are not part of an id.
mod field {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Str(String),
        Num(serde_json::Number),
    }

    fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<Text>::deserialize(d)?
            .map(|t| match t {
                Text::Str(s) => s.trim().to_string(),
                Text::Num(n) => n.to_string(),
            })
            .filter(|s| !s.is_empty()))
    }

    /// A required id: a non-blank string or a number.
    pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        text(d)?.ok_or_else(|| serde::de::Error::custom("an id must not be empty"))
    }

    /// An optional text: absent, `null` and blank all mean none.
    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        text(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn stored(new: NewJob) -> Job {
        Job {
            id: 1,
            kind: new.kind,
            state: crate::store::JobState::Running,
            attempts: 1,
            dedupe_key: new.dedupe_key,
            payload: new.payload,
            last_error: None,
            result: None,
            run_at: Utc::now(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn round_trip<K: JobKind + std::fmt::Debug + PartialEq>(k: K) {
        let job = stored(k.to_new_job());
        assert_eq!(job.kind, K::NAME);
        assert_eq!(payload::<K>(&job).expect("parses"), k);
    }

    #[test]
    fn every_kind_reads_back_what_it_wrote() {
        round_trip(GroupSync::new("g1"));
        round_trip(GroupDelete::new("g1", Some("Marketing")));
        round_trip(GroupsSyncAll::new());
        round_trip(FileExport::event("42", "file.updated", Some("u")));
        round_trip(FileExport::manual("42", Some("/Reports")));
        round_trip(FileExport::reconcile("42"));
        round_trip(FilesSyncAll::periodic());
        round_trip(FilesSyncAll::new(
            Some(vec!["7".into(), "x-1".into()]),
            true,
        ));
        round_trip(DropboxChanges::own_account());
        round_trip(DropboxChanges::for_account("dbid:a"));
    }

    #[test]
    fn a_payload_of_another_shape_is_a_permanent_error_naming_the_kind() {
        let mut job = stored(GroupSync::new("g").to_new_job());
        job.payload = json!({ "group": "g" });
        match payload::<GroupSync>(&job) {
            Err(JobError::Permanent { message, .. }) => {
                assert!(
                    message.starts_with("group.sync job payload does not parse"),
                    "{message}"
                );
                assert!(message.contains("group_id"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        job.payload = json!({ "group_id": "  " });
        assert!(payload::<GroupSync>(&job).is_err());
    }

    #[test]
    fn file_reconciles_of_different_scopes_do_not_coalesce() {
        let keys: Vec<String> = [
            FilesSyncAll::periodic(),
            FilesSyncAll::new(None, true),
            FilesSyncAll::new(Some(vec!["7".into()]), false),
            FilesSyncAll::new(Some(vec!["7".into()]), true),
            FilesSyncAll::new(Some(vec!["8".into(), "7".into()]), false),
        ]
        .iter()
        .map(JobKind::dedupe_key)
        .collect();
        let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "{keys:?}");
        assert_eq!(keys[0], "files.sync_all");
        assert_eq!(
            FilesSyncAll::new(Some(vec!["7".into(), "8".into(), "7".into()]), false).dedupe_key(),
            keys[4]
        );
        assert_eq!(
            FilesSyncAll::new(Some(vec![]), false),
            FilesSyncAll::periodic()
        );
    }

    #[test]
    fn file_reconcile_folder_ids_may_be_numbers() {
        let job = stored(NewJob::new(
            FilesSyncAll::NAME,
            None,
            json!({ "folder_ids": [12, " 13 "], "backfill": true }),
        ));
        let k = payload::<FilesSyncAll>(&job).expect("parses");
        assert_eq!(k.folder_ids, Some(vec!["12".to_string(), "13".to_string()]));
        assert!(k.backfill);
        job_with(&json!({ "folder_ids": [""] })).expect_err("blank id");
        assert_eq!(
            job_with(&json!({})).expect("parses"),
            FilesSyncAll::periodic()
        );
    }

    fn job_with(body: &Value) -> Result<FilesSyncAll, JobError> {
        payload::<FilesSyncAll>(&stored(NewJob::new(FilesSyncAll::NAME, None, body.clone())))
    }

    #[test]
    fn numeric_ids_and_blank_options_are_read_as_before() {
        let job = stored(NewJob::new(
            FileExport::NAME,
            None,
            json!({ "file_id": 42, "folder": "", "trigger": " file.updated ", "created_by": null }),
        ));
        let k = payload::<FileExport>(&job).expect("parses");
        assert_eq!(k.file_id, "42");
        assert_eq!(k.folder, None);
        assert_eq!(k.trigger.as_deref(), Some("file.updated"));
        assert_eq!(k.created_by, None);
    }
}
