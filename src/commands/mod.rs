//! One-shot subcommands (`check`, `sync-groups`, `sync-files`, `export`, `jobs`, `demo`). They
//! use the same clients, jobs and store as the service; they never go through HTTP. `demo` exists
//! only with the `demo` feature (the stand-ins it runs are not in production builds).
//!
//! A one-shot command says on stderr which database it uses and never creates one: run from
//! the wrong directory, it stops instead of starting an empty `./data/bridge.db`. Only `serve`
//! and `migrate` create the database.

pub mod check;
#[cfg(feature = "demo")]
pub mod demo;
pub mod export;
pub mod jobs;
pub mod sync_files;
pub mod sync_groups;

use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::jobs::JobContext;
use crate::store::{DynStore, StoreError};

/// The database `url` names, for people: the URL without its password and, for SQLite, the
/// file it resolves to from here.
pub fn describe_database(url: &str) -> String {
    let shown = crate::app::redact_url(url);
    match crate::store::sqlite::file_of(url) {
        Some(path) => {
            let abs = std::path::absolute(&path).unwrap_or(path);
            format!("{shown} ({})", abs.display())
        }
        None => shown,
    }
}

/// Opens the existing database a one-shot command works on (bringing its schema up to date),
/// after saying on stderr which one it is; on failure says why.
pub(crate) async fn open_store(url: &str) -> Result<DynStore, ExitCode> {
    eprintln!("database: {}", describe_database(url));
    match crate::store::connect_existing(url).await {
        Ok(store) => Ok(store),
        Err(StoreError::Missing(why)) => {
            eprintln!(
                "error: {why}; only `serve` and `migrate` create the database \
                 (run from the bridge's directory, or set BRIDGE_DATABASE_URL)"
            );
            Err(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("error: cannot open the database: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Opens the configured database (see [`open_store`]) and builds the job context a one-shot
/// command works with.
async fn open_context(config: Config) -> Result<JobContext, ExitCode> {
    let store = open_store(&config.database_url).await?;
    Ok(JobContext::new(Arc::new(config), store))
}
