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
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .arg("check")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
        .await
        .expect("check finishes within a minute")
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
        has("dropbox scopes: ok: account_info.read, files.metadata.read, files.content.write, sharing.read, sharing.write"),
        "{}",
        out.stdout
    );
    assert!(has("check: everything works"), "{}", out.stdout);
    assert!(!out.stderr.contains("problem:"), "{}", out.stderr);
    assert_no_secret(&out, &env);
    // The scope probes changed nothing in Dropbox.
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
