//! One-shot subcommands (`check`, `sync-groups`, `export`, `demo`). They use the same clients,
//! jobs and store as the service; they never go through HTTP.

pub mod check;
pub mod demo;
pub mod export;
pub mod sync_groups;
