//! The one HTTP client shape every provider client is built on. It follows no redirects: an
//! automatic redirect would carry `Authorization` along to wherever the provider points, and
//! reqwest keeps it when only the scheme changes (`https://host:8443` → `http://host:8443`).
//! No provider API call the bridge makes is redirected; the DocSpace download, which may be, is
//! followed hop by hop by the DocSpace client, deciding for each hop whether the API key goes
//! with it.

use std::time::Duration;

/// The client builder with the settings every provider call relies on (no redirects followed,
/// connect timeout, user agent). Tests add what they need (e.g. a test certificate) on top.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!(
            "docspace-dropbox-bridge/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
}

/// The HTTP client (and connection pool) provider clients send through.
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().unwrap_or_else(|e| {
        // Building fails only when the TLS backend cannot start; a default client would follow
        // redirects, so fail loudly instead of silently changing the policy.
        panic!("cannot build the HTTP client: {e}")
    })
}
