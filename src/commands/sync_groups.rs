//! `sync-groups` subcommand.

use std::process::ExitCode;

pub async fn run(_config: crate::config::Config, _args: crate::cli::SyncGroupsArgs) -> ExitCode {
    eprintln!("error: this command is not available in this build");
    ExitCode::FAILURE
}
