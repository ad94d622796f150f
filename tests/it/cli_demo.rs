//! `docspace-dropbox-bridge demo`, run as a new user would: the real binary, no configuration.

use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_the_whole_story_and_cleans_up() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .arg("demo")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // The demo's temporary directory goes here, so the test can see it was removed.
        .env("TMPDIR", tmp.path())
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("demo finishes well within a minute")
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    for line in [
        "[1/7] Dropbox tells the bridge about its account",
        "shared /DocSpace Groups/Marketing with alice@example.com (editor), bob@example.com (editor)",
        "Budget.xlsx (version 1) exported -> /DocSpace Export/Finance/2026/Budget.xlsx",
        "Report.docx (version 2) overwrote the same file -> /DocSpace Export/Finance/2026/Report.docx",
        "removed bob@example.com from /DocSpace Groups/Marketing",
        "restored /DocSpace Groups/Marketing with alice@example.com (editor)",
        "was mounted back and moved home; 0 invitation(s) sent",
        "Budget.xlsx (version 1) re-exported -> /DocSpace Export/Finance/2026/Budget.xlsx",
        "Jobs: ",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("unexpected"), "{stdout}");
    assert!(!stdout.contains("DIFFERS"), "{stdout}");
    assert!(stdout.contains(", 0 dead"), "{stdout}");
    // Readable: no JSON log lines, no log noise at all by default.
    assert!(
        !stdout
            .lines()
            .chain(stderr.lines())
            .any(|l| l.starts_with('{')),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.trim().is_empty(), "{stderr}");
    // The temporary database directory is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read tmp")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_keep_running_prints_urls_and_token_and_stops_on_ctrl_c() {
    keep_running_until(libc::SIGINT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_keep_running_stops_on_sigterm_and_removes_its_temporary_directory() {
    keep_running_until(libc::SIGTERM).await;
}

/// Runs `demo --keep-running`, uses what it prints, then stops it with `signal`: it must exit
/// cleanly and leave no temporary directory behind.
async fn keep_running_until(signal: libc::c_int) {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let cwd = tempfile::tempdir().expect("tempdir");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .args(["demo", "--keep-running"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TMPDIR", tmp.path())
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let (mut bridge, mut token) = (None, None);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            let l = line.trim().to_string();
            if let Some(rest) = l.strip_prefix("bridge ") {
                bridge = Some(rest.trim().to_string());
            }
            if let Some(rest) = l.strip_prefix("API token ") {
                token = Some(rest.trim().to_string());
            }
            seen.push(line);
            if bridge.is_some() && token.is_some() && seen.iter().any(|s| s.contains("Ctrl-C")) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the demo reaches --keep-running");
    let (bridge, token) = (
        bridge.expect("bridge URL printed"),
        token.expect("token printed"),
    );

    // The printed URL and token work against the running bridge.
    let resp = reqwest::Client::new()
        .get(format!("{bridge}/api/v1/jobs"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("bridge answers");
    assert_eq!(resp.status(), 200);

    // The signal stops everything and removes the temporary directory.
    let pid = child.id().expect("pid") as i32;
    // SAFETY: sending a signal to the child this test started.
    unsafe {
        libc::kill(pid, signal);
    }
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops after the signal")
        .expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(
        std::fs::read_dir(tmp.path())
            .expect("read tmp")
            .next()
            .is_none(),
        "temporary directory left behind"
    );
}
