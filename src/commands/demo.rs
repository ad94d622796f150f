//! `demo` subcommand.

use std::process::ExitCode;

pub async fn run(_args: crate::cli::DemoArgs) -> ExitCode {
    eprintln!("error: this command is not available in this build");
    ExitCode::FAILURE
}
