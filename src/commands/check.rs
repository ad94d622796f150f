//! `check` subcommand.

use std::process::ExitCode;

pub async fn run(_config: crate::config::Config) -> ExitCode {
    eprintln!("error: this command is not available in this build");
    ExitCode::FAILURE
}
