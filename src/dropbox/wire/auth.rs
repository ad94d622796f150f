//! `auth` namespace and the OAuth token endpoint: refresh answers and errors, rate limits.

use serde::Deserialize;

/// `oauth2/token` answer to a refresh.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `oauth2/token` error body (`{"error":"invalid_grant","error_description":..}`).
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthErrorBody {
    pub error: String,
}

/// `auth.RateLimitError`, found under `error` of a JSON 429.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitError {
    #[serde(default)]
    pub reason: Option<RateLimitReason>,
    #[serde(default)]
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum RateLimitReason {
    TooManyRequests,
    TooManyWriteOperations,
    #[serde(other)]
    Other,
}
