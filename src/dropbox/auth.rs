//! Dropbox access tokens: a fixed token (trials) or short-lived tokens refreshed from the refresh
//! token via `{DROPBOX_API_URL}/oauth2/token`, 300 s before they expire and once more when a call
//! meets `expired_access_token`. One async mutex makes refreshes single-flight: concurrent callers
//! wait for the one refresh in progress and then share its token.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::error::DropboxError;
use super::wire::{OAuthErrorBody, TokenResponse};
use crate::config::{DropboxAuth, Secret};
use crate::provider::{record, redact, retry_after_header};

/// Refresh this long before the token's stated expiry (as the official SDKs do).
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);
const TOKEN_ROUTE: &str = "oauth2/token";

pub(crate) struct TokenSource {
    kind: DropboxAuth,
    app_key: String,
    app_secret: Secret,
    token_url: Url,
    current: Mutex<Option<Token>>,
}

#[derive(Clone)]
struct Token {
    access: Secret,
    /// `None`: never refreshed (static tokens).
    refresh_at: Option<Instant>,
}

impl TokenSource {
    pub(crate) fn new(
        kind: DropboxAuth,
        app_key: String,
        app_secret: Secret,
        api_url: &Url,
    ) -> Self {
        let token_url = api_url
            .join("oauth2/token")
            .unwrap_or_else(|_| api_url.clone());
        Self {
            kind,
            app_key,
            app_secret,
            token_url,
            current: Mutex::new(None),
        }
    }

    /// Secrets that must never appear in error text.
    pub(crate) fn long_lived_secrets(&self) -> Vec<String> {
        let mut v = vec![self.app_secret.expose().to_string()];
        match &self.kind {
            DropboxAuth::Refresh(s) | DropboxAuth::Static(s) => v.push(s.expose().to_string()),
        }
        v
    }

    /// A token valid for at least the margin, refreshing it first if needed.
    pub(crate) async fn get(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Secret, DropboxError> {
        let mut cur = self.current.lock().await;
        if let Some(t) = cur.as_ref() {
            if t.refresh_at.still_valid() {
                return Ok(t.access.clone());
            }
        }
        let fresh = self.obtain(http, timeout).await?;
        let access = fresh.access.clone();
        *cur = Some(fresh);
        Ok(access)
    }

    /// Called after a 401 `expired_access_token` for `stale`. Returns `true` when a different
    /// token is now current (refreshed here or by a concurrent caller), `false` when the token
    /// cannot be refreshed (static token).
    pub(crate) async fn invalidate(
        &self,
        stale: &Secret,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<bool, DropboxError> {
        if matches!(self.kind, DropboxAuth::Static(_)) {
            return Ok(false);
        }
        let mut cur = self.current.lock().await;
        if let Some(t) = cur.as_ref() {
            if &t.access != stale {
                return Ok(true);
            }
        }
        *cur = Some(self.obtain(http, timeout).await?);
        Ok(true)
    }

    async fn obtain(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Token, DropboxError> {
        let refresh = match &self.kind {
            DropboxAuth::Static(s) => {
                return Ok(Token {
                    access: s.clone(),
                    refresh_at: None,
                })
            }
            DropboxAuth::Refresh(r) => r,
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
            ("client_id", self.app_key.as_str()),
            ("client_secret", self.app_secret.expose()),
        ];
        let started = std::time::Instant::now();
        let sent = http
            .post(self.token_url.clone())
            .timeout(timeout)
            .form(&form)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let err = transport_error(TOKEN_ROUTE, &e);
                record("dropbox", TOKEN_ROUTE, err.outcome(), started.elapsed());
                return Err(err);
            }
        };
        let status = resp.status();
        let retry_after = retry_after_header(resp.headers());
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(TOKEN_ROUTE, &e));
        let body = match body {
            Ok(b) => b,
            Err(err) => {
                record("dropbox", TOKEN_ROUTE, err.outcome(), started.elapsed());
                return Err(err);
            }
        };
        let result = if status.is_success() {
            serde_json::from_slice::<TokenResponse>(&body)
                .map_err(|e| DropboxError::Decode {
                    route: TOKEN_ROUTE,
                    message: e.to_string(),
                })
                .map(|t| Token {
                    access: Secret::new(t.access_token),
                    refresh_at: Some(Instant::now() + use_for(t.expires_in)),
                })
        } else if status.is_server_error() {
            Err(DropboxError::Server {
                route: TOKEN_ROUTE,
                status: status.as_u16(),
            })
        } else if status.as_u16() == 429 {
            Err(DropboxError::RateLimited {
                route: TOKEN_ROUTE,
                reason: "too_many_requests".into(),
                retry_after: retry_after.unwrap_or(Duration::from_secs(5)),
            })
        } else {
            match serde_json::from_slice::<OAuthErrorBody>(&body) {
                Ok(b) => Err(DropboxError::Auth {
                    route: TOKEN_ROUTE,
                    tag: redact(&b.error, &[]),
                }),
                Err(_) => Err(DropboxError::Status {
                    route: TOKEN_ROUTE,
                    status: status.as_u16(),
                    message: redact(
                        &String::from_utf8_lossy(&body),
                        &[
                            refresh.expose(),
                            self.app_secret.expose(),
                            self.app_key.as_str(),
                        ],
                    ),
                }),
            }
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        record("dropbox", TOKEN_ROUTE, outcome, started.elapsed());
        if result.is_ok() {
            tracing::debug!("dropbox access token refreshed");
        }
        result
    }
}

/// How long a fresh token is used before refreshing: its lifetime minus 300 s, or half of it
/// for tokens shorter than 10 minutes. Missing `expires_in`: the usual 4 hours.
fn use_for(expires_in: Option<u64>) -> Duration {
    let life = Duration::from_secs(expires_in.unwrap_or(14_400));
    if life > EXPIRY_MARGIN * 2 {
        life - EXPIRY_MARGIN
    } else {
        life / 2
    }
}

trait StillValid {
    fn still_valid(&self) -> bool;
}

impl StillValid for Option<Instant> {
    /// True while the token may still be used: static tokens always, refreshed ones until
    /// their early-refresh instant.
    fn still_valid(&self) -> bool {
        self.is_none_or(|at| Instant::now() < at)
    }
}

/// Maps a reqwest transport failure. reqwest's Display may include the URL; our URLs carry no
/// credentials, so that is safe to keep.
pub(crate) fn transport_error(route: &'static str, e: &reqwest::Error) -> DropboxError {
    if e.is_timeout() {
        DropboxError::Timeout { route }
    } else {
        DropboxError::Network {
            route,
            message: crate::provider::describe_reqwest(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_300_s_early() {
        assert_eq!(use_for(Some(14_400)), Duration::from_secs(14_100));
        assert_eq!(use_for(None), Duration::from_secs(14_100));
        assert_eq!(use_for(Some(400)), Duration::from_secs(200));
        assert_eq!(use_for(Some(0)), Duration::ZERO);
    }
}
