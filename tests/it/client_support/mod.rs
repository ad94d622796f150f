//! Shared setup for the provider-client tests: configs pointing at the fakes, the production
//! HTTP client, and a fast retry policy so retry paths take milliseconds.
#![allow(dead_code)]

pub mod two_faced;

use std::collections::HashMap;
use std::time::Duration;

use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::FakeDropbox;
use docspace_dropbox_bridge::config::{Config, DropboxConfig};
use docspace_dropbox_bridge::docspace::DocSpaceClient;
use docspace_dropbox_bridge::dropbox::DropboxClient;
use docspace_dropbox_bridge::provider::{http_client, http_client_builder, RetryPolicy};

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 4,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        max_inline_wait: Duration::from_secs(10),
    }
}

pub fn env(
    dropbox_api: &str,
    dropbox_content: &str,
    docspace: &str,
    docspace_key: &str,
) -> HashMap<String, String> {
    [
        ("DOCSPACE_URL", docspace),
        ("DOCSPACE_API_KEY", docspace_key),
        ("DOCSPACE_WEBHOOK_SECRET", "client-webhook-secret"),
        ("DROPBOX_APP_KEY", "fake-app-key"),
        ("DROPBOX_APP_SECRET", "fake-app-secret"),
        ("DROPBOX_REFRESH_TOKEN", "fake-refresh-token"),
        ("DROPBOX_API_URL", dropbox_api),
        ("DROPBOX_CONTENT_URL", dropbox_content),
        ("BRIDGE_HTTP_TIMEOUT", "20s"),
        ("LOG_FORMAT", "json"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn config(env: &HashMap<String, String>) -> Config {
    Config::from_map(env).expect("test config is valid")
}

pub fn dropbox_client(fake: &FakeDropbox) -> DropboxClient {
    dropbox_client_with(fake, |_| {})
}

/// A Dropbox client on the fake whose configuration `configure` changes first.
pub fn dropbox_client_with(
    fake: &FakeDropbox,
    configure: impl FnOnce(&mut DropboxConfig),
) -> DropboxClient {
    let e = env(
        &fake.api_url(),
        &fake.content_url(),
        "http://127.0.0.1:9",
        "sk-unused",
    );
    let mut dropbox = config(&e).dropbox;
    configure(&mut dropbox);
    DropboxClient::with_retry_policy(&dropbox, http_client(), fast_retry())
}

pub fn docspace_client(fake: &FakeDocSpace) -> DocSpaceClient {
    docspace_client_for(&fake.url(), &fake.api_key())
}

/// A DocSpace client for any portal URL and key, on the production HTTP client settings (plus
/// trust in the loopback test certificate of [`two_faced`]).
pub fn docspace_client_for(url: &str, key: &str) -> DocSpaceClient {
    let e = env("http://127.0.0.1:9", "http://127.0.0.1:9", url, key);
    let http = http_client_builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("http client");
    DocSpaceClient::with_retry_policy(&config(&e).docspace, http, fast_retry())
}
