//! Typed configuration: loaded once at startup from the environment (and an optional `.env`),
//! validated as a whole, then passed down in sections (`docspace`, `dropbox`, `groups`, `export`,
//! `queue`, `http`), each to the part of the bridge that owns it. Nothing else in the crate reads
//! environment variables.
//!
//! Validation collects every problem instead of stopping at the first, so an operator fixes a
//! broken deployment in one round. Secrets are held in [`Secret`], whose `Debug` never prints them.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

/// A secret string. `Debug` and `Display` print `***` so it cannot leak through logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRoot {
    Home,
    Root,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAccess {
    Editor,
    Viewer,
}

impl MemberAccess {
    pub fn as_dropbox_tag(self) -> &'static str {
        match self {
            MemberAccess::Editor => "editor",
            MemberAccess::Viewer => "viewer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnGroupDeleted {
    Revoke,
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// How the bridge authenticates to Dropbox.
#[derive(Debug, Clone)]
pub enum DropboxAuth {
    /// Long-lived refresh token; short-lived access tokens are fetched and refreshed by the client.
    Refresh(Secret),
    /// A fixed access token (trials); never refreshed.
    Static(Secret),
}

/// The whole configuration: a few top-level items plus one section per owner. Each section goes
/// only to the part of the bridge that uses it (the DocSpace client gets [`DocSpaceConfig`], the
/// worker runtime [`QueueConfig`], ...); only the service wiring sees all of it.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BRIDGE_LISTEN`.
    pub listen: SocketAddr,
    /// `BRIDGE_METRICS_LISTEN`: `/metrics` on a listener of its own (and no longer on
    /// `listen`); `None` serves it on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `BRIDGE_DATABASE_URL`.
    pub database_url: String,
    /// `BRIDGE_API_TOKEN`; `None` leaves the operator API answering 503.
    pub api_token: Option<Secret>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    pub docspace: DocSpaceConfig,
    pub dropbox: DropboxConfig,
    pub groups: GroupsConfig,
    pub export: ExportConfig,
    pub queue: QueueConfig,
    pub http: HttpConfig,
}

/// How the DocSpace client reaches and authenticates to the portal.
#[derive(Debug, Clone)]
pub struct DocSpaceConfig {
    /// `DOCSPACE_URL`: the portal origin.
    pub url: Url,
    /// `DOCSPACE_API_KEY`.
    pub api_key: Secret,
    /// `BRIDGE_HTTP_TIMEOUT`: timeout of one outgoing call (downloads: per chunk).
    pub http_timeout: Duration,
}

impl DocSpaceConfig {
    /// Origin (`scheme://host[:port]`) of the portal, used to decide where the API key may be sent.
    pub fn origin(&self) -> url::Origin {
        self.url.origin()
    }
}

/// How the Dropbox client reaches and authenticates to Dropbox.
#[derive(Debug, Clone)]
pub struct DropboxConfig {
    /// `DROPBOX_APP_KEY`.
    pub app_key: String,
    /// `DROPBOX_APP_SECRET` (used for token refresh).
    pub app_secret: Secret,
    /// `DROPBOX_REFRESH_TOKEN` or `DROPBOX_ACCESS_TOKEN`.
    pub auth: DropboxAuth,
    /// `DROPBOX_API_URL`: RPC host; also serves `/oauth2/token`.
    pub api_url: Url,
    /// `DROPBOX_CONTENT_URL`: upload/download host.
    pub content_url: Url,
    /// `DROPBOX_PATH_ROOT`.
    pub path_root: PathRoot,
    /// `BRIDGE_HTTP_TIMEOUT`: timeout of one outgoing call (uploads: per request).
    pub http_timeout: Duration,
}

/// What the group-folder jobs need.
#[derive(Debug, Clone)]
pub struct GroupsConfig {
    /// `GROUPS_ROOT`: where group folders live (absolute, no trailing slash).
    pub root: String,
    /// `GROUP_MEMBER_ACCESS`.
    pub member_access: MemberAccess,
    /// `GROUP_INVITE_QUIET`.
    pub invite_quiet: bool,
    /// `ON_GROUP_DELETED`.
    pub on_deleted: OnGroupDeleted,
    /// `RECONCILE_INTERVAL`: periodic reconcile of all groups.
    pub reconcile_interval: Duration,
    /// `BRIDGE_REFUSAL_RETRY`: how long a member Dropbox refused for good is left out before
    /// being invited again (0 = ask on every reconcile).
    pub refusal_retry: Duration,
}

/// What the file-export jobs need.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// `EXPORT_ROOT`: export destination (absolute, no trailing slash).
    pub root: String,
    /// `EXPORT_TRIGGERS`: which DocSpace file events export.
    pub triggers: Vec<String>,
    /// `EXPORT_FOLDER_IDS`: only files under these folders/rooms (empty = all).
    pub folder_ids: Vec<String>,
    /// `EXPORT_RECONCILE_INTERVAL`: periodic file reconcile.
    pub reconcile_interval: Duration,
    /// `BRIDGE_EXPORT_PARALLEL`: upload-session appends in flight at once for one export of
    /// several chunks (4 MiB each; memory grows by a chunk per append).
    pub parallel: usize,
}

/// The worker runtime and the scheduler of periodic jobs.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `WORKER_CONCURRENCY`: jobs run at once per process.
    pub concurrency: usize,
    /// `JOB_MAX_ATTEMPTS`: then the job is `dead`.
    pub max_attempts: u32,
    /// `BRIDGE_LEASE`: how long a claimed job is leased before another worker may take it.
    pub lease: Duration,
    /// `BRIDGE_POLL_INTERVAL`: how often workers look for due jobs when idle.
    pub poll_interval: Duration,
    /// `BRIDGE_BACKOFF_BASE`: first retry delay; doubles per attempt, capped at `backoff_max`,
    /// with jitter.
    pub backoff_base: Duration,
    /// `BRIDGE_BACKOFF_MAX`.
    pub backoff_max: Duration,
    /// `BRIDGE_SHUTDOWN_GRACE`: how long running jobs may take to finish after SIGTERM before
    /// they are released.
    pub shutdown_grace: Duration,
    /// `BRIDGE_CHANGES_POLL_INTERVAL`: periodic `dropbox.changes` poll (covers notifications
    /// that never arrive).
    pub changes_poll_interval: Duration,
    /// `BRIDGE_WORKERS`: `false` runs a web-only replica (it accepts webhooks and API calls,
    /// other replicas work).
    pub run_workers: bool,
    /// `BRIDGE_SCHEDULER`: `false` stops this replica from enqueueing the periodic jobs.
    pub run_scheduler: bool,
    /// `BRIDGE_JOB_RETENTION`: how long succeeded jobs are kept after they finished (dead jobs:
    /// this or 30 days, whichever is longer).
    pub job_retention: Duration,
}

/// What the HTTP edge needs to accept webhooks.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `BRIDGE_WEBHOOK_BODY_LIMIT`: webhook body limit in bytes.
    pub webhook_body_limit: usize,
    /// `DOCSPACE_WEBHOOK_SECRET`: key of `x-docspace-signature-256`.
    pub docspace_webhook_secret: Secret,
    /// `DROPBOX_APP_SECRET`: key of `X-Dropbox-Signature`.
    pub dropbox_app_secret: Secret,
    /// `BRIDGE_DELIVERY_RETENTION`: how long DocSpace deliveries are remembered for dedupe.
    pub delivery_retention: Duration,
    /// `BRIDGE_HEADER_READ_TIMEOUT`: time a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// `BRIDGE_IDLE_TIMEOUT`: a connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// `BRIDGE_REQUEST_TIMEOUT`: a request not answered within this time (its body still
    /// arriving, or the database not committing) is answered 408.
    pub request_timeout: Duration,
    /// `BRIDGE_MAX_CONNECTIONS`: open connections at most; beyond that new ones wait to be accepted.
    pub max_connections: usize,
    /// `BRIDGE_MAX_REQUESTS`: requests handled at once; beyond that requests get a fast 503.
    pub max_requests: usize,
}

/// Every problem found while loading, one per line when displayed.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "config error: {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const TEN_MS: Duration = Duration::from_millis(10);
const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Secrets that may also be given as the contents of a file named by `<NAME>_FILE`.
pub const FILE_VARIABLES: [&str; 8] = [
    "BRIDGE_DATABASE_URL",
    "BRIDGE_API_TOKEN",
    "DOCSPACE_API_KEY",
    "DOCSPACE_WEBHOOK_SECRET",
    "DROPBOX_APP_KEY",
    "DROPBOX_APP_SECRET",
    "DROPBOX_REFRESH_TOKEN",
    "DROPBOX_ACCESS_TOKEN",
];

/// The query parameters sqlx's PostgreSQL driver takes (`PgConnectOptions`'s URL parser), each
/// with the setting it names (several names set one), besides `options` and `options[NAME]`.
/// It ignores any other with a warning that logs the value (a misspelt `sslmode` would not
/// require TLS, a `Password=` would be logged), and of one setting given twice it takes the last.
const POSTGRES_PARAMETERS: [(&str, &str); 17] = [
    ("sslmode", "sslmode"),
    ("ssl-mode", "sslmode"),
    ("sslrootcert", "sslrootcert"),
    ("ssl-root-cert", "sslrootcert"),
    ("ssl-ca", "sslrootcert"),
    ("sslcert", "sslcert"),
    ("ssl-cert", "sslcert"),
    ("sslkey", "sslkey"),
    ("ssl-key", "sslkey"),
    ("statement-cache-capacity", "statement-cache-capacity"),
    ("host", "host"),
    ("hostaddr", "host"),
    ("port", "port"),
    ("dbname", "dbname"),
    ("user", "user"),
    ("password", "password"),
    ("application_name", "application_name"),
];

/// Refuses a PostgreSQL URL query parameter the driver does not take, and a setting given twice,
/// as two parameters or as a parameter and a part of the URL (`…:5432/bridge?port=1`): the
/// driver would take the last without a word. The URL is a secret: a parameter the driver does
/// not take is named only when it is a near miss of one it does (`sslmod`, `Password`); anything
/// else may be the tail of a password split at an unescaped `&`, and is not shown. A URL that
/// does not parse is left to the driver, whose error the bridge shows without the URL.
fn postgres_parameters(url: &str) -> Result<(), String> {
    let Ok(u) = url::Url::parse(url) else {
        return Ok(());
    };
    // The settings the URL itself gives.
    let mut given: Vec<&str> = [
        ("host", u.host_str().is_some_and(|h| !h.is_empty())),
        ("port", u.port().is_some()),
        ("user", !u.username().is_empty()),
        ("password", u.password().is_some()),
        ("dbname", u.path().len() > 1),
    ]
    .into_iter()
    .filter_map(|(setting, set)| set.then_some(setting))
    .collect();
    for (key, value) in u.query_pairs() {
        // `options` and `options[NAME]` add up; `host=/path` is a Unix socket, which the driver
        // takes over the URL's host.
        let adds_up = key == "options" || (key.starts_with("options[") && key.ends_with(']'));
        if adds_up || (key == "host" && value.starts_with('/')) {
            continue;
        }
        if let Some((_, setting)) = POSTGRES_PARAMETERS.iter().find(|(name, _)| *name == key) {
            if given.contains(setting) {
                return Err(format!(
                    "gives {setting} twice (the parameter `{key}`, and the URL or another \
                     parameter); give it once"
                ));
            }
            given.push(setting);
            continue;
        }
        // Named only when it is a known name written in another case or with `_` for `-`
        // (`Password`, `SSL_MODE`): a name at some edit distance from `user` or `host` may be a
        // password's tail (`&Users1`).
        let plain = |k: &str| k.to_ascii_lowercase().replace('_', "-");
        let known = POSTGRES_PARAMETERS
            .iter()
            .find(|(name, _)| plain(name) == plain(&key));
        let shown = match known {
            Some((name, _)) => format!("the parameter `{key}` (`{name}`?)"),
            None => "a parameter (not shown: it may be part of a password; write `&` in a \
                     password as %26)"
                .to_string(),
        };
        return Err(format!(
            "has {shown}, which PostgreSQL connections do not take (it would be ignored); \
             they take sslmode, sslrootcert, sslcert, sslkey, host, hostaddr, port, dbname, \
             user, password, application_name, options, options[NAME] and \
             statement-cache-capacity"
        ));
    }
    Ok(())
}

/// Why `.env` could not be read. A line that does not parse is named by its number only: it may
/// hold a secret.
fn env_file_problem(e: dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(..) => {
            // dotenvy names the text where its reading failed, not the line: the line is the
            // first whose end the file cannot be read up to (a quote it opens and never closes
            // is read on into the lines after it). Read without setting anything.
            let number = std::fs::read_to_string(".env").ok().and_then(|text| {
                let lines: Vec<&str> = text.lines().collect();
                (1..=lines.len()).find(|&n| {
                    let head = lines[..n].join("\n");
                    dotenvy::from_read_iter(head.as_bytes()).any(|entry| entry.is_err())
                })
            });
            let number = number.map(|n| format!(" line {n}")).unwrap_or_default();
            format!(
                ".env{number} cannot be read: it is not NAME=value, or opens a quote it does not \
                 close (a value with spaces goes in quotes; a comment starts with #)"
            )
        }
        dotenvy::Error::Io(e) => format!(".env cannot be read: {}", e.kind()),
        _ => ".env cannot be read".to_string(),
    }
}

/// DocSpace's webhook triggers for files (`WebhookTrigger` in its server source; `file.downloaded`
/// from 3.7.1). A name outside the list is a typo that would switch exports off for its event.
pub const FILE_TRIGGERS: [&str; 9] = [
    "file.created",
    "file.uploaded",
    "file.updated",
    "file.trashed",
    "file.deleted",
    "file.restored",
    "file.copied",
    "file.moved",
    "file.downloaded",
];

/// Shortest secret the operator chooses (`BRIDGE_API_TOKEN`, `DOCSPACE_WEBHOOK_SECRET`). DocSpace
/// checks a webhook secret against the portal's password policy, by default at most 30
/// characters, so 16 to 30 works on both sides; a longer one is not refused here, since a portal's
/// policy may allow it.
pub const MIN_OPERATOR_SECRET_LEN: usize = 16;

impl Config {
    /// Loads from the process environment, after merging the working directory's `.env` file if
    /// it has one (real environment variables win). Only that directory's: `dotenvy::dotenv`
    /// would also take one from a parent directory. A file that cannot be read is a problem like
    /// any other, not skipped: a line that is not `NAME=value` ends dotenvy's reading, so every
    /// line after it would be dropped in silence.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        let env_file = match dotenvy::from_path(".env") {
            Ok(()) => None,
            Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(env_file_problem(e)),
        };
        let config = Self::from_map(&std::env::vars().collect());
        match (env_file, config) {
            (None, config) => config,
            (Some(p), Ok(_)) => Err(ConfigErrors(vec![p])),
            (Some(p), Err(ConfigErrors(mut problems))) => {
                problems.insert(0, p);
                Err(ConfigErrors(problems))
            }
        }
    }

    /// Loads from an explicit map; used by `from_env`, by `demo`, and by tests.
    pub fn from_map(env: &HashMap<String, String>) -> Result<Self, ConfigErrors> {
        let mut l = Loader {
            env,
            problems: Vec::new(),
            read: Vec::new(),
        };
        let assembled = Self::load(&mut l);
        match assembled {
            Some(config) if l.problems.is_empty() => Ok(config),
            // Every value is Some when no problem was recorded.
            _ if l.problems.is_empty() => Err(ConfigErrors(vec![
                "internal: incomplete configuration".into(),
            ])),
            _ => Err(ConfigErrors(l.problems)),
        }
    }

    fn load(l: &mut Loader) -> Option<Self> {
        let listen = l.parse("BRIDGE_LISTEN", "0.0.0.0:8080", |s| {
            s.parse::<SocketAddr>()
                .map_err(|_| "must be host:port, e.g. 0.0.0.0:8080".to_string())
        });
        let metrics_listen = l.parse("BRIDGE_METRICS_LISTEN", "", |s| {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<SocketAddr>()
                .map(Some)
                .map_err(|_| "must be host:port, e.g. 0.0.0.0:9090".to_string())
        });
        let database_url = l.parse("BRIDGE_DATABASE_URL", "sqlite://data/bridge.db", |s| {
            if s.starts_with("sqlite:") {
                Ok(s.to_string())
            } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
                postgres_parameters(s).map(|()| s.to_string())
            } else {
                Err("must start with sqlite:// or postgres://".into())
            }
        });
        let api_token = l.operator_secret("BRIDGE_API_TOKEN", false);
        let http_timeout = l.duration("BRIDGE_HTTP_TIMEOUT", "60s", SECOND, HOUR);
        let docspace = load_docspace(l, http_timeout);
        let dropbox = load_dropbox(l, http_timeout);
        let groups = load_groups(l);
        let export = load_export(l);
        let queue = load_queue(l);
        let http = load_http(l, dropbox.as_ref().map(|d| d.app_secret.clone()));
        // Logs go to stderr: what it is connected to decides, whatever stdout is.
        let default_format = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            "pretty"
        } else {
            "json"
        };
        // Read by the logger itself; checked here so that a typo is a config error rather than
        // a silent fall back to `info`.
        let _ = l.parse("RUST_LOG", "info", |s| {
            tracing_subscriber::EnvFilter::try_new(s)
                .map(drop)
                .map_err(|e| format!("is not a log filter such as info or debug,hyper=warn: {e}"))
        });
        let log_format = l.parse("LOG_FORMAT", default_format, |s| match s {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be pretty or json".into()),
        });

        if let (Some(g), Some(e)) = (&groups, &export) {
            if folder_holds(&g.root, &e.root) || folder_holds(&e.root, &g.root) {
                l.problem(format!(
                    "EXPORT_ROOT ({}) and GROUPS_ROOT ({}) must not be one folder or one inside \
                     the other: group folders are shared with their members",
                    e.root, g.root
                ));
            }
        }
        if let (Some(main), Some(Some(metrics))) = (listen, metrics_listen) {
            if main == metrics && main.port() != 0 {
                l.problem("BRIDGE_METRICS_LISTEN must differ from BRIDGE_LISTEN");
            }
        }

        (|| {
            Some(Config {
                listen: listen?,
                metrics_listen: metrics_listen?,
                database_url: database_url?,
                api_token: api_token?,
                log_format: log_format?,
                docspace: docspace?,
                dropbox: dropbox?,
                groups: groups?,
                export: export?,
                queue: queue?,
                http: http?,
            })
        })()
    }
}

// Each loader evaluates every variable of its section before assembling it, so that one bad
// value does not hide the problems of the next.

fn load_docspace(l: &mut Loader, http_timeout: Option<Duration>) -> Option<DocSpaceConfig> {
    let url = l.provider_url("DOCSPACE_URL", None);
    let api_key = l.credential("DOCSPACE_API_KEY", true).flatten();
    if let Some(k) = &api_key {
        if !k.expose().starts_with("sk-") {
            l.problem("DOCSPACE_API_KEY must be a DocSpace API key starting with sk-");
        }
    }
    Some(DocSpaceConfig {
        url: url?,
        api_key: api_key?,
        http_timeout: http_timeout?,
    })
}

fn load_dropbox(l: &mut Loader, http_timeout: Option<Duration>) -> Option<DropboxConfig> {
    let app_key = l.credential("DROPBOX_APP_KEY", true).flatten();
    let app_secret = l.credential("DROPBOX_APP_SECRET", true).flatten();
    let refresh = l.credential("DROPBOX_REFRESH_TOKEN", false);
    let access = l.credential("DROPBOX_ACCESS_TOKEN", false);
    // `None`: the variable has a problem (already recorded); `Some(None)`: it is unset.
    let auth = match (refresh, access) {
        (None, _) | (_, None) => None,
        (Some(Some(r)), _) => Some(DropboxAuth::Refresh(r)),
        (Some(None), Some(Some(a))) => Some(DropboxAuth::Static(a)),
        (Some(None), Some(None)) => {
            l.problem("DROPBOX_REFRESH_TOKEN (or, for trials, DROPBOX_ACCESS_TOKEN) is required");
            None
        }
    };
    let api_url = l.provider_url("DROPBOX_API_URL", Some("https://api.dropboxapi.com"));
    let content_url = l.provider_url(
        "DROPBOX_CONTENT_URL",
        Some("https://content.dropboxapi.com"),
    );
    let path_root = l.parse("DROPBOX_PATH_ROOT", "home", |s| match s {
        "home" => Ok(PathRoot::Home),
        "root" => Ok(PathRoot::Root),
        _ => Err("must be home or root".into()),
    });
    Some(DropboxConfig {
        app_key: app_key?.expose().to_string(),
        app_secret: app_secret?,
        auth: auth?,
        api_url: api_url?,
        content_url: content_url?,
        path_root: path_root?,
        http_timeout: http_timeout?,
    })
}

fn load_groups(l: &mut Loader) -> Option<GroupsConfig> {
    let root = l.parse("GROUPS_ROOT", "/DocSpace Groups", dropbox_folder);
    let member_access = l.parse("GROUP_MEMBER_ACCESS", "editor", |s| match s {
        "editor" => Ok(MemberAccess::Editor),
        "viewer" => Ok(MemberAccess::Viewer),
        _ => Err("must be editor or viewer".into()),
    });
    let invite_quiet = l.parse("GROUP_INVITE_QUIET", "false", parse_bool);
    let on_deleted = l.parse("ON_GROUP_DELETED", "revoke", |s| match s {
        "revoke" => Ok(OnGroupDeleted::Revoke),
        "keep" => Ok(OnGroupDeleted::Keep),
        _ => Err("must be revoke or keep".into()),
    });
    let reconcile_interval = l.duration("RECONCILE_INTERVAL", "15m", SECOND, YEAR);
    let refusal_retry = l.duration("BRIDGE_REFUSAL_RETRY", "24h", Duration::ZERO, YEAR);
    Some(GroupsConfig {
        root: root?,
        member_access: member_access?,
        invite_quiet: invite_quiet?,
        on_deleted: on_deleted?,
        reconcile_interval: reconcile_interval?,
        refusal_retry: refusal_retry?,
    })
}

fn load_export(l: &mut Loader) -> Option<ExportConfig> {
    let root = l.parse("EXPORT_ROOT", "/DocSpace Export", dropbox_folder);
    let triggers = l.parse(
        "EXPORT_TRIGGERS",
        "file.created,file.uploaded,file.updated",
        |s| {
            let list = split_list(s);
            for t in &list {
                if !FILE_TRIGGERS.contains(&t.as_str()) {
                    return Err(format!(
                        "{t} is not a DocSpace file trigger ({})",
                        FILE_TRIGGERS.join(", ")
                    ));
                }
            }
            Ok(list)
        },
    );
    let folder_ids = l.parse("EXPORT_FOLDER_IDS", "", |s| Ok(split_list(s)));
    let reconcile_interval = l.duration("EXPORT_RECONCILE_INTERVAL", "1h", SECOND, YEAR);
    let parallel = l.parse("BRIDGE_EXPORT_PARALLEL", "4", |s| {
        match s.parse::<usize>() {
            Ok(n) if (1..=8).contains(&n) => Ok(n),
            _ => Err("must be a whole number from 1 to 8".into()),
        }
    });
    Some(ExportConfig {
        root: root?,
        triggers: triggers?,
        folder_ids: folder_ids?,
        reconcile_interval: reconcile_interval?,
        parallel: parallel?,
    })
}

fn load_queue(l: &mut Loader) -> Option<QueueConfig> {
    let concurrency = l.parse("WORKER_CONCURRENCY", "8", |s| match s.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 1 to 256".into()),
    });
    let max_attempts = l.parse("JOB_MAX_ATTEMPTS", "12", |s| match s.parse::<u32>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 1 to 1000".into()),
    });
    let lease = l.duration("BRIDGE_LEASE", "60s", SECOND, DAY);
    let poll_interval = l.duration("BRIDGE_POLL_INTERVAL", "500ms", TEN_MS, HOUR);
    let backoff_base = l.duration("BRIDGE_BACKOFF_BASE", "2s", TEN_MS, HOUR);
    let backoff_max = l.duration("BRIDGE_BACKOFF_MAX", "1h", TEN_MS, 7 * DAY);
    if let (Some(base), Some(max)) = (backoff_base, backoff_max) {
        if max < base {
            l.problem("BRIDGE_BACKOFF_MAX must not be shorter than BRIDGE_BACKOFF_BASE");
        }
    }
    let shutdown_grace = l.duration("BRIDGE_SHUTDOWN_GRACE", "25s", Duration::ZERO, HOUR);
    let changes_poll_interval = l.duration("BRIDGE_CHANGES_POLL_INTERVAL", "15m", SECOND, YEAR);
    let run_workers = l.parse("BRIDGE_WORKERS", "true", parse_bool);
    let run_scheduler = l.parse("BRIDGE_SCHEDULER", "true", parse_bool);
    let job_retention = l.duration("BRIDGE_JOB_RETENTION", "7d", HOUR, YEAR);
    Some(QueueConfig {
        concurrency: concurrency?,
        max_attempts: max_attempts?,
        lease: lease?,
        poll_interval: poll_interval?,
        backoff_base: backoff_base?,
        backoff_max: backoff_max?,
        shutdown_grace: shutdown_grace?,
        changes_poll_interval: changes_poll_interval?,
        run_workers: run_workers?,
        run_scheduler: run_scheduler?,
        job_retention: job_retention?,
    })
}

fn load_http(l: &mut Loader, dropbox_app_secret: Option<Secret>) -> Option<HttpConfig> {
    let webhook_body_limit = l.parse("BRIDGE_WEBHOOK_BODY_LIMIT", "1048576", |s| {
        match s.parse::<usize>() {
            Ok(n) if (1024..=64 * 1024 * 1024).contains(&n) => Ok(n),
            _ => Err("must be a number of bytes from 1024 to 67108864 (64 MiB)".into()),
        }
    });
    let docspace_webhook_secret = l.operator_secret("DOCSPACE_WEBHOOK_SECRET", true).flatten();
    // DocSpace retries a delivery for about 31 s; dedupe must remember it well beyond that.
    let delivery_retention = l.duration("BRIDGE_DELIVERY_RETENTION", "7d", HOUR, YEAR);
    let header_read_timeout = l.duration(
        "BRIDGE_HEADER_READ_TIMEOUT",
        "10s",
        Duration::from_millis(100),
        HOUR,
    );
    let idle_timeout = l.duration(
        "BRIDGE_IDLE_TIMEOUT",
        "60s",
        Duration::from_millis(100),
        DAY,
    );
    let request_timeout = l.duration(
        "BRIDGE_REQUEST_TIMEOUT",
        "30s",
        Duration::from_millis(100),
        HOUR,
    );
    let max_connections = l.parse("BRIDGE_MAX_CONNECTIONS", "1024", |s| {
        match s.parse::<usize>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
            _ => Err("must be a number from 1 to 1000000".into()),
        }
    });
    let max_requests = l.parse("BRIDGE_MAX_REQUESTS", "256", |s| match s.parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err("must be a number from 1 to 1000000".into()),
    });
    // Nothing is sent on a connection while its request is being handled, so an idle timeout
    // that could run out first would close the connection under a request still being answered.
    if let (Some(idle), Some(request)) = (idle_timeout, request_timeout) {
        if idle <= request {
            l.problem(format!(
                "BRIDGE_IDLE_TIMEOUT ({}) must be longer than BRIDGE_REQUEST_TIMEOUT ({}): a \
                 connection is silent while its request is handled",
                humantime::format_duration(idle),
                humantime::format_duration(request)
            ));
        }
    }
    Some(HttpConfig {
        header_read_timeout: header_read_timeout?,
        idle_timeout: idle_timeout?,
        request_timeout: request_timeout?,
        max_connections: max_connections?,
        max_requests: max_requests?,
        webhook_body_limit: webhook_body_limit?,
        docspace_webhook_secret: docspace_webhook_secret?,
        dropbox_app_secret: dropbox_app_secret?,
        delivery_retention: delivery_retention?,
    })
}

struct Loader<'a> {
    env: &'a HashMap<String, String>,
    problems: Vec<String>,
    /// Every variable read, with the default it falls back to ("" for none), in order.
    read: Vec<(String, String)>,
}

/// Every variable the configuration reads, with its default ("" when it has none), in the
/// order they are read. `LOG_FORMAT`'s default depends on whether stderr is a terminal.
pub fn variables() -> Vec<(String, String)> {
    let env = HashMap::new();
    let mut l = Loader {
        env: &env,
        problems: Vec::new(),
        read: Vec::new(),
    };
    Config::load(&mut l);
    l.read
}

/// One variable as found in the environment.
enum Raw {
    Unset,
    Set(String),
    /// Has a problem, already recorded.
    Bad,
}

impl Loader<'_> {
    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    /// The value of `name`; empty counts as unset. Whitespace around a value is refused rather
    /// than trimmed: a secret pasted with a trailing newline would otherwise fail signatures or
    /// logins without a word, and a path would silently differ from what was typed.
    fn raw(&mut self, name: &str) -> Raw {
        if !self.read.iter().any(|(n, _)| n == name) {
            self.read.push((name.to_string(), String::new()));
        }
        let from_file = self.read_secret_file(name);
        let value = match (self.env.get(name).filter(|v| !v.is_empty()), from_file) {
            (Some(_), Some(_)) => {
                self.problem(format!("set {name} or {name}_FILE, not both"));
                return Raw::Bad;
            }
            (None, Some(Err(()))) => return Raw::Bad,
            (None, Some(Ok(v))) => Some(v),
            (v, None) => v.cloned(),
        };
        match value.as_ref() {
            None => Raw::Unset,
            Some(v) if v.is_empty() => Raw::Unset,
            Some(v) if v.trim() != v => {
                self.problem(format!(
                    "{name} has whitespace around its value; remove it (values are not trimmed)"
                ));
                Raw::Bad
            }
            // A file of two lines (a key and a note, two keys pasted): sent in a header, such a
            // secret would fail every call with an obscure error.
            Some(v) if FILE_VARIABLES.contains(&name) && v.contains(['\n', '\r']) => {
                self.problem(format!(
                    "{name} holds a line break; a secret is one line (check the file {name}_FILE names, if set)"
                ));
                Raw::Bad
            }
            // Every secret (the variables that can come from a file, the database URL with its
            // password among them): an example's placeholder is refused rather than tried
            // against a provider or a server. The message never repeats the value.
            Some(v) if FILE_VARIABLES.contains(&name) && is_placeholder(v) => {
                self.problem(format!(
                    "{name} is still a placeholder (as in the examples); set the real value"
                ));
                Raw::Bad
            }
            Some(v) => Raw::Set(v.clone()),
        }
    }

    /// The value of a secret from the file `NAME_FILE` names (the Docker and Kubernetes way of
    /// passing secrets): `None` when `NAME_FILE` is unset or not a secret's, `Some(Err)` when
    /// the file cannot be read (recorded). One line break at the end of the file is not part of
    /// the value.
    fn read_secret_file(&mut self, name: &str) -> Option<Result<String, ()>> {
        if !FILE_VARIABLES.contains(&name) {
            return None;
        }
        let file_var = format!("{name}_FILE");
        let path = self.env.get(&file_var).filter(|p| !p.is_empty())?.clone();
        match std::fs::read_to_string(&path) {
            Ok(v) => {
                let v = v.strip_suffix('\n').unwrap_or(&v);
                let v = v.strip_suffix('\r').unwrap_or(v);
                Some(Ok(v.to_string()))
            }
            Err(e) => {
                self.problem(format!("{file_var}: cannot read {path}: {}", e.kind()));
                Some(Err(()))
            }
        }
    }

    /// A secret as issued by a provider (API key, app key and secret, tokens): taken as it is,
    /// whatever its length, unless it is still a placeholder ([`Loader::raw`] refuses those).
    /// `Some(None)` when unset and not required; `None` when it has a problem (already recorded).
    fn credential(&mut self, name: &str, required: bool) -> Option<Option<Secret>> {
        match self.raw(name) {
            Raw::Bad => None,
            Raw::Unset if required => {
                self.problem(format!("{name} is required"));
                None
            }
            Raw::Unset => Some(None),
            Raw::Set(v) => Some(Some(Secret::new(v))),
        }
    }

    /// A secret the operator makes up: like [`Loader::credential`], and at least
    /// [`MIN_OPERATOR_SECRET_LEN`] characters.
    fn operator_secret(&mut self, name: &str, required: bool) -> Option<Option<Secret>> {
        let secret = self.credential(name, required)?;
        match secret {
            Some(s) if s.expose().chars().count() < MIN_OPERATOR_SECRET_LEN => {
                self.problem(format!(
                    "{name} must be at least {MIN_OPERATOR_SECRET_LEN} characters (a long random string)"
                ));
                None
            }
            s => Some(s),
        }
    }

    /// Parses `name` (or `default` when unset). The error names the variable but, since the
    /// parsers only see non-secret settings, may describe the expected form.
    fn parse<T>(
        &mut self,
        name: &str,
        default: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(name);
        if let Some(entry) = self.read.iter_mut().find(|(n, _)| n == name) {
            entry.1 = default.to_string();
        }
        let raw = match raw {
            Raw::Bad => return None,
            Raw::Unset => default.to_string(),
            Raw::Set(v) => v,
        };
        match f(&raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(format!("{name}: {e}"));
                None
            }
        }
    }

    /// A duration from `min` to `max` inclusive (zero or absurd values would stall or spin the
    /// loops they drive).
    fn duration(
        &mut self,
        name: &str,
        default: &str,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        self.parse(name, default, |s| {
            let d = parse_duration(s)?;
            if d < min || d > max {
                return Err(format!("must be from {} to {}", short(min), short(max)));
            }
            Ok(d)
        })
    }

    /// A provider origin: required when there is no default.
    fn provider_url(&mut self, name: &str, default: Option<&str>) -> Option<Url> {
        match default {
            Some(d) => self.parse(name, d, check_url),
            None => match self.raw(name) {
                Raw::Bad => None,
                Raw::Unset => {
                    self.problem(format!("{name} is required"));
                    None
                }
                Raw::Set(v) => self.parse(name, &v, check_url),
            },
        }
    }
}

/// A bound in the largest unit that states it exactly: `10ms`, `1s`, `1h`, `365d`.
fn short(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Placeholders as written in `.env.example` and in most setup guides: `...`, `<your key>`,
/// `change-me...`.
fn is_placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    v.contains("...")
        || v.contains('…')
        || (v.starts_with('<') && v.ends_with('>'))
        || ["change-me", "changeme", "change_me"]
            .iter()
            .any(|p| lower.contains(p))
}

/// An origin of a provider: `https` (plain `http` only on a loopback host, where nothing crosses
/// a network), no path, and no `user:pass@` (the bridge authenticates with its own credentials,
/// and a password in a URL ends up in logs). Messages never repeat the URL.
fn check_url(raw: &str) -> Result<Url, String> {
    let u = Url::parse(raw).map_err(|_| "must be an absolute https URL".to_string())?;
    let Some(host) = u.host() else {
        return Err("must name a host".into());
    };
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not contain a user name or password (user:pass@)".into());
    }
    let loopback = match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(
                "must use https (plain http only on a loopback host such as 127.0.0.1)".into(),
            )
        }
        _ => return Err("must be an https URL".into()),
    }
    if (u.path() != "/" && !u.path().is_empty()) || u.query().is_some() || u.fragment().is_some() {
        return Err(
            "must be an origin without a path, query or fragment, e.g. https://example.onlyoffice.com"
                .into(),
        );
    }
    Ok(u)
}

fn dropbox_folder(s: &str) -> Result<String, String> {
    let s = s.trim_end_matches('/');
    if !s.starts_with('/') || s.len() < 2 {
        return Err("must be an absolute Dropbox folder path such as /DocSpace Groups".into());
    }
    if s.split('/')
        .skip(1)
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("must not contain empty, . or .. components".into());
    }
    if s.ends_with(' ') || s.ends_with('.') {
        return Err("must not end with a space or a dot".into());
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters (a line break, a tab)".into());
    }
    Ok(s.to_string())
}

/// `outer` is `inner` or one of its ancestors, as Dropbox compares paths (ignoring case).
fn folder_holds(outer: &str, inner: &str) -> bool {
    let (outer, inner) = (outer.to_lowercase(), inner.to_lowercase());
    inner == outer || inner.starts_with(&format!("{outer}/"))
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

/// Durations like `15m`, `30s`, `1h 30m`, `250ms` (humantime's units, `15min` and `2days` too),
/// but not in months or years: humantime reads `M` as months and `y` as years, of a length no
/// calendar agrees with, and `10M` meant as minutes would be ten months.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const CALENDAR: [&str; 8] = ["M", "month", "months", "y", "yr", "yrs", "year", "years"];
    let calendar = s
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|u| CALENDAR.contains(&u));
    if calendar {
        return Err(
            "must be a duration such as 30s, 15m or 1h, not in months or years (M is months)"
                .into(),
        );
    }
    humantime::parse_duration(s).map_err(|_| "must be a duration such as 30s, 15m or 1h".into())
}

/// A point in time as operators write it: RFC 3339 (`2026-05-20T10:15:30Z`) or a duration back
/// from `now` (`15m`, `2h`, `7d`).
pub fn parse_when(
    s: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let back = parse_duration(s)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .ok_or_else(|| {
            "must be an RFC 3339 time (2026-05-20T10:15:30Z) or a duration back from now (15m, 2h, 7d)"
                .to_string()
        })?;
    now.checked_sub_signed(back)
        .ok_or_else(|| "reaches back too far".to_string())
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        [
            ("DOCSPACE_URL", "https://portal.example.com"),
            ("DOCSPACE_API_KEY", "sk-abc"),
            ("DOCSPACE_WEBHOOK_SECRET", "whsecret-0123456789"),
            ("DROPBOX_APP_KEY", "key"),
            ("DROPBOX_APP_SECRET", "secret"),
            ("DROPBOX_REFRESH_TOKEN", "rt"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn defaults_apply() {
        let c = Config::from_map(&base()).expect("valid");
        assert_eq!(c.groups.root, "/DocSpace Groups");
        assert_eq!(c.groups.reconcile_interval, Duration::from_secs(900));
        assert_eq!(c.queue.concurrency, 8);
        assert_eq!(c.queue.max_attempts, 12);
        assert_eq!(c.export.triggers.len(), 3);
        assert_eq!(c.export.parallel, 4);
        assert_eq!(c.export.reconcile_interval, Duration::from_secs(3600));
        assert_eq!(c.queue.job_retention, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn job_retention_has_a_range() {
        for (value, ok) in [("30m", false), ("1h", true), ("90d", true), ("366d", false)] {
            let mut env = base();
            env.insert("BRIDGE_JOB_RETENTION".into(), value.into());
            match Config::from_map(&env) {
                Ok(c) => {
                    assert!(ok, "{value} accepted");
                    assert_eq!(Ok(c.queue.job_retention), parse_duration(value));
                }
                Err(e) => {
                    assert!(!ok, "{value} refused: {e}");
                    assert!(
                        e.to_string()
                            .contains("BRIDGE_JOB_RETENTION: must be from 1h to 365d"),
                        "{e}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_problem_is_reported_and_no_secret_echoed() {
        let mut env = base();
        env.remove("DOCSPACE_URL");
        env.insert("DOCSPACE_API_KEY".into(), "not-a-key-SECRETVALUE".into());
        env.insert("WORKER_CONCURRENCY".into(), "zero".into());
        env.insert("BRIDGE_EXPORT_PARALLEL".into(), "9".into());
        let err = Config::from_map(&env).unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
        assert!(err.to_string().contains("BRIDGE_EXPORT_PARALLEL"), "{err}");
        assert!(!err.to_string().contains("SECRETVALUE"));
    }

    #[test]
    fn secret_debug_is_masked() {
        let c = Config::from_map(&base()).expect("valid");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("whsecret"));
        assert!(!dbg.contains("sk-abc"));
    }

    #[test]
    fn zero_is_a_choice_only_where_it_means_something() {
        let mut env = base();
        env.insert("BRIDGE_REFUSAL_RETRY".into(), "0s".into());
        env.insert("BRIDGE_SHUTDOWN_GRACE".into(), "0s".into());
        let c = Config::from_map(&env).expect("valid");
        assert_eq!(c.groups.refusal_retry, Duration::ZERO);
        assert_eq!(c.queue.shutdown_grace, Duration::ZERO);

        env.insert("BRIDGE_BACKOFF_BASE".into(), "10m".into());
        env.insert("BRIDGE_BACKOFF_MAX".into(), "1m".into());
        let err = Config::from_map(&env).unwrap_err();
        assert_eq!(
            err.0,
            vec!["BRIDGE_BACKOFF_MAX must not be shorter than BRIDGE_BACKOFF_BASE".to_string()]
        );
    }

    #[test]
    fn the_dropbox_app_secret_also_keys_dropbox_webhooks() {
        let c = Config::from_map(&base()).expect("valid");
        assert_eq!(c.http.dropbox_app_secret, c.dropbox.app_secret);
        assert_eq!(
            c.http.docspace_webhook_secret.expose(),
            "whsecret-0123456789"
        );
    }
}
