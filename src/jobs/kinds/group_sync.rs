//! `group.sync`: reconcile one group's Dropbox shared folder with its DocSpace members. Enqueued
//! by `group.created` / `group.updated`, the API, `groups.sync_all` and change tracking; one per
//! group while queued, and never at the same time as a `group.delete` of that group (see
//! [`group_key`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{field, JobKind};
use crate::jobs::{groups, JobContext, JobError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSync {
    #[serde(deserialize_with = "field::id")]
    pub group_id: String,
}

impl GroupSync {
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
        }
    }
}

/// The key of both `group.sync` and `group.delete` of a group: both reconcile the group, so
/// they coalesce while one is queued, and a job of the key never runs while another does (two
/// at once could both read the folder's members, and one forget a member the other just added).
pub(super) fn group_key(group_id: &str) -> String {
    format!("group:{group_id}")
}

impl JobKind for GroupSync {
    const NAME: &'static str = "group.sync";

    fn dedupe_key(&self) -> String {
        group_key(&self.group_id)
    }

    /// A group DocSpace no longer has is treated like `group.deleted`, so a late or missed
    /// deletion event converges to the same state.
    async fn run(self, ctx: &JobContext) -> Result<Value, JobError> {
        Ok(groups::sync_group(ctx, &self.group_id).await?.to_json())
    }
}
