//! Runs only the fake Dropbox and prints its URLs as shell assignments, e.g. to drive
//! `contract/dropbox_sdk_check.py`:
//!
//! ```sh
//! cargo run -p bridge-fakes --example dropbox_only > /tmp/fake.env &
//! sleep 2; set -a; . /tmp/fake.env; set +a
//! python3 contract/dropbox_sdk_check.py
//! ```
//! It stops on Ctrl-C (or when the optional `FAKE_DROPBOX_SECONDS` elapse).

use std::io::Write;
use std::time::Duration;

use bridge_fakes::dropbox::{self, DropboxOptions};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let fake = dropbox::start(DropboxOptions::default()).await?;
    let mut out = std::io::stdout();
    writeln!(out, "FAKE_DROPBOX_API_URL={}", fake.api_url())?;
    writeln!(out, "FAKE_DROPBOX_CONTENT_URL={}", fake.content_url())?;
    out.flush()?;
    let limit = std::env::var("FAKE_DROPBOX_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    match limit {
        Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    fake.shutdown().await;
    Ok(())
}
