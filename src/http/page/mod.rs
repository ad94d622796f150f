//! The operator's status page: `GET /` serves a static HTML shell, `GET /ui/page.js`,
//! `GET /ui/page.css` and `GET /ui/icon.svg` its script, style and icon (embedded in the binary:
//! no build step, nothing from another origin). The shell holds no data and needs no token; the script asks for the API token
//! once, keeps it in the tab's `sessionStorage` and reads everything it shows from the
//! token-protected JSON API: [`status::status`] (`GET /api/v1/status`), and the job and delivery
//! routes of [`super::api`] (dead jobs, and "Find an event": a delivery by its DocSpace event id
//! and its jobs). Read-only apart from the retry of dead jobs, which goes through the API.
//!
//! Every page response carries a Content-Security-Policy that allows only this origin's script,
//! style and API calls (no inline code), and forbids framing.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Route;

pub mod status;

const INDEX_HTML: &str = include_str!("assets/index.html");
const PAGE_JS: &str = include_str!("assets/page.js");
const PAGE_CSS: &str = include_str!("assets/page.css");
const ICON_SVG: &str = include_str!("assets/icon.svg");

/// What the page may load: its own script and style, its own API; no inline code, no frames,
/// no forms posting elsewhere, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The page's routes, in the form of [`super::routes`] (the last field: needs the API token).
pub fn routes() -> Vec<Route> {
    vec![
        (&["GET"], "/", get(index), false),
        (&["GET"], "/ui/page.js", get(script), false),
        (&["GET"], "/ui/page.css", get(style), false),
        (&["GET"], "/ui/icon.svg", get(icon), false),
        (&["GET"], "/api/v1/status", get(status::status), true),
    ]
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", PAGE_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", PAGE_CSS)
}

async fn icon() -> Response {
    asset("image/svg+xml", ICON_SVG)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        // Assets change with the binary; revalidating costs a few KiB.
        (header::CACHE_CONTROL, "no-cache"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}
