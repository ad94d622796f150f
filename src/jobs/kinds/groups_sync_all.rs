//! `groups.sync_all`: one `group.sync` per DocSpace group, plus one per mapped group DocSpace no
//! longer lists (a deletion whose webhook never came). Enqueued by the scheduler every
//! `RECONCILE_INTERVAL`, the API and a reset of the Dropbox cursor; one while queued.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{GroupSync, JobKind};
use crate::jobs::{groups, record_last_success, JobContext, JobError};

/// Enqueued per chunk, so that a portal with many groups commits in a few transactions.
const ENQUEUE_CHUNK: usize = 500;

/// No parameters: the payload is `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsSyncAll {}

impl GroupsSyncAll {
    pub fn new() -> Self {
        Self {}
    }
}

impl JobKind for GroupsSyncAll {
    const NAME: &'static str = "groups.sync_all";

    fn dedupe_key(&self) -> String {
        Self::NAME.to_string()
    }

    async fn run(self, ctx: &JobContext) -> Result<Value, JobError> {
        let targets = groups::all_targets(ctx).await?;
        let jobs: Vec<_> = targets
            .ids
            .iter()
            .map(|id| GroupSync::new(id.as_str()).to_new_job())
            .collect();
        for chunk in jobs.chunks(ENQUEUE_CHUNK) {
            ctx.store.enqueue(chunk.to_vec()).await?;
        }
        record_last_success(Self::NAME);
        Ok(json!({
            "groups": targets.listed,
            "orphans": targets.ids.len() - targets.listed,
            "enqueued": targets.ids.len(),
        }))
    }
}
