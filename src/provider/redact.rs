//! Provider text (error bodies, transport errors) that may end up in job records and logs:
//! secrets blanked, URLs left out, length capped.

/// Provider text (error bodies) may end up in job records: cut it short and blank out any secret
/// it might echo.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    // Blank secrets before cutting: a secret crossing the cut would no longer match.
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    out.chars().take(300).collect()
}

/// An error and its sources on one line (reqwest's top-level message alone is often just
/// "error sending request").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    redact(&out, &[])
}

/// A reqwest failure without its URL (presigned URLs carry a credential in the query): the kind
/// of failure plus the chain of underlying causes.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_body() {
        "body"
    } else if e.is_decode() {
        "decode"
    } else if e.is_redirect() {
        "redirect"
    } else {
        "request"
    };
    match std::error::Error::source(e) {
        Some(s) => format!("{kind} error: {}", error_chain(s)),
        None => format!("{kind} error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_blanks_secrets_and_truncates() {
        let r = redact("token sk-abcdef leaked", &["sk-abcdef"]);
        assert_eq!(r, "token *** leaked");
        assert_eq!(redact(&"x".repeat(1000), &[]).len(), 300);
    }
}
