//! `files.sync_all`: a file reconcile. Walks the DocSpace rooms (or `EXPORT_FOLDER_IDS`, or the
//! folders asked for) and enqueues a `file.export` for every file whose current version is not
//! recorded as exported. Enqueued by the scheduler every `EXPORT_RECONCILE_INTERVAL` and by the
//! API; one per scope while queued. The work is [`crate::jobs::files`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::JobKind;
use crate::jobs::{files, record_last_success, JobContext, JobError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesSyncAll {
    /// Only these DocSpace folders or rooms (and what is below them); `None` walks
    /// `EXPORT_FOLDER_IDS`, or every room when that is empty.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "folder_ids"
    )]
    pub folder_ids: Option<Vec<String>>,
    /// Files of any age, not only those changed since the bridge started exporting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backfill: bool,
}

impl FilesSyncAll {
    /// The periodic run: the configured scope, files changed since the bridge started exporting.
    pub fn periodic() -> Self {
        Self::default()
    }

    /// A run an operator asked for.
    pub fn new(folder_ids: Option<Vec<String>>, backfill: bool) -> Self {
        Self {
            folder_ids: folder_ids.filter(|ids| !ids.is_empty()),
            backfill,
        }
    }

    /// Whether this is the full reconcile (the periodic one's scope: every folder in scope,
    /// files changed since the bridge started exporting). Only a full run's success is "the
    /// last successful file reconcile" (the gauge, the status page); a run over named folders or
    /// a backfill says nothing about the rest.
    pub fn is_full(&self) -> bool {
        *self == Self::periodic()
    }
}

impl JobKind for FilesSyncAll {
    const NAME: &'static str = "files.sync_all";

    /// One per scope: the periodic run coalesces with any queued periodic run, and a backfill
    /// or a run over named folders is never swallowed by a narrower run queued before it.
    fn dedupe_key(&self) -> String {
        let mut key = Self::NAME.to_string();
        if let Some(ids) = &self.folder_ids {
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            key.push_str(":folders=");
            key.push_str(&ids.join(","));
        }
        if self.backfill {
            key.push_str(":backfill");
        }
        key
    }

    async fn run(self, ctx: &JobContext) -> Result<Value, JobError> {
        let full = self.is_full();
        let summary = files::sync_all(ctx, self.folder_ids.as_deref(), self.backfill).await?;
        if full {
            record_last_success(Self::NAME);
        }
        Ok(summary.to_json())
    }
}

/// Folder ids as strings, whether sent as strings or as numbers (DocSpace's ids are numbers).
fn folder_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let Some(values) = Option::<Vec<Value>>::deserialize(d)? else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(serde::de::Error::custom(
                "folder ids must be non-empty strings or numbers",
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|ids| Some(ids).filter(|ids| !ids.is_empty()))
}
