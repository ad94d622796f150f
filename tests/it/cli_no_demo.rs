//! A build without the `demo` feature, as the Docker image ships it: the stand-ins are not in the
//! binary, and `demo` says so instead of running. Run with `cargo test --no-default-features`.

use std::process::Stdio;

const BIN: &str = env!("CARGO_BIN_EXE_docspace-dropbox-bridge");

async fn run(args: &[&str]) -> std::process::Output {
    let cwd = tempfile::tempdir().expect("tempdir");
    tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("binary runs")
}

#[tokio::test]
async fn demo_says_this_build_has_no_demo() {
    let out = run(&["demo"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("this build has no demo"), "{stderr}");
    assert!(stderr.contains("cargo run --release -- demo"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = run(&["demo", "--keep-running"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("this build has no demo"));
}

#[tokio::test]
async fn help_does_not_offer_demo() {
    let out = run(&["--help"]).await;
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{help}");
    for command in ["serve", "migrate", "check", "sync-groups", "export"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    assert!(!help.contains("demo"), "{help}");
}

#[test]
fn binary_does_not_contain_the_stand_ins() {
    let binary = std::fs::read(BIN).expect("read the binary");
    // Every stand-in serves its control API under `/_fake/`; the bridge itself never names it.
    let needle = b"/_fake/health";
    assert!(
        !binary.windows(needle.len()).any(|w| w == needle),
        "{BIN} contains code of the stand-ins"
    );
}
