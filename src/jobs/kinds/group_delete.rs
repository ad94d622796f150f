//! `group.delete`: apply `ON_GROUP_DELETED` to a group DocSpace deleted (never deleting the folder
//! or its files). Enqueued by `group.deleted`; it shares its key with `group.sync` of the group.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{field, JobKind};
use crate::jobs::{groups, JobContext, JobError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDelete {
    #[serde(deserialize_with = "field::id")]
    pub group_id: String,
    /// The name the event carried (shown on the job; the mapping knows the folder).
    #[serde(default, deserialize_with = "field::optional")]
    pub group_name: Option<String>,
}

impl GroupDelete {
    pub fn new(group_id: impl Into<String>, group_name: Option<&str>) -> Self {
        Self {
            group_id: group_id.into(),
            group_name: group_name.map(str::to_string),
        }
    }
}

impl JobKind for GroupDelete {
    const NAME: &'static str = "group.delete";

    fn dedupe_key(&self) -> String {
        super::group_sync::group_key(&self.group_id)
    }

    /// DocSpace is the truth: if the group still exists (a stale or replayed event) it is
    /// reconciled instead of revoked.
    async fn run(self, ctx: &JobContext) -> Result<Value, JobError> {
        Ok(groups::sync_group(ctx, &self.group_id).await?.to_json())
    }
}
