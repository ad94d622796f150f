//! One-shot subcommands (`check`, `sync-groups`, `sync-files`, `export`, `demo`). They use the
//! same clients, jobs and store as the service; they never go through HTTP. `demo` exists only
//! with the `demo` feature (the stand-ins it runs are not in production builds).

pub mod check;
#[cfg(feature = "demo")]
pub mod demo;
pub mod export;
pub mod sync_files;
pub mod sync_groups;

use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::jobs::JobContext;

/// Opens the configured database (migrating it) and builds the job context a one-shot command
/// works with; on failure says why on stderr.
async fn open_context(config: Config) -> Result<JobContext, ExitCode> {
    match crate::store::connect(&config.database_url).await {
        Ok(store) => Ok(JobContext::new(Arc::new(config), store)),
        Err(e) => {
            eprintln!("error: cannot open the database: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}
