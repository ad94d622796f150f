//! Dropbox → app webhook notifications: the body names the account whose files
//! changed and `X-Dropbox-Signature` is the hex HMAC-SHA256 of the raw body keyed with the app
//! secret. Sent on demand (`FakeDropboxHandle::send_webhook`) or, when the `webhook_url` knob is
//! set, after every successful namespace write.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// Body and signature header value of one notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookNotification {
    /// Raw JSON body.
    pub body: String,
    /// Lowercase hex HMAC-SHA256 of `body` with the app secret.
    pub signature: String,
}

/// Builds the notification a user-linked app receives for `account_id`.
pub fn notification(account_id: &str, app_secret: &str) -> WebhookNotification {
    let body = json!({
        "list_folder": {"accounts": [account_id]},
        "delta": {"users": [12345]},
    })
    .to_string();
    WebhookNotification {
        signature: sign(app_secret, body.as_bytes()),
        body,
    }
}

/// Hex HMAC-SHA256 of `body` keyed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// POSTs a notification; returns the HTTP status.
pub async fn deliver(url: &str, n: &WebhookNotification) -> Result<u16, String> {
    reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Dropbox-Signature", &n.signature)
        .body(n.body.clone())
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc4231_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
