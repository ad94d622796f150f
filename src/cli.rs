//! Command line: `serve` (the default), `migrate`, `check`, `sync-groups`, `sync-files`, `export`,
//! `jobs`, `demo`. `--help` ends with every environment variable and its default.

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Parser, Subcommand};

/// `--folder` of `export`, checked as the API checks its `folder`; `/` becomes empty (the default
/// folder).
fn export_folder(s: &str) -> Result<String, String> {
    crate::jobs::kinds::explicit_folder(s)
        .map(|f| f.unwrap_or_default().to_string())
        .map_err(str::to_string)
}

/// `values` each once, in the order first given (`--group G --group G` is one group, as the API
/// coalesces a repeated id).
pub fn distinct(values: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values.iter().filter(|v| seen.insert(*v)).cloned().collect()
}

/// A job id as the API takes it ([`crate::store::parse_job_id`]).
fn job_id(s: &str) -> Result<i64, String> {
    crate::store::parse_job_id(s)
        .ok_or_else(|| "a job id is a positive whole number, digits only".to_string())
}

#[derive(Parser, Debug)]
#[command(
    name = "docspace-dropbox-bridge",
    version,
    about = "Keeps Dropbox in step with an ONLYOFFICE DocSpace portal",
    after_help = environment_help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service (the default). Creates the SQLite database on first start.
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Validate the configuration and call DocSpace and Dropbox once each.
    Check,
    /// One-shot reconcile of group folders, with a progress bar.
    SyncGroups(SyncGroupsArgs),
    /// One-shot export of one DocSpace file, with a progress bar.
    Export(ExportArgs),
    /// List, show and re-drive jobs in the bridge's database.
    #[command(subcommand)]
    Jobs(JobsCommand),
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
    #[arg(long = "group", value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
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
    #[arg(long = "folder", value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub folders: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// DocSpace file id.
    #[arg(value_parser = NonEmptyStringValueParser::new())]
    pub file_id: String,
    /// Dropbox folder to export into: an absolute path (default, or `/`: mirrored under
    /// EXPORT_ROOT).
    #[arg(long, value_name = "PATH", value_parser = export_folder)]
    pub folder: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List(JobsListArgs),
    /// One job with its attempt history and the deliveries that caused it.
    Show {
        /// Job id.
        #[arg(value_parser = job_id)]
        id: i64,
    },
    /// Re-drive one dead job, or every dead job (`--dead`, optionally of one kind).
    Retry(JobsRetryArgs),
}

#[derive(Args, Debug, Clone)]
pub struct JobsListArgs {
    /// Only jobs in this state: queued, running, succeeded, failed, dead.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub state: Option<String>,
    /// Only jobs of this kind, e.g. group.sync.
    #[arg(long, value_parser = NonEmptyStringValueParser::new())]
    pub kind: Option<String>,
    /// Only jobs about this DocSpace group id.
    #[arg(long = "group", value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub group_id: Option<String>,
    /// Only jobs about this DocSpace file id.
    #[arg(long = "file", value_name = "ID", value_parser = NonEmptyStringValueParser::new())]
    pub file_id: Option<String>,
    /// Only jobs created since: an RFC 3339 time or a duration back from now (15m, 2h, 7d).
    #[arg(long, value_name = "WHEN", value_parser = NonEmptyStringValueParser::new())]
    pub since: Option<String>,
    /// Most jobs listed (1-500).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only the jobs that the delivery of this DocSpace event (`event.id`) created or coalesced
    /// into, after the delivery itself (when received, trigger, request id).
    #[arg(
        long = "event-id",
        value_name = "ID",
        value_parser = NonEmptyStringValueParser::new(),
        conflicts_with_all = ["state", "kind", "group_id", "file_id", "since", "limit"]
    )]
    pub event_id: Option<String>,
}

#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "dead"])))]
pub struct JobsRetryArgs {
    /// The dead job to re-drive.
    #[arg(value_parser = job_id)]
    pub id: Option<i64>,
    /// Re-drive every dead job (of `--kind`, when given).
    #[arg(long, conflicts_with = "id")]
    pub dead: bool,
    /// With `--dead`: only jobs of this kind.
    // `requires = "dead"` alone would not refuse it beside an id: a flag's default counts as given.
    #[arg(long, requires = "dead", conflicts_with = "id", value_parser = NonEmptyStringValueParser::new())]
    pub kind: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Keep the bridge and stand-ins running after the walkthrough (Ctrl-C or SIGTERM to stop).
    #[arg(long)]
    pub keep_running: bool,
}

/// Every environment variable: name, default, meaning. `--help` prints them; a test checks the
/// list against what the configuration reads and against `.env.example`.
pub const ENVIRONMENT: &[(&str, &str, &str)] = &[
    ("BRIDGE_LISTEN", "0.0.0.0:8080", "listen address"),
    (
        "BRIDGE_METRICS_LISTEN",
        "unset",
        "serve /metrics on this address instead of BRIDGE_LISTEN",
    ),
    (
        "BRIDGE_DATABASE_URL",
        "sqlite://data/bridge.db",
        "sqlite://... or postgres://...",
    ),
    (
        "BRIDGE_API_TOKEN",
        "unset",
        "bearer token for /api/v1 (16+ characters); unset = the API answers 503",
    ),
    ("DOCSPACE_URL", "required", "portal origin"),
    ("DOCSPACE_API_KEY", "required", "sk-... API key"),
    (
        "DOCSPACE_WEBHOOK_SECRET",
        "required",
        "webhook secret key (at least 16 characters; DocSpace's default policy takes at most 30)",
    ),
    ("DROPBOX_APP_KEY", "required", "Dropbox app key"),
    (
        "DROPBOX_APP_SECRET",
        "required",
        "Dropbox app secret; also signs Dropbox webhooks",
    ),
    (
        "DROPBOX_REFRESH_TOKEN",
        "unset",
        "long-lived refresh token (this or DROPBOX_ACCESS_TOKEN)",
    ),
    (
        "DROPBOX_ACCESS_TOKEN",
        "unset",
        "fixed access token, for trials",
    ),
    (
        "DROPBOX_API_URL",
        "https://api.dropboxapi.com",
        "RPC and token host",
    ),
    (
        "DROPBOX_CONTENT_URL",
        "https://content.dropboxapi.com",
        "upload/download host",
    ),
    (
        "DROPBOX_PATH_ROOT",
        "home",
        "home, or root for the team space",
    ),
    (
        "GROUPS_ROOT",
        "/DocSpace Groups",
        "where group folders live",
    ),
    ("GROUP_MEMBER_ACCESS", "editor", "editor or viewer"),
    (
        "GROUP_INVITE_QUIET",
        "false",
        "suppress Dropbox invitation emails",
    ),
    ("ON_GROUP_DELETED", "revoke", "revoke or keep"),
    ("EXPORT_ROOT", "/DocSpace Export", "export destination"),
    (
        "EXPORT_TRIGGERS",
        "file.created,file.uploaded,file.updated",
        "file events that export",
    ),
    (
        "EXPORT_FOLDER_IDS",
        "empty (all)",
        "only export files under these folder/room ids",
    ),
    ("EXPORT_RECONCILE_INTERVAL", "1h", "periodic file reconcile"),
    (
        "RECONCILE_INTERVAL",
        "15m",
        "periodic reconcile of all groups",
    ),
    ("WORKER_CONCURRENCY", "8", "jobs run at once per process"),
    ("JOB_MAX_ATTEMPTS", "12", "then the job is dead"),
    (
        "LOG_FORMAT",
        "pretty if stderr is a terminal, else json",
        "log format",
    ),
    ("RUST_LOG", "info", "log level filter"),
    (
        "BRIDGE_WORKERS",
        "true",
        "false = web-only replica (runs no jobs)",
    ),
    (
        "BRIDGE_SCHEDULER",
        "true",
        "false = this replica enqueues no periodic jobs",
    ),
    (
        "BRIDGE_WEBHOOK_BODY_LIMIT",
        "1048576",
        "webhook body limit in bytes",
    ),
    ("BRIDGE_LEASE", "60s", "lease of a claimed job"),
    (
        "BRIDGE_POLL_INTERVAL",
        "500ms",
        "how often idle workers look for due jobs",
    ),
    ("BRIDGE_BACKOFF_BASE", "2s", "first retry delay"),
    ("BRIDGE_BACKOFF_MAX", "1h", "longest retry delay"),
    (
        "BRIDGE_SHUTDOWN_GRACE",
        "25s",
        "time running jobs get after SIGTERM",
    ),
    (
        "BRIDGE_JOB_RETENTION",
        "7d",
        "how long succeeded jobs are kept (dead ones: 30 days or this)",
    ),
    (
        "BRIDGE_HEADER_READ_TIMEOUT",
        "10s",
        "time a client has to send a complete request head",
    ),
    (
        "BRIDGE_IDLE_TIMEOUT",
        "60s",
        "a connection without traffic this long is closed; longer than BRIDGE_REQUEST_TIMEOUT",
    ),
    (
        "BRIDGE_REQUEST_TIMEOUT",
        "30s",
        "a request not answered within this time gets 408",
    ),
    ("BRIDGE_MAX_CONNECTIONS", "1024", "open connections at most"),
    (
        "BRIDGE_MAX_REQUESTS",
        "256",
        "requests handled at once; beyond that 503 (probes and /metrics exempt)",
    ),
    (
        "BRIDGE_DELIVERY_RETENTION",
        "7d",
        "how long webhook deliveries are kept (dedupe, GET /api/v1/deliveries)",
    ),
    (
        "BRIDGE_CHANGES_POLL_INTERVAL",
        "15m",
        "periodic dropbox.changes poll",
    ),
    ("BRIDGE_HTTP_TIMEOUT", "60s", "timeout of one outgoing call"),
    (
        "BRIDGE_REFUSAL_RETRY",
        "24h",
        "how long a member Dropbox refused is left out",
    ),
    (
        "BRIDGE_EXPORT_PARALLEL",
        "4",
        "upload appends in flight per large export",
    ),
];

/// The `--help` section listing [`ENVIRONMENT`].
pub fn environment_help() -> String {
    let width = ENVIRONMENT
        .iter()
        .map(|(n, _, _)| n.len())
        .max()
        .unwrap_or(0);
    let mut out =
        String::from("Environment (also read from ./.env; real environment variables win):\n");
    for (name, default, meaning) in ENVIRONMENT {
        out.push_str(&format!(
            "  {name:<width$}  {meaning} [default: {default}]\n"
        ));
    }
    let files: Vec<String> = crate::config::FILE_VARIABLES
        .iter()
        .map(|n| format!("{n}_FILE"))
        .collect();
    out.push_str(
        "\nSecrets can be read from a file instead (one line break at its end is dropped); \
         set the path in\n",
    );
    out.push_str(&format!("  {}\n", files.join(", ")));
    out
}
