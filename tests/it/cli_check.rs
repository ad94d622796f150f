//! `docspace-dropbox-bridge check` as an operator runs it: the real binary, configured through
//! the environment, pointed at the stand-ins.

use std::collections::HashMap;
use std::process::Stdio;

use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::FakeDropbox;

const WEBHOOK_SECRET: &str = "check-webhook-secret-42";

struct Fakes {
    docspace: FakeDocSpace,
    dropbox: FakeDropbox,
}

async fn fakes() -> Fakes {
    Fakes {
        docspace: FakeDocSpace::start(Default::default())
            .await
            .expect("fake DocSpace"),
        dropbox: FakeDropbox::start(Default::default())
            .await
            .expect("fake Dropbox"),
    }
}

fn good_env(f: &Fakes) -> HashMap<String, String> {
    let o = f.dropbox.options();
    [
        ("DOCSPACE_URL", f.docspace.url()),
        ("DOCSPACE_API_KEY", f.docspace.api_key()),
        ("DOCSPACE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
        ("DROPBOX_APP_KEY", o.app_key.clone()),
        ("DROPBOX_APP_SECRET", o.app_secret.clone()),
        ("DROPBOX_REFRESH_TOKEN", o.refresh_token.clone()),
        ("DROPBOX_API_URL", f.dropbox.api_url()),
        ("DROPBOX_CONTENT_URL", f.dropbox.content_url()),
        ("LOG_FORMAT", "json".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `check` with exactly `env` (nothing inherited but PATH), in an empty directory so no
/// `.env` file is read.
async fn run_check(env: &HashMap<String, String>) -> Output {
    run("check", env).await
}

/// Runs `migrate` on the database `url`, the rest of the configuration [`offline_env`].
async fn migrate(url: &str) -> Output {
    run(
        "migrate",
        &with(offline_env(), &[("BRIDGE_DATABASE_URL", url)]),
    )
    .await
}

/// Runs the bridge's `subcommand` as [`run_check`] runs `check`.
async fn run(subcommand: &str, env: &HashMap<String, String>) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .arg(subcommand)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
        .await
        .unwrap_or_else(|_| panic!("{subcommand} finishes within a minute"))
        .expect("binary runs");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn assert_no_secret(out: &Output, env: &HashMap<String, String>) {
    let all = out.all();
    for name in [
        "DOCSPACE_API_KEY",
        "DOCSPACE_WEBHOOK_SECRET",
        "DROPBOX_APP_SECRET",
        "DROPBOX_REFRESH_TOKEN",
        "DROPBOX_ACCESS_TOKEN",
    ] {
        if let Some(v) = env.get(name) {
            assert!(!all.contains(v.as_str()), "{name} leaked:\n{all}");
        }
    }
    assert!(!all.contains("sl.fake-"), "an access token leaked:\n{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_good_credentials_names_both_identities_and_exits_0() {
    let f = fakes().await;
    let env = good_env(&f);
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let lines: Vec<&str> = out.stdout.lines().collect();
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(has("config: ok"), "{}", out.stdout);
    assert!(
        has("docspace: acting as Bridge Service <bridge@example.com>"),
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("dropbox: acting as")
            && l.contains("owner@example.com")
            && l.contains(&f.dropbox.options().owner_account_id)),
        "{}",
        out.stdout
    );
    assert!(
        has("dropbox token: DROPBOX_REFRESH_TOKEN works"),
        "{}",
        out.stdout
    );
    assert!(
        has("dropbox scopes: ok: account_info.read, files.metadata.read, files.content.read, files.content.write, sharing.read, sharing.write"),
        "{}",
        out.stdout
    );
    assert!(
        has("docspace permissions: ok: accounts:read, files:read, rooms:read"),
        "{}",
        out.stdout
    );
    assert!(
        has("database: SQLite data/bridge.db (not created yet"),
        "{}",
        out.stdout
    );
    assert!(has("check: everything works"), "{}", out.stdout);
    assert!(!out.stdout.contains("warning:"), "{}", out.stdout);
    assert!(!out.stderr.contains("problem:"), "{}", out.stderr);
    assert_no_secret(&out, &env);
    // The probes changed nothing: no database was created, nothing in Dropbox.
    assert!(f.docspace.calls(bridge_fakes::docspace::routes::ROOMS_LIST) >= 1);
    assert!(
        f.dropbox.paths().iter().all(|p| p.is_empty() || p == "/"),
        "{:?}",
        f.dropbox.paths()
    );
    assert!(f.dropbox.shared_folders().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_bad_credentials_prints_one_line_per_problem_and_exits_1() {
    let f = fakes().await;
    let mut env = good_env(&f);
    env.insert(
        "DOCSPACE_API_KEY".into(),
        "sk-not-the-right-key-0000".into(),
    );
    env.insert(
        "DROPBOX_REFRESH_TOKEN".into(),
        "revoked-refresh-token-1234".into(),
    );
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    let problems: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(problems.len(), 2, "{}", out.all());
    assert!(
        problems[0].starts_with("problem: docspace: DOCSPACE_API_KEY was refused"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with(
            "problem: dropbox token: DROPBOX_REFRESH_TOKEN was refused (invalid_grant)"
        ),
        "{problems:?}"
    );
    assert!(
        out.stderr.contains("check: 2 problems found"),
        "{}",
        out.stderr
    );
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_wrong_app_secret_blames_the_app_credentials() {
    let f = fakes().await;
    let mut env = good_env(&f);
    env.insert("DROPBOX_APP_SECRET".into(), "wrong-app-secret-5678".into());
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains(
            "problem: dropbox token: DROPBOX_APP_KEY / DROPBOX_APP_SECRET were refused (invalid_client)"
        ),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains("docspace: acting as"), "{}", out.stdout);
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_fixed_access_token_warns_that_it_cannot_refresh() {
    let f = fakes().await;
    let mut env = good_env(&f);
    env.remove("DROPBOX_REFRESH_TOKEN");
    let token = f
        .dropbox
        .options()
        .static_access_tokens
        .first()
        .cloned()
        .expect("the stand-in issues a static token");
    env.insert("DROPBOX_ACCESS_TOKEN".into(), token);
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains(
            "warning: dropbox token: DROPBOX_ACCESS_TOKEN is a fixed token and cannot be refreshed"
        ),
        "{}",
        out.stdout
    );
    assert_no_secret(&out, &env);

    env.insert("DROPBOX_ACCESS_TOKEN".into(), "sl.not-a-valid-token".into());
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains(
            "problem: dropbox token: DROPBOX_ACCESS_TOKEN was refused (invalid_access_token)"
        ),
        "{}",
        out.all()
    );
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_unreachable_providers_says_so() {
    let mut env = HashMap::new();
    for (k, v) in [
        ("DOCSPACE_URL", "http://127.0.0.1:9"),
        ("DOCSPACE_API_KEY", "sk-unreachable-key-000"),
        ("DOCSPACE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("DROPBOX_APP_KEY", "k"),
        ("DROPBOX_APP_SECRET", "unreachable-secret"),
        ("DROPBOX_REFRESH_TOKEN", "unreachable-refresh"),
        ("DROPBOX_API_URL", "http://127.0.0.1:9"),
        ("DROPBOX_CONTENT_URL", "http://127.0.0.1:9"),
    ] {
        env.insert(k.to_string(), v.to_string());
    }
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr
            .contains("problem: docspace: cannot reach http://127.0.0.1:9"),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("problem: dropbox"), "{}", out.all());
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_missing_configuration_lists_every_problem_and_exits_2() {
    let mut env = HashMap::new();
    env.insert("DOCSPACE_URL".to_string(), "not a url".to_string());
    env.insert(
        "DROPBOX_APP_SECRET".to_string(),
        "half-configured-secret".to_string(),
    );
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(2), "{}", out.all());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(lines.len() >= 4, "{}", out.stderr);
    assert!(
        lines.iter().all(|l| l.starts_with("config error: ")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("DOCSPACE_API_KEY"), "{}", out.stderr);
    assert_no_secret(&out, &env);
}

// --- permissions and the database ----------------------------------------------------------

fn problems(out: &Output) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_each_permission_a_restricted_docspace_key_lacks() {
    let f = fakes().await;
    let mut env = good_env(&f);
    env.insert(
        "DOCSPACE_API_KEY".into(),
        f.docspace.add_api_key(&["accounts:read"]),
    );
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    let problems = problems(&out);
    assert_eq!(problems.len(), 2, "{}", out.all());
    assert!(
        problems[0].starts_with("problem: docspace: the API key lacks the files:read permission, needed for file export (GET files/file/{id}, GET files/file/{id}/presigneduri, GET files/{folderId}, GET files/folder/{id})"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("problem: docspace: the API key lacks the rooms:read permission, needed for the file reconcile (GET files/rooms)"),
        "{problems:?}"
    );
    // Reading its own profile needs accounts.self:read, which no job uses: a warning only.
    assert!(
        out.stdout.contains(
            "warning: docspace: the API key may not read its own profile (it lacks accounts.self:read)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("docspace permissions: ok: accounts:read\n"),
        "{}",
        out.stdout
    );
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_with_exactly_the_docspace_permissions_the_bridge_needs() {
    let f = fakes().await;
    let mut env = good_env(&f);
    let key = f
        .docspace
        .add_api_key(&["accounts:read", "files:read", "rooms:read"]);
    env.insert("DOCSPACE_API_KEY".into(), key);
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(problems(&out).is_empty(), "{}", out.all());
    assert!(
        out.stdout
            .contains("docspace permissions: ok: accounts:read, files:read, rooms:read"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("(it lacks accounts.self:read)"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("docspace: acting as"),
        "{}",
        out.stdout
    );
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_a_missing_dropbox_scope_including_files_content_read() {
    let f = fakes().await;
    f.dropbox.update_knobs(|k| {
        k.granted_scopes = Some(
            [
                "account_info.read",
                "files.metadata.read",
                "files.content.write",
                "sharing.read",
                "sharing.write",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        )
    });
    let env = good_env(&f);
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    let problems = problems(&out);
    assert_eq!(problems.len(), 1, "{}", out.all());
    assert!(
        problems[0].starts_with("problem: dropbox scope files.content.read is missing"),
        "{problems:?}"
    );
    assert!(
        out.stdout.contains("dropbox scopes: ok: account_info.read, files.metadata.read, files.content.write, sharing.read, sharing.write"),
        "{}",
        out.stdout
    );
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_which_database_it_uses_and_whether_it_answers() {
    let f = fakes().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bridge.db");
    let url = format!("sqlite://{}", db.display());
    // A database the service has created answers.
    docspace_dropbox_bridge::store::connect(&url)
        .await
        .expect("store");
    let mut env = good_env(&f);
    env.insert("BRIDGE_DATABASE_URL".into(), url);
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("database: SQLite {} answers", db.display())),
        "{}",
        out.stdout
    );

    // PostgreSQL that does not answer: a problem naming host, port and database, never the
    // password.
    env.insert(
        "BRIDGE_DATABASE_URL".into(),
        "postgres://bridge:pg-secret-password@127.0.0.1:9/bridge".into(),
    );
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    let problems = problems(&out);
    assert_eq!(problems.len(), 1, "{}", out.all());
    assert!(
        problems[0].starts_with("problem: database: PostgreSQL 127.0.0.1:9/bridge does not answer"),
        "{problems:?}"
    );
    assert!(!out.all().contains("pg-secret-password"), "{}", out.all());

    if let Ok(pg) = std::env::var("TEST_DATABASE_URL") {
        if !pg.is_empty() {
            env.insert("BRIDGE_DATABASE_URL".into(), pg);
            let out = run_check(&env).await;
            assert_eq!(out.code, Some(0), "{}", out.all());
            assert!(
                out.stdout.contains("database: PostgreSQL"),
                "{}",
                out.stdout
            );
            assert!(out.stdout.contains(" answers"), "{}", out.stdout);
        }
    }
}

// --- configuration validation --------------------------------------------------------------

/// A configuration whose providers are unreachable but which is valid as far as loading goes:
/// `check` then fails on the calls (exit 1), never on the configuration (exit 2).
fn offline_env() -> HashMap<String, String> {
    [
        ("DOCSPACE_URL", "http://127.0.0.1:9"),
        ("DOCSPACE_API_KEY", "sk-unreachable-key-000"),
        ("DOCSPACE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("DROPBOX_APP_KEY", "k"),
        ("DROPBOX_APP_SECRET", "unreachable-secret"),
        ("DROPBOX_REFRESH_TOKEN", "unreachable-refresh"),
        ("DROPBOX_API_URL", "http://127.0.0.1:9"),
        ("DROPBOX_CONTENT_URL", "http://127.0.0.1:9"),
        ("LOG_FORMAT", "json"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn with(mut env: HashMap<String, String>, vars: &[(&str, &str)]) -> HashMap<String, String> {
    for (k, v) in vars {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// Asserts exit code 2, only `config error:` lines, exactly one line naming each variable,
/// and no panic.
fn assert_config_errors(out: &Output, names: &[&str]) {
    assert_eq!(out.code, Some(2), "{}", out.all());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with("config error: ")),
        "{}",
        out.stderr
    );
    for name in names {
        let n = lines
            .iter()
            .filter(|l| {
                l.strip_prefix("config error: ")
                    .unwrap_or(l)
                    .starts_with(name)
            })
            .count();
        assert_eq!(n, 1, "one line for {name} in:\n{}", out.stderr);
    }
    assert!(!out.all().contains("panicked"), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_zero_and_absurd_durations_one_line_each() {
    let env = with(
        offline_env(),
        &[
            ("RECONCILE_INTERVAL", "0s"),
            ("EXPORT_RECONCILE_INTERVAL", "0"),
            ("BRIDGE_LEASE", "0s"),
            ("BRIDGE_POLL_INTERVAL", "0ms"),
            ("BRIDGE_BACKOFF_BASE", "0s"),
            ("BRIDGE_CHANGES_POLL_INTERVAL", "0s"),
            ("BRIDGE_HTTP_TIMEOUT", "0s"),
            ("BRIDGE_DELIVERY_RETENTION", "1s"),
            ("BRIDGE_BACKOFF_MAX", "500000y"),
            ("BRIDGE_SHUTDOWN_GRACE", "90d"),
            ("BRIDGE_WEBHOOK_BODY_LIMIT", "0"),
        ],
    );
    let out = run_check(&env).await;
    assert_config_errors(
        &out,
        &[
            "RECONCILE_INTERVAL",
            "EXPORT_RECONCILE_INTERVAL",
            "BRIDGE_LEASE",
            "BRIDGE_POLL_INTERVAL",
            "BRIDGE_BACKOFF_BASE",
            "BRIDGE_CHANGES_POLL_INTERVAL",
            "BRIDGE_HTTP_TIMEOUT",
            "BRIDGE_DELIVERY_RETENTION",
            "BRIDGE_BACKOFF_MAX",
            "BRIDGE_SHUTDOWN_GRACE",
            "BRIDGE_WEBHOOK_BODY_LIMIT",
        ],
    );
    assert_eq!(out.stderr.lines().count(), 11, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_accepts_the_export_reconcile_interval_from_one_second() {
    for value in ["1s", "1h", "2h 30m"] {
        let env = with(offline_env(), &[("EXPORT_RECONCILE_INTERVAL", value)]);
        let out = run_check(&env).await;
        assert_eq!(out.code, Some(1), "{value}: {}", out.all());
        assert!(!out.stderr.contains("config error"), "{}", out.stderr);
    }
    let env = with(offline_env(), &[("EXPORT_RECONCILE_INTERVAL", "999ms")]);
    assert_config_errors(&run_check(&env).await, &["EXPORT_RECONCILE_INTERVAL"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_zero_reconcile_interval_exits_2_instead_of_starting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = with(
        offline_env(),
        &[
            ("RECONCILE_INTERVAL", "0s"),
            ("BRIDGE_LISTEN", "127.0.0.1:0"),
            (
                "BRIDGE_DATABASE_URL",
                &format!("sqlite://{}", dir.path().join("bridge.db").display()),
            ),
        ],
    );
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .arg("serve")
        .env_clear()
        .envs(&env)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    // A bridge that accepted the value would keep serving; the bound only stops the test.
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child)
        .await
        .expect("serve refuses the configuration instead of running")
        .expect("binary runs");
    let out = Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_config_errors(&out, &["RECONCILE_INTERVAL"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_short_operator_secrets_but_takes_provider_credentials_as_issued() {
    let env = with(
        offline_env(),
        &[
            ("BRIDGE_API_TOKEN", "short-token-15c"),
            ("DOCSPACE_WEBHOOK_SECRET", "short-secret15c"),
        ],
    );
    let out = run_check(&env).await;
    assert_config_errors(&out, &["BRIDGE_API_TOKEN", "DOCSPACE_WEBHOOK_SECRET"]);
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("at least 16 characters"),
        "{}",
        out.stderr
    );
    assert_no_secret(&out, &env);
    assert!(!out.all().contains("short-token-15c"), "{}", out.all());

    // 16 characters for the operator's secrets; a Dropbox app key and secret are 15 characters
    // as Dropbox issues them.
    let env = with(
        offline_env(),
        &[
            ("BRIDGE_API_TOKEN", "sixteen-char-tok"),
            ("DOCSPACE_WEBHOOK_SECRET", "Sixteen-Chars-16"),
            ("DROPBOX_APP_KEY", "a1b2c3d4e5f6g7h"),
            ("DROPBOX_APP_SECRET", "z9y8x7w6v5u4t3s"),
        ],
    );
    let out = run_check(&env).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(!out.stderr.contains("config error"), "{}", out.stderr);
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_a_value_has_whitespace_around_it_instead_of_trimming_it() {
    let env = with(
        offline_env(),
        &[
            ("DOCSPACE_WEBHOOK_SECRET", " check-webhook-secret-42"),
            ("DROPBOX_REFRESH_TOKEN", "unreachable-refresh\n"),
            ("GROUPS_ROOT", "/DocSpace Groups "),
            ("WORKER_CONCURRENCY", "\t4"),
        ],
    );
    let out = run_check(&env).await;
    assert_config_errors(
        &out,
        &[
            "DOCSPACE_WEBHOOK_SECRET",
            "DROPBOX_REFRESH_TOKEN",
            "GROUPS_ROOT",
            "WORKER_CONCURRENCY",
        ],
    );
    assert_eq!(out.stderr.lines().count(), 4, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("whitespace").count(),
        4,
        "each line says why: {}",
        out.stderr
    );
    assert_no_secret(&out, &env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_requires_https_except_on_loopback_and_refuses_credentials_in_urls() {
    let env = with(
        offline_env(),
        &[
            ("DOCSPACE_URL", "http://portal.example.com"),
            (
                "DROPBOX_API_URL",
                "https://bridge:hunter2-password@api.example.com",
            ),
            ("DROPBOX_CONTENT_URL", "http://content.example.com:8080"),
        ],
    );
    let out = run_check(&env).await;
    assert_config_errors(
        &out,
        &["DOCSPACE_URL", "DROPBOX_API_URL", "DROPBOX_CONTENT_URL"],
    );
    assert!(out.stderr.contains("https"), "{}", out.stderr);
    assert!(!out.all().contains("hunter2"), "{}", out.all());

    let env = with(
        offline_env(),
        &[("DOCSPACE_URL", "https://admin@portal.example.com")],
    );
    let out = run_check(&env).await;
    assert_config_errors(&out, &["DOCSPACE_URL"]);

    // Loopback hosts may use plain http (stand-ins, a local proxy).
    for url in ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"] {
        let env = with(offline_env(), &[("DOCSPACE_URL", url)]);
        let out = run_check(&env).await;
        assert_eq!(out.code, Some(1), "{url}: {}", out.all());
        assert!(!out.stderr.contains("config error"), "{}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_the_placeholders_of_env_example() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example is in the repository");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(".env"), example).expect("write .env");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .arg("check")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("binary runs");
    let out = Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_config_errors(
        &out,
        &[
            "BRIDGE_API_TOKEN",
            "DOCSPACE_API_KEY",
            "DOCSPACE_WEBHOOK_SECRET",
            "DROPBOX_APP_KEY",
            "DROPBOX_APP_SECRET",
            "DROPBOX_REFRESH_TOKEN",
        ],
    );
    assert_eq!(out.stderr.lines().count(), 6, "{}", out.stderr);
}

/// The Kubernetes example (its ConfigMap and the Secret it documents) as the pod's environment:
/// `check` names every value that is still an example's placeholder, the database URL's
/// `change-me` password among them, and repeats none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_the_placeholders_of_the_kubernetes_example() {
    let read = |file: &str, field: &str| -> Vec<(String, String)> {
        let path = format!("{}/deploy/kubernetes/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("the example is in the repository");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        doc[field]
            .as_mapping()
            .expect("a map of variables")
            .iter()
            .map(|(k, v)| {
                let k = k.as_str().expect("name").to_string();
                (k, v.as_str().expect("string value").to_string())
            })
            .collect()
    };
    let secrets = read("secret.example.yaml", "stringData");
    let mut env: HashMap<String, String> = read("configmap.yaml", "data").into_iter().collect();
    env.extend(secrets.iter().cloned());
    let out = run_check(&env).await;
    let mut names: Vec<&str> = secrets.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"BRIDGE_DATABASE_URL"), "{names:?}");
    names.push("DROPBOX_APP_KEY");
    assert_config_errors(&out, &names);
    assert_eq!(out.stderr.lines().count(), names.len(), "{}", out.stderr);
    for (_, value) in &secrets {
        assert!(
            !out.all().contains(value.as_str()),
            "{value} repeated:\n{}",
            out.all()
        );
    }
}

/// A PostgreSQL password given as the URL's `password` parameter, or in a URL that does not parse
/// (a port out of range), is hidden like one given as `user:password@`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_passwords_are_hidden_wherever_the_url_holds_them() {
    for (url, secret) in [
        (
            "postgres://u@127.0.0.1:9/db?password=PWSECRET9",
            "PWSECRET9",
        ),
        (
            "postgres://u@127.0.0.1:9/db?sslmode=disable&password=PWSECRET8",
            "PWSECRET8",
        ),
        ("postgres://u:PWSECRET10@host:99999/db", "PWSECRET10"),
    ] {
        let out = migrate(url).await;
        let all = out.all();
        assert_ne!(out.code, Some(0), "{all}");
        assert!(all.contains("database"), "{all}");
        assert!(!all.contains(secret), "{url}: {all}");
    }
}

#[tokio::test]
async fn a_postgres_url_parameter_the_driver_does_not_take_is_refused_without_its_value() {
    // The driver would ignore it with a warning that shows its value: a misspelt `sslmode`
    // connected without TLS, `Password=` logged the password. A name the driver does not know,
    // and not near one it knows, may be a password's tail (an unescaped `&` splits it): the
    // message does not show it. A parameter given twice is refused.
    const REFUSED: &str = "config error: BRIDGE_DATABASE_URL:";
    for (url, message, secret) in [
        (
            "postgres://u:PWSECRET11@127.0.0.1:9/db?SSL_MODE=require",
            "has the parameter `SSL_MODE`",
            "PWSECRET11",
        ),
        (
            "postgres://u@127.0.0.1:9/db?Password=PWSECRET12",
            "has the parameter `Password`",
            "PWSECRET12",
        ),
        (
            "postgres://u@127.0.0.1:9/db?password=Tr0ub4dor&3xyzSECRET",
            "has a parameter",
            "3xyzSECRET",
        ),
        (
            "postgres://u@127.0.0.1:9/db?PWSECRET13",
            "has a parameter",
            "PWSECRET13",
        ),
        (
            "postgres://u@127.0.0.1:9/db?password=abc&hos",
            "has a parameter",
            "`hos`",
        ),
        (
            "postgres://u@127.0.0.1:9/db?password=Tr0ub4dor&Users1",
            "has a parameter",
            "Users1",
        ),
        (
            "postgres://u@127.0.0.1:9/db?sslmod=require",
            "has a parameter",
            "`sslmod`",
        ),
        (
            "postgres://u:PWSECRET14@127.0.0.1:9/db?sslmode=disable&sslmode=require",
            "gives sslmode twice",
            "PWSECRET14",
        ),
        // Another name of the same setting, or a parameter for a part the URL has.
        (
            "postgres://u:PWSECRET15@127.0.0.1:9/db?sslmode=verify-full&ssl-mode=disable",
            "gives sslmode twice",
            "PWSECRET15",
        ),
        (
            "postgres://u:PWSECRET16@127.0.0.1:9/db?port=1",
            "gives port twice",
            "PWSECRET16",
        ),
        (
            "postgres://u:PWSECRET17@127.0.0.1:9/db?dbname=other",
            "gives dbname twice",
            "PWSECRET17",
        ),
        (
            "postgres://u:PWSECRET18@127.0.0.1:9/db?password=x",
            "gives password twice",
            "PWSECRET18",
        ),
    ] {
        let out = migrate(url).await;
        let all = out.all();
        assert_eq!(out.code, Some(2), "{all}");
        assert!(all.contains(&format!("{REFUSED} {message}")), "{all}");
        assert!(!all.contains(secret), "{url}: {all}");
    }
    // What the driver takes is taken (the server is not there: the failure is the connection).
    let out = migrate(
        "postgres://u@127.0.0.1:9/db?sslmode=disable&application_name=bridge&options[statement_timeout]=5s&host=/var/run/postgresql",
    )
    .await;
    let all = out.all();
    assert!(!all.contains("config error"), "{all}");
}

#[tokio::test]
async fn a_postgres_connection_can_require_tls() {
    // A managed PostgreSQL refuses connections without TLS; `sslmode=require` must be able to
    // reach it, and `verify-full` must check the server's certificate, not fall back.
    let Some(url) = crate::common::fresh_postgres_url().await else {
        return;
    };
    let ssl: String = {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
        sqlx::query_scalar("SHOW ssl")
            .fetch_one(&mut c)
            .await
            .expect("SHOW ssl")
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let out = migrate(&format!("{url}{sep}sslmode=require")).await;
    let all = out.all();
    assert!(!all.contains("without TLS support"), "{all}");
    if ssl == "on" {
        assert_eq!(out.code, Some(0), "{all}");
        // The test server's certificate is self-signed: verifying it must fail, not be skipped.
        let out = migrate(&format!("{url}{sep}sslmode=verify-full")).await;
        assert_ne!(out.code, Some(0), "{}", out.all());
    } else {
        assert_ne!(out.code, Some(0), "the server has no TLS: {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_values_it_would_read_otherwise_than_meant() {
    let env = with(
        offline_env(),
        &[
            // A misspelt trigger would switch exports off for that event.
            ("EXPORT_TRIGGERS", "file.craeted,file.uploaded"),
            // A query would be sent with every request; a fragment means nothing.
            ("DOCSPACE_URL", "https://portal.example.com/?x=1"),
            ("DROPBOX_API_URL", "https://api.dropboxapi.com/#frag"),
            // A control character inside a folder name.
            ("GROUPS_ROOT", "/Groups\nX"),
            ("EXPORT_ROOT", "/Ex\tport"),
            // `M` is months, not minutes.
            ("RECONCILE_INTERVAL", "10M"),
            ("EXPORT_RECONCILE_INTERVAL", "2months"),
        ],
    );
    let out = run_check(&env).await;
    assert_config_errors(
        &out,
        &[
            "EXPORT_TRIGGERS",
            "DOCSPACE_URL",
            "DROPBOX_API_URL",
            "GROUPS_ROOT",
            "EXPORT_ROOT",
            "RECONCILE_INTERVAL",
            "EXPORT_RECONCILE_INTERVAL",
        ],
    );
    assert!(out.stderr.contains("file.craeted"), "{}", out.stderr);
    // Every trigger DocSpace has for files is taken, and durations in long units.
    let env = with(
        offline_env(),
        &[
            (
                "EXPORT_TRIGGERS",
                "file.created,file.uploaded,file.updated,file.copied,file.moved,file.restored",
            ),
            ("RECONCILE_INTERVAL", "15min"),
            ("EXPORT_RECONCILE_INTERVAL", "1hour 30mins"),
            ("BRIDGE_DELIVERY_RETENTION", "2days"),
        ],
    );
    let out = run_check(&env).await;
    assert!(!out.stderr.contains("config error"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_log_that_does_not_parse_is_a_config_error() {
    for filter in ["debug,hyper=wrn", "hyper=loud"] {
        let out = run_check(&with(offline_env(), &[("RUST_LOG", filter)])).await;
        assert_config_errors(&out, &["RUST_LOG"]);
    }
    let out = run_check(&with(offline_env(), &[("RUST_LOG", "debug,hyper=warn")])).await;
    assert!(!out.stderr.contains("config error"), "{}", out.stderr);
}

/// An idle timeout no longer than the request timeout closed connections whose request was
/// still being processed (nothing is sent while a handler works): the client saw the
/// connection drop instead of an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_timeout_no_longer_than_the_request_timeout_is_a_config_error() {
    for (idle, request) in [("5s", "30s"), ("30s", "30s")] {
        let env = with(
            offline_env(),
            &[
                ("BRIDGE_IDLE_TIMEOUT", idle),
                ("BRIDGE_REQUEST_TIMEOUT", request),
            ],
        );
        let out = run_check(&env).await;
        assert_config_errors(&out, &["BRIDGE_IDLE_TIMEOUT"]);
        assert!(
            out.stderr.contains("longer than BRIDGE_REQUEST_TIMEOUT"),
            "{}",
            out.stderr
        );
    }
    let env = with(
        offline_env(),
        &[
            ("BRIDGE_IDLE_TIMEOUT", "31s"),
            ("BRIDGE_REQUEST_TIMEOUT", "30s"),
        ],
    );
    let out = run_check(&env).await;
    assert!(!out.stderr.contains("config error"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_group_and_export_roots_that_hold_one_another() {
    // A group named like an export folder would share exported files with its members; an
    // export folder named like a group would put files in that group's shared folder.
    for (groups, export) in [
        ("/Shared", "/Shared"),
        ("/Shared", "/shared/Export"),
        ("/Team/Groups/x", "/team"),
    ] {
        let env = with(
            offline_env(),
            &[("GROUPS_ROOT", groups), ("EXPORT_ROOT", export)],
        );
        let out = run_check(&env).await;
        assert_config_errors(&out, &["EXPORT_ROOT"]);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("GROUPS_ROOT"), "{}", out.stderr);
    }
    // A common prefix of names is not a folder holding another.
    let env = with(
        offline_env(),
        &[("GROUPS_ROOT", "/Docs"), ("EXPORT_ROOT", "/Docs Export")],
    );
    let out = run_check(&env).await;
    assert!(!out.stderr.contains("config error"), "{}", out.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_an_in_memory_sqlite_database_cannot_be_used() {
    // The service refuses to start on one; `check` says so rather than "not created yet".
    for url in ["sqlite::memory:", "sqlite://bridge.db?mode=memory"] {
        let env = with(offline_env(), &[("BRIDGE_DATABASE_URL", url)]);
        let out = run_check(&env).await;
        let database: Vec<&str> = problems(&out)
            .into_iter()
            .filter(|l| l.starts_with("problem: database:"))
            .collect();
        assert_eq!(database.len(), 1, "{url}: {}", out.all());
        assert!(database[0].contains("in memory"), "{url}: {}", out.all());
        assert!(!out.stdout.contains("not created yet"), "{}", out.all());
    }
}
