//! Command line (DESIGN section 6).

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "docspace-dropbox-bridge",
    version,
    about = "Keeps Dropbox in step with an ONLYOFFICE DocSpace portal"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
}
