//! Command line: `serve` (the default), `migrate`, `check`, `sync-groups`, `sync-files`, `export`,
//! `demo`.

use clap::{Args, Parser, Subcommand};

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
    /// Validate the configuration and call DocSpace and Dropbox once each.
    Check,
    /// One-shot reconcile of group folders, with a progress bar.
    SyncGroups(SyncGroupsArgs),
    /// One-shot export of one DocSpace file, with a progress bar.
    Export(ExportArgs),
    /// One-shot file reconcile: export every file in scope whose current version is not in
    /// Dropbox yet, with a progress bar.
    SyncFiles(SyncFilesArgs),
    /// Run the bridge against built-in DocSpace and Dropbox stand-ins and show what it does.
    // Without the `demo` feature the stand-ins are not in the binary: the command is hidden and
    // only says so.
    #[cfg_attr(not(feature = "demo"), command(hide = true))]
    Demo(DemoArgs),
}

#[derive(Args, Debug, Clone)]
pub struct SyncGroupsArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this DocSpace group id (repeatable).
    #[arg(long = "group", value_name = "ID")]
    pub groups: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SyncFilesArgs {
    /// Print what would be exported and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take files of any age, not only those changed since the bridge started exporting.
    #[arg(long)]
    pub backfill: bool,
    /// Only this DocSpace folder or room id and what is below it (repeatable; default:
    /// EXPORT_FOLDER_IDS, or every room).
    #[arg(long = "folder", value_name = "ID")]
    pub folders: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// DocSpace file id.
    pub file_id: String,
    /// Dropbox folder to export into (default: mirrored under EXPORT_ROOT).
    #[arg(long, value_name = "PATH")]
    pub folder: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Keep the bridge and stand-ins running after the walkthrough (Ctrl-C to stop).
    #[arg(long)]
    pub keep_running: bool,
}
