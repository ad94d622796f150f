//! `dropbox.changes`: read what changed in the bridge's Dropbox folders and enqueue the repairs.
//! Enqueued by a Dropbox notification (one per notification) and the periodic poll. Every such
//! job reads the bridge's own account from its one stored cursor, so all share one key: one is
//! queued at a time, and none runs while another does. The work is [`crate::jobs::changes`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::JobKind;
use crate::jobs::{changes, JobContext, JobError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropboxChanges {
    /// The account a notification named; `None` (the periodic poll) is the bridge's own. Shown
    /// on the job; the run reads the bridge's own account whichever it names.
    #[serde(default, deserialize_with = "account_id")]
    pub account_id: Option<String>,
}

fn account_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d) {
        Ok(Some(s)) if s.is_empty() => Err(serde::de::Error::custom(
            "account_id must be a Dropbox account id or null",
        )),
        Ok(a) => Ok(a),
        Err(_) => Err(serde::de::Error::custom(
            "account_id must be a Dropbox account id or null",
        )),
    }
}

impl DropboxChanges {
    /// The periodic poll of the bridge's own account.
    pub fn own_account() -> Self {
        Self { account_id: None }
    }

    /// A notification naming `account_id`.
    pub fn for_account(account_id: impl Into<String>) -> Self {
        Self {
            account_id: Some(account_id.into()),
        }
    }
}

impl JobKind for DropboxChanges {
    const NAME: &'static str = "dropbox.changes";

    fn dedupe_key(&self) -> String {
        Self::NAME.to_string()
    }

    async fn run(self, ctx: &JobContext) -> Result<Value, JobError> {
        changes::run(ctx, self.account_id.as_deref()).await
    }
}
