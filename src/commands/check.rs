//! `check`: a pre-flight for operators. The configuration has already been loaded and validated
//! by `main`; this says which database the bridge uses and whether it answers, who the bridge
//! acts as in DocSpace (`people/@self`, optional: it needs a permission no job uses) and in
//! Dropbox (`users/get_current_account`), whether the Dropbox token refreshes, then calls each
//! DocSpace route the bridge uses and probes each Dropbox scope it needs, with calls that cannot
//! change anything, naming every missing permission.
//!
//! Output: one `ok`/`warning` line per finding on stdout, one `problem:` line per problem on
//! stderr, and exit code 1 when there was any problem. Nothing here prints a secret: provider
//! errors are already redacted by the clients, and no configuration secret is echoed.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use serde_json::json;
use sqlx::Connection;

use crate::config::{Config, DocSpaceConfig, DropboxAuth, DropboxConfig, PathRoot};
use crate::docspace::{DocSpaceClient, DocSpaceError, RouteUse, ROUTES};
use crate::dropbox::{DropboxClient, DropboxError, ListFolderArg};
use crate::provider::{redact, RetryPolicy};

/// Where DocSpace's API keys are made.
const DOCSPACE_KEYS: &str = "DocSpace: Settings → Developer Tools → API keys";

/// Runs the check; exit code 0 only when nothing failed.
pub async fn run(config: Config) -> ExitCode {
    let mut report = Report::default();
    report.ok(format!(
        "config: ok (DocSpace {}, Dropbox {}, GROUPS_ROOT {}, EXPORT_ROOT {})",
        config.docspace.url.as_str().trim_end_matches('/'),
        config.dropbox.api_url.as_str().trim_end_matches('/'),
        config.groups.root,
        config.export.root
    ));
    check_database(&config.database_url, &mut report).await;
    let http = crate::provider::http_client();
    // A pre-flight should answer quickly: one retry, short pauses.
    let retry = RetryPolicy {
        max_retries: 1,
        min_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
        max_inline_wait: Duration::from_secs(5),
    };
    let docspace = DocSpaceClient::with_retry_policy(&config.docspace, http.clone(), retry);
    let dropbox = DropboxClient::with_retry_policy(&config.dropbox, http, retry);

    check_docspace(&config.docspace, &docspace, &mut report).await;
    match check_dropbox_identity(&config.dropbox, &dropbox, &mut report).await {
        Identity::Known => check_dropbox_scopes(&dropbox, true, &mut report).await,
        Identity::MissingScope => check_dropbox_scopes(&dropbox, false, &mut report).await,
        Identity::Failed => {}
    }

    if report.problems == 0 {
        println!("check: everything works");
        ExitCode::SUCCESS
    } else {
        let n = report.problems;
        eprintln!("check: {n} problem{} found", if n == 1 { "" } else { "s" });
        ExitCode::FAILURE
    }
}

#[derive(Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn ok(&mut self, line: String) {
        println!("{line}");
    }
    fn warn(&mut self, line: String) {
        println!("warning: {line}");
    }
    fn problem(&mut self, line: String) {
        self.problems += 1;
        eprintln!("problem: {line}");
    }
}

// --- database ----------------------------------------------------------------------------------

/// Says which database `BRIDGE_DATABASE_URL` names and whether it answers, without creating or
/// migrating anything (the service does that at start).
async fn check_database(url: &str, report: &mut Report) {
    const TIMEOUT: Duration = Duration::from_secs(10);
    if url.starts_with("sqlite:") {
        let opts = match sqlx::sqlite::SqliteConnectOptions::from_str(url) {
            Ok(o) => o.read_only(true),
            Err(e) => return report.problem(format!("database: {url} is not usable: {e}")),
        };
        // The file the service opens, found as the service finds it.
        let Some(file) = crate::store::sqlite::file_of(url) else {
            return report.problem(format!(
                "database: {url} is a SQLite database in memory, which the service refuses \
                 (webhooks are committed on a connection of their own): name a file"
            ));
        };
        let path = file.display().to_string();
        if !file.exists() {
            report.ok(format!(
                "database: SQLite {path} (not created yet; the service creates it on first start)"
            ));
            return;
        }
        let answered = tokio::time::timeout(TIMEOUT, async {
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
            sqlx::query("SELECT 1").execute(&mut c).await?;
            c.close().await
        })
        .await;
        match answered {
            Ok(Ok(())) => report.ok(format!("database: SQLite {path} answers")),
            Ok(Err(e)) => report.problem(format!("database: SQLite {path} does not answer: {e}")),
            Err(_) => report.problem(format!(
                "database: SQLite {path} did not answer within {}s",
                TIMEOUT.as_secs()
            )),
        }
    } else {
        let opts = match sqlx::postgres::PgConnectOptions::from_str(url) {
            Ok(o) => o,
            Err(_) => {
                return report
                    .problem("database: BRIDGE_DATABASE_URL is not a usable PostgreSQL URL".into())
            }
        };
        let secret = url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(str::to_string))
            .unwrap_or_default();
        let name = format!(
            "PostgreSQL {}:{}/{}",
            opts.get_host(),
            opts.get_port(),
            opts.get_database().unwrap_or("")
        );
        let answered = tokio::time::timeout(TIMEOUT, async {
            let mut c = sqlx::PgConnection::connect_with(&opts).await?;
            sqlx::query("SELECT 1").execute(&mut c).await?;
            c.close().await
        })
        .await;
        match answered {
            Ok(Ok(())) => report.ok(format!("database: {name} answers")),
            Ok(Err(e)) => report.problem(format!(
                "database: {name} does not answer: {}",
                redact(&e.to_string(), &[&secret])
            )),
            Err(_) => report.problem(format!(
                "database: {name} did not answer within {}s",
                TIMEOUT.as_secs()
            )),
        }
    }
}

// --- DocSpace ----------------------------------------------------------------------------------

async fn check_docspace(config: &DocSpaceConfig, client: &DocSpaceClient, report: &mut Report) {
    let portal = config.url.as_str().trim_end_matches('/');
    match client.me().await {
        Ok(me) => {
            let role = if me.is_owner {
                "portal owner"
            } else if me.is_admin {
                "admin"
            } else if me.is_visitor {
                "guest"
            } else {
                "user"
            };
            report.ok(format!(
                "docspace: acting as {} <{}> (user {}, {role}) on {portal}",
                me.display_name,
                me.email.as_deref().unwrap_or("no e-mail"),
                me.id
            ));
            if !me.is_admin && !me.is_owner {
                report.warn(
                    "docspace: the API key's user is not an administrator; it may not see every \
                     group and its members"
                        .into(),
                );
            }
        }
        Err(DocSpaceError::MissingScope { scope, .. }) => report.warn(format!(
            "docspace: the API key may not read its own profile (it lacks {scope}); the bridge \
             does not need it, only this line does"
        )),
        Err(e) => {
            report.problem(docspace_problem(portal, &e));
            if matches!(e.status(), Some(401 | 404))
                || matches!(
                    e,
                    DocSpaceError::Network { .. } | DocSpaceError::Timeout { .. }
                )
            {
                // No route can answer: naming missing permissions would only add noise.
                return;
            }
        }
    }
    check_docspace_routes(client, report).await;
}

/// Calls every route the bridge uses; one problem per missing permission, naming the routes
/// and what needs them.
async fn check_docspace_routes(client: &DocSpaceClient, report: &mut Report) {
    let mut granted: Vec<&str> = Vec::new();
    let mut missing: BTreeMap<&str, Vec<&RouteUse>> = BTreeMap::new();
    for r in ROUTES.iter().filter(|r| !r.optional) {
        match client.probe(r.route).await {
            Err(DocSpaceError::MissingScope { scope, .. }) => {
                missing.entry(scope).or_default().push(r)
            }
            // Any answer of the route itself (a 404 for the id that names nothing, too).
            Ok(())
            | Err(DocSpaceError::Api {
                status: 300..=499, ..
            }) => {
                if !granted.contains(&r.scope) {
                    granted.push(r.scope);
                }
            }
            Err(e) => report.warn(format!(
                "docspace: GET {} could not be checked: {e}",
                r.route
            )),
        }
    }
    for (scope, routes) in &missing {
        let mut needed_for: Vec<&str> = routes.iter().map(|r| r.needed_for).collect();
        needed_for.dedup();
        let gets: Vec<String> = routes.iter().map(|r| format!("GET {}", r.route)).collect();
        report.problem(format!(
            "docspace: the API key lacks the {scope} permission, needed for {} ({}); create a \
             key with it ({DOCSPACE_KEYS}) and put it in DOCSPACE_API_KEY",
            needed_for.join(" and "),
            gets.join(", ")
        ));
    }
    granted.retain(|s| !missing.contains_key(s));
    if !granted.is_empty() {
        report.ok(format!("docspace permissions: ok: {}", granted.join(", ")));
    }
}

fn docspace_problem(portal: &str, e: &DocSpaceError) -> String {
    match e.status() {
        Some(401) => format!(
            "docspace: DOCSPACE_API_KEY was refused by {portal} (401 unauthorized); create a new \
             API key in DocSpace settings"
        ),
        Some(403) => format!("docspace: people/@self was refused on {portal}: {e}"),
        Some(404) => format!(
            "docspace: {portal} has no DocSpace API (404); check DOCSPACE_URL (the portal origin, \
             e.g. https://example.onlyoffice.com)"
        ),
        _ => match e {
            DocSpaceError::Network { .. } | DocSpaceError::Timeout { .. } => {
                format!("docspace: cannot reach {portal} ({e}); check DOCSPACE_URL and the network")
            }
            _ => format!("docspace: people/@self failed: {e}"),
        },
    }
}

/// What `users/get_current_account` told us.
enum Identity {
    Known,
    /// Only `account_info.read` is missing: the other scopes can still be probed.
    MissingScope,
    /// No Dropbox call can succeed (token, network): scopes are not probed.
    Failed,
}

async fn check_dropbox_identity(
    config: &DropboxConfig,
    client: &DropboxClient,
    report: &mut Report,
) -> Identity {
    let api = config.api_url.as_str().trim_end_matches('/');
    let refreshes = matches!(config.auth, DropboxAuth::Refresh(_));
    match client.get_current_account().await {
        Ok(acct) => {
            if refreshes {
                report.ok(
                    "dropbox token: DROPBOX_REFRESH_TOKEN works; the bridge obtains and refreshes \
                     short-lived access tokens itself"
                        .into(),
                );
            } else {
                report.warn(
                    "dropbox token: DROPBOX_ACCESS_TOKEN is a fixed token and cannot be \
                     refreshed; it stops working when it expires (use DROPBOX_REFRESH_TOKEN in \
                     production)"
                        .into(),
                );
            }
            let root = match config.path_root {
                PathRoot::Home => "home folder",
                PathRoot::Root => "team space",
            };
            let kind = match acct.account_type {
                Some(crate::dropbox::wire::AccountType::Basic) => "basic account",
                Some(crate::dropbox::wire::AccountType::Pro) => "pro account",
                Some(crate::dropbox::wire::AccountType::Business) => "business account",
                _ => "account",
            };
            report.ok(format!(
                "dropbox: acting as {} <{}> ({}, {kind}, working in the {root})",
                acct.name.display_name, acct.email, acct.account_id
            ));
            if acct.disabled {
                report.problem("dropbox: the account is disabled".into());
            }
            Identity::Known
        }
        Err(e) => {
            report.problem(dropbox_problem(api, refreshes, &e));
            if e.has_tag("missing_scope") {
                Identity::MissingScope
            } else {
                Identity::Failed
            }
        }
    }
}

fn dropbox_problem(api: &str, refreshes: bool, e: &DropboxError) -> String {
    let token_route = matches!(
        e,
        DropboxError::Auth {
            route: "oauth2/token",
            ..
        }
    ) || matches!(
        e,
        DropboxError::Status {
            route: "oauth2/token",
            ..
        }
    );
    if token_route {
        return match e.tag() {
            Some("invalid_grant") => "dropbox token: DROPBOX_REFRESH_TOKEN was refused \
                 (invalid_grant): it is wrong or revoked; authorise the app again to get a new one"
                .into(),
            Some("invalid_client") => "dropbox token: DROPBOX_APP_KEY / DROPBOX_APP_SECRET were \
                 refused (invalid_client); copy them again from the Dropbox App Console"
                .into(),
            _ => format!("dropbox token: refreshing the access token failed: {e}"),
        };
    }
    match e {
        DropboxError::Auth { tag, .. } if tag == "missing_scope" => {
            "dropbox scope account_info.read is missing: enable it in the App Console \
             (Permissions tab), then authorise the app again for a new DROPBOX_REFRESH_TOKEN"
                .into()
        }
        DropboxError::Auth { tag, .. } if !refreshes => format!(
            "dropbox token: DROPBOX_ACCESS_TOKEN was refused ({tag}); generate a new one or use \
             DROPBOX_REFRESH_TOKEN"
        ),
        DropboxError::Auth { tag, .. } => {
            format!("dropbox token: the refreshed access token was refused ({tag})")
        }
        DropboxError::Network { .. } | DropboxError::Timeout { .. } => {
            format!("dropbox: cannot reach {api} ({e}); check DROPBOX_API_URL and the network")
        }
        _ => format!("dropbox: users/get_current_account failed: {e}"),
    }
}

/// One call per scope the bridge needs, each unable to change anything: a missing scope is
/// refused with 401 `missing_scope` before the arguments are looked at, while a granted one
/// gets an ordinary answer (often "not found").
async fn check_dropbox_scopes(client: &DropboxClient, account_info: bool, report: &mut Report) {
    let nowhere = format!(
        "/.docspace-dropbox-bridge-check-{}",
        uuid::Uuid::new_v4().simple()
    );
    let probes: [(&str, Result<(), DropboxError>); 5] = [
        (
            "files.metadata.read",
            client
                .list_folder_get_latest_cursor(&ListFolderArg::new(""))
                .await
                .map(drop),
        ),
        (
            "files.content.read",
            client
                .call_rpc::<_, serde_json::Value>(
                    "files/get_temporary_link",
                    &json!({ "path": nowhere }),
                )
                .await
                .map(drop),
        ),
        (
            "files.content.write",
            client.delete_v2(&nowhere).await.map(drop),
        ),
        (
            "sharing.read",
            client.get_folder_metadata("0").await.map(drop),
        ),
        (
            "sharing.write",
            // No members: even an existing folder would not change.
            client
                .call_rpc::<_, serde_json::Value>(
                    "sharing/add_folder_member",
                    &json!({ "shared_folder_id": "0", "members": [], "quiet": true }),
                )
                .await
                .map(drop),
        ),
    ];
    let mut granted = Vec::new();
    if account_info {
        granted.push("account_info.read");
    }
    for (scope, result) in probes {
        match result {
            Ok(()) => granted.push(scope),
            Err(e) if e.has_tag("missing_scope") => report.problem(format!(
                "dropbox scope {scope} is missing: enable it in the App Console (Permissions \
                 tab), then authorise the app again for a new DROPBOX_REFRESH_TOKEN"
            )),
            Err(
                DropboxError::Route { .. }
                | DropboxError::BadRequest { .. }
                | DropboxError::Access { .. },
            ) => granted.push(scope),
            Err(e) => report.warn(format!("dropbox scope {scope} could not be checked: {e}")),
        }
    }
    report.ok(format!("dropbox scopes: ok: {}", granted.join(", ")));
}
