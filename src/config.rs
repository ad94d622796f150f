//! Typed configuration: loaded once at startup from the environment (and an optional `.env`),
//! validated as a whole, then passed down. Nothing else in the crate reads environment variables.
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

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub api_token: Option<Secret>,
    pub docspace_url: Url,
    pub docspace_api_key: Secret,
    pub docspace_webhook_secret: Secret,
    pub dropbox_app_key: String,
    pub dropbox_app_secret: Secret,
    pub dropbox_auth: DropboxAuth,
    pub dropbox_api_url: Url,
    pub dropbox_content_url: Url,
    pub dropbox_path_root: PathRoot,
    pub groups_root: String,
    pub group_member_access: MemberAccess,
    pub group_invite_quiet: bool,
    pub on_group_deleted: OnGroupDeleted,
    pub export_root: String,
    pub export_triggers: Vec<String>,
    pub export_folder_ids: Vec<String>,
    pub reconcile_interval: Duration,
    pub worker_concurrency: usize,
    pub job_max_attempts: u32,
    pub log_format: LogFormat,
    /// Not part of the public contract: knobs with sane defaults that tests and benches tune.
    pub tuning: Tuning,
}

/// Internal timing knobs. Read from `BRIDGE_*` variables so tests can shorten them; the defaults
/// are what production wants.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How long a claimed job is leased before another worker may take it.
    pub lease: Duration,
    /// How often workers look for due jobs when idle.
    pub poll_interval: Duration,
    /// First retry delay; doubles per attempt, capped at `backoff_max`, with jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long running jobs may take to finish after SIGTERM before they are released.
    pub shutdown_grace: Duration,
    /// Webhook body limit in bytes.
    pub webhook_body_limit: usize,
    /// How long DocSpace deliveries are remembered for dedupe.
    pub delivery_retention: Duration,
    /// Periodic `dropbox.changes` poll (covers notifications that never arrive).
    pub changes_poll_interval: Duration,
    /// Timeout for one outgoing HTTP call (downloads/uploads use it per chunk).
    pub http_timeout: Duration,
    /// How long a member Dropbox refused for good is left out before being invited again.
    pub refusal_retry: Duration,
    /// Upload-session appends in flight at once for one export of several chunks (4 MiB each;
    /// memory grows by a chunk per append).
    pub export_parallel: usize,
    /// `false` runs a web-only replica: it accepts webhooks and API calls, other replicas work.
    pub run_workers: bool,
    /// `false` stops this replica from enqueueing the periodic jobs (another replica does).
    pub run_scheduler: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(25),
            webhook_body_limit: 1024 * 1024,
            delivery_retention: Duration::from_secs(7 * 24 * 3600),
            changes_poll_interval: Duration::from_secs(15 * 60),
            http_timeout: Duration::from_secs(60),
            refusal_retry: Duration::from_secs(24 * 3600),
            export_parallel: 4,
            run_workers: true,
            run_scheduler: true,
        }
    }
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

impl Config {
    /// Loads from the process environment, after merging a `.env` file if one exists
    /// (real environment variables win).
    pub fn from_env() -> Result<Self, ConfigErrors> {
        let _ = dotenvy::dotenv();
        Self::from_map(&std::env::vars().collect())
    }

    /// Loads from an explicit map; used by `from_env`, by `demo`, and by tests.
    pub fn from_map(env: &HashMap<String, String>) -> Result<Self, ConfigErrors> {
        let mut l = Loader {
            env,
            problems: Vec::new(),
        };
        let listen = l.parse("BRIDGE_LISTEN", "0.0.0.0:8080", |s| {
            s.parse::<SocketAddr>()
                .map_err(|_| "must be host:port, e.g. 0.0.0.0:8080".to_string())
        });
        let database_url = l.parse("BRIDGE_DATABASE_URL", "sqlite://data/bridge.db", |s| {
            if s.starts_with("sqlite:")
                || s.starts_with("postgres://")
                || s.starts_with("postgresql://")
            {
                Ok(s.to_string())
            } else {
                Err("must start with sqlite:// or postgres://".into())
            }
        });
        let api_token = l.optional("BRIDGE_API_TOKEN").map(Secret::new);
        let docspace_url = l.required_url("DOCSPACE_URL", true);
        let docspace_api_key = l.required_secret("DOCSPACE_API_KEY");
        if let Some(k) = &docspace_api_key {
            if !k.expose().starts_with("sk-") {
                l.problems
                    .push("DOCSPACE_API_KEY must be a DocSpace API key starting with sk-".into());
            }
        }
        let docspace_webhook_secret = l.required_secret("DOCSPACE_WEBHOOK_SECRET");
        let dropbox_app_key = l.required("DROPBOX_APP_KEY");
        let dropbox_app_secret = l.required_secret("DROPBOX_APP_SECRET");
        let refresh = l.optional("DROPBOX_REFRESH_TOKEN");
        let access = l.optional("DROPBOX_ACCESS_TOKEN");
        let dropbox_auth = match (refresh, access) {
            (Some(r), _) => Some(DropboxAuth::Refresh(Secret::new(r))),
            (None, Some(a)) => Some(DropboxAuth::Static(Secret::new(a))),
            (None, None) => {
                l.problems.push(
                    "DROPBOX_REFRESH_TOKEN (or, for trials, DROPBOX_ACCESS_TOKEN) is required"
                        .into(),
                );
                None
            }
        };
        let dropbox_api_url = l.url_with_default("DROPBOX_API_URL", "https://api.dropboxapi.com");
        let dropbox_content_url =
            l.url_with_default("DROPBOX_CONTENT_URL", "https://content.dropboxapi.com");
        let dropbox_path_root = l.parse("DROPBOX_PATH_ROOT", "home", |s| match s {
            "home" => Ok(PathRoot::Home),
            "root" => Ok(PathRoot::Root),
            _ => Err("must be home or root".into()),
        });
        let groups_root = l.parse("GROUPS_ROOT", "/DocSpace Groups", dropbox_folder);
        let group_member_access = l.parse("GROUP_MEMBER_ACCESS", "editor", |s| match s {
            "editor" => Ok(MemberAccess::Editor),
            "viewer" => Ok(MemberAccess::Viewer),
            _ => Err("must be editor or viewer".into()),
        });
        let group_invite_quiet = l.parse("GROUP_INVITE_QUIET", "false", parse_bool);
        let on_group_deleted = l.parse("ON_GROUP_DELETED", "revoke", |s| match s {
            "revoke" => Ok(OnGroupDeleted::Revoke),
            "keep" => Ok(OnGroupDeleted::Keep),
            _ => Err("must be revoke or keep".into()),
        });
        let export_root = l.parse("EXPORT_ROOT", "/DocSpace Export", dropbox_folder);
        let export_triggers = l.parse(
            "EXPORT_TRIGGERS",
            "file.created,file.uploaded,file.updated",
            |s| {
                let list = split_list(s);
                for t in &list {
                    if !t.starts_with("file.") {
                        return Err(format!("{t} is not a file trigger (file.*)"));
                    }
                }
                Ok(list)
            },
        );
        let export_folder_ids = l.parse("EXPORT_FOLDER_IDS", "", |s| Ok(split_list(s)));
        let reconcile_interval = l.parse("RECONCILE_INTERVAL", "15m", parse_duration);
        let worker_concurrency = l.parse("WORKER_CONCURRENCY", "8", |s| match s.parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => Ok(n),
            _ => Err("must be a whole number from 1 to 256".into()),
        });
        let job_max_attempts = l.parse("JOB_MAX_ATTEMPTS", "12", |s| match s.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err("must be a whole number from 1 to 1000".into()),
        });
        let default_format = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            "pretty"
        } else {
            "json"
        };
        let log_format = l.parse("LOG_FORMAT", default_format, |s| match s {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be pretty or json".into()),
        });

        let defaults = Tuning::default();
        let tuning = Tuning {
            lease: l.parse_dur_or("BRIDGE_LEASE", defaults.lease),
            poll_interval: l.parse_dur_or("BRIDGE_POLL_INTERVAL", defaults.poll_interval),
            backoff_base: l.parse_dur_or("BRIDGE_BACKOFF_BASE", defaults.backoff_base),
            backoff_max: l.parse_dur_or("BRIDGE_BACKOFF_MAX", defaults.backoff_max),
            shutdown_grace: l.parse_dur_or("BRIDGE_SHUTDOWN_GRACE", defaults.shutdown_grace),
            webhook_body_limit: l
                .parse(
                    "BRIDGE_WEBHOOK_BODY_LIMIT",
                    &defaults.webhook_body_limit.to_string(),
                    |s| {
                        s.parse::<usize>()
                            .map_err(|_| "must be a number of bytes".into())
                    },
                )
                .unwrap_or(defaults.webhook_body_limit),
            delivery_retention: l
                .parse_dur_or("BRIDGE_DELIVERY_RETENTION", defaults.delivery_retention),
            changes_poll_interval: l.parse_dur_or(
                "BRIDGE_CHANGES_POLL_INTERVAL",
                defaults.changes_poll_interval,
            ),
            http_timeout: l.parse_dur_or("BRIDGE_HTTP_TIMEOUT", defaults.http_timeout),
            refusal_retry: l.parse_dur_or("BRIDGE_REFUSAL_RETRY", defaults.refusal_retry),
            export_parallel: l
                .parse(
                    "BRIDGE_EXPORT_PARALLEL",
                    &defaults.export_parallel.to_string(),
                    |s| match s.parse::<usize>() {
                        Ok(n) if (1..=8).contains(&n) => Ok(n),
                        _ => Err("must be a whole number from 1 to 8".into()),
                    },
                )
                .unwrap_or(defaults.export_parallel),
            run_workers: l
                .parse("BRIDGE_WORKERS", "true", parse_bool)
                .unwrap_or(true),
            run_scheduler: l
                .parse("BRIDGE_SCHEDULER", "true", parse_bool)
                .unwrap_or(true),
        };

        if !l.problems.is_empty() {
            return Err(ConfigErrors(l.problems));
        }
        // Every Option below is Some when no problem was recorded.
        let missing = || ConfigErrors(vec!["internal: incomplete configuration".into()]);
        Ok(Config {
            listen: listen.ok_or_else(missing)?,
            database_url: database_url.ok_or_else(missing)?,
            api_token,
            docspace_url: docspace_url.ok_or_else(missing)?,
            docspace_api_key: docspace_api_key.ok_or_else(missing)?,
            docspace_webhook_secret: docspace_webhook_secret.ok_or_else(missing)?,
            dropbox_app_key: dropbox_app_key.ok_or_else(missing)?,
            dropbox_app_secret: dropbox_app_secret.ok_or_else(missing)?,
            dropbox_auth: dropbox_auth.ok_or_else(missing)?,
            dropbox_api_url: dropbox_api_url.ok_or_else(missing)?,
            dropbox_content_url: dropbox_content_url.ok_or_else(missing)?,
            dropbox_path_root: dropbox_path_root.ok_or_else(missing)?,
            groups_root: groups_root.ok_or_else(missing)?,
            group_member_access: group_member_access.ok_or_else(missing)?,
            group_invite_quiet: group_invite_quiet.ok_or_else(missing)?,
            on_group_deleted: on_group_deleted.ok_or_else(missing)?,
            export_root: export_root.ok_or_else(missing)?,
            export_triggers: export_triggers.ok_or_else(missing)?,
            export_folder_ids: export_folder_ids.ok_or_else(missing)?,
            reconcile_interval: reconcile_interval.ok_or_else(missing)?,
            worker_concurrency: worker_concurrency.ok_or_else(missing)?,
            job_max_attempts: job_max_attempts.ok_or_else(missing)?,
            log_format: log_format.ok_or_else(missing)?,
            tuning,
        })
    }

    /// Origin (`scheme://host[:port]`) of the DocSpace portal, used to decide where the API key
    /// may be sent.
    pub fn docspace_origin(&self) -> url::Origin {
        self.docspace_url.origin()
    }
}

struct Loader<'a> {
    env: &'a HashMap<String, String>,
    problems: Vec<String>,
}

impl Loader<'_> {
    fn optional(&self, name: &str) -> Option<String> {
        self.env
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &str) -> Option<String> {
        let v = self.optional(name);
        if v.is_none() {
            self.problems.push(format!("{name} is required"));
        }
        v
    }

    fn required_secret(&mut self, name: &str) -> Option<Secret> {
        self.required(name).map(Secret::new)
    }

    /// Parses `name` (or `default` when unset). The error names the variable but, since the
    /// parsers only see non-secret settings, may describe the expected form.
    fn parse<T>(
        &mut self,
        name: &str,
        default: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.optional(name).unwrap_or_else(|| default.to_string());
        match f(&raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problems.push(format!("{name}: {e}"));
                None
            }
        }
    }

    fn parse_dur_or(&mut self, name: &str, default: Duration) -> Duration {
        match self.optional(name) {
            None => default,
            Some(raw) => match parse_duration(&raw) {
                Ok(d) => d,
                Err(e) => {
                    self.problems.push(format!("{name}: {e}"));
                    default
                }
            },
        }
    }

    fn required_url(&mut self, name: &str, origin_only: bool) -> Option<Url> {
        let raw = self.required(name)?;
        match check_url(&raw, origin_only) {
            Ok(u) => Some(u),
            Err(e) => {
                self.problems.push(format!("{name}: {e}"));
                None
            }
        }
    }

    fn url_with_default(&mut self, name: &str, default: &str) -> Option<Url> {
        self.parse(name, default, |s| check_url(s, true))
    }
}

fn check_url(raw: &str, origin_only: bool) -> Result<Url, String> {
    let u = Url::parse(raw).map_err(|_| "must be an absolute http(s) URL".to_string())?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err("must be an http(s) URL".into());
    }
    if u.host_str().is_none() {
        return Err("must name a host".into());
    }
    if origin_only && u.path() != "/" && !u.path().is_empty() {
        return Err("must be an origin without a path, e.g. https://example.onlyoffice.com".into());
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
    Ok(s.to_string())
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

/// Durations like `15m`, `30s`, `1h 30m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|_| "must be a duration such as 30s, 15m or 1h".into())
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
            ("DOCSPACE_WEBHOOK_SECRET", "whsecret"),
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
        assert_eq!(c.groups_root, "/DocSpace Groups");
        assert_eq!(c.reconcile_interval, Duration::from_secs(900));
        assert_eq!(c.worker_concurrency, 8);
        assert_eq!(c.job_max_attempts, 12);
        assert_eq!(c.export_triggers.len(), 3);
        assert_eq!(c.tuning.export_parallel, 4);
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
}
