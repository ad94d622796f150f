//! Clients that hold connections open or flood the server: slow request heads and idle
//! keep-alive connections are closed, and requests beyond the in-flight cap are shed with a 503
//! (the probes are not).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{docspace_event, sample, scrape, spawn_app};

/// Reads until the peer closes the connection; `None` if it stays open for `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
}

/// Reads until what was read contains `needle`; `None` if the peer closes first or `limit` passes.
async fn read_until_seen(stream: &mut TcpStream, needle: &str, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        while !String::from_utf8_lossy(&got).contains(needle) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        Some(String::from_utf8_lossy(&got).into_owned())
    })
    .await
    .ok()
    .flatten()
}

/// A connection that has sent a webhook's head and the first bytes of its 1,000-byte body, and
/// then nothing more.
async fn stalled_webhook(url: &str, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr(url)).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: bridge\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"event\""
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

fn addr(url: &str) -> &str {
    url.trim_start_matches("http://")
}

#[tokio::test]
async fn half_a_request_line_is_disconnected_after_the_header_timeout() {
    let app = spawn_app(|c| {
        c.http.header_read_timeout = Duration::from_millis(200);
        c.http.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    let mut stream = TcpStream::connect(addr(&app.url)).await.expect("connect");
    stream.write_all(b"GET /heal").await.expect("write");
    let closed = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(
        closed.is_some(),
        "a connection with half a request line must be closed"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_app(|c| {
        c.http.header_read_timeout = Duration::from_secs(3600);
        c.http.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = TcpStream::connect(addr(&app.url)).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: bridge\r\n\r\n")
        .await
        .expect("write");
    let head = read_until_seen(&mut stream, "\r\n\r\n", Duration::from_secs(20))
        .await
        .expect("a response before the connection closes");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The response was answered on a keep-alive connection; now the client goes quiet.
    let closed = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(closed.is_some(), "an idle connection must be closed");
}

/// Beyond the in-flight cap a request is shed with 503 at once; the probes and `/metrics` are
/// not, so clients that hold every slot cannot get the process restarted by its liveness probe.
#[tokio::test]
async fn with_the_request_cap_reached_a_new_request_is_shed_with_503_but_not_the_probes() {
    let app = spawn_app(|c| c.http.max_requests = 1).await;
    // One webhook whose body never finishes keeps the only slot busy.
    let stuck = stalled_webhook(&app.url, "/webhooks/docspace").await;
    // Wait until the server has taken the stuck request (the next request is then shed).
    let mut shed = None;
    for _ in 0..200 {
        let resp = app
            .http
            .get(format!("{}/api/v1/jobs", app.url))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("answered, not queued");
        if resp.status() == 503 {
            shed = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resp = shed.expect("a request beyond the cap is shed");
    assert!(resp.headers().get("retry-after").is_some());
    let body: Value = resp.json().await.expect("json error");
    assert_eq!(body["error"]["code"], "overloaded");
    // A webhook turned away is a delivery too: counted as `overloaded`.
    let series = r#"bridge_deliveries_total{source="docspace",outcome="overloaded"}"#;
    let before = sample(&scrape(&app.url).await, series).expect("series from 0");
    let event = docspace_event(880_001, "group.updated", json!({ "id": "g-shed" }));
    assert_eq!(app.post_docspace(&event, None).await.status(), 503);
    let after = sample(&scrape(&app.url).await, series).expect("series");
    assert_eq!(after - before, 1.0, "one shed delivery counted");
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let resp = app
            .http
            .get(format!("{}{probe}", app.url))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("answered");
        assert_eq!(resp.status(), 200, "{probe} is not shed");
    }
    drop(stuck);
}

#[tokio::test]
async fn a_webhook_whose_body_stalls_is_answered_408_and_counted_as_a_timed_out_delivery() {
    let app = spawn_app(|c| c.http.request_timeout = Duration::from_millis(300)).await;
    let series = r#"bridge_deliveries_total{source="dropbox",outcome="timeout"}"#;
    let before = sample(&scrape(&app.url).await, series).expect("series from 0");
    let mut stream = stalled_webhook(&app.url, "/webhooks/dropbox").await;
    let text = read_until_seen(&mut stream, r#""code":"timeout""#, Duration::from_secs(20))
        .await
        .expect("a timeout answer before the connection closes");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{text}"
    );
    let after = sample(&scrape(&app.url).await, series).expect("series");
    assert_eq!(after - before, 1.0, "one timed-out delivery counted");
}

async fn assert_json_error(resp: reqwest::Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let body: Value = resp.json().await.expect("json error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn every_error_is_a_json_body_with_the_right_status() {
    let app = spawn_app(|_| {}).await;
    let auth = format!("Bearer {}", crate::common::API_TOKEN);
    // Wrong method on a known route.
    let resp = app
        .http
        .delete(format!("{}/api/v1/jobs", app.url))
        .header("authorization", &auth)
        .send()
        .await
        .expect("request");
    assert!(resp.headers().get("allow").is_some());
    assert_json_error(resp, 405, "method_not_allowed").await;
    // Unknown route.
    let resp = app
        .http
        .get(format!("{}/no/such/route", app.url))
        .send()
        .await
        .expect("request");
    assert_json_error(resp, 404, "not_found").await;
    // Query string the extractor rejects (a field given twice).
    let resp = app
        .http
        .get(format!("{}/api/v1/jobs?state=dead&state=done", app.url))
        .header("authorization", &auth)
        .send()
        .await
        .expect("request");
    assert_json_error(resp, 400, "bad_request").await;
    // Malformed webhook JSON body.
    let resp = app
        .http
        .post(format!("{}/webhooks/docspace", app.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_client_error());
    let body: Value = resp.json().await.expect("json error body");
    assert!(body["error"]["code"].is_string());
}

/// A webhook body that cannot be read (a malformed chunk) is a bad request, not one over the
/// size limit.
#[tokio::test]
async fn a_webhook_body_that_cannot_be_read_is_400_not_413() {
    let app = spawn_app(|_| {}).await;
    let mut stream = TcpStream::connect(addr(&app.url)).await.expect("connect");
    stream
        .write_all(
            b"POST /webhooks/docspace HTTP/1.1\r\nhost: bridge\r\ncontent-type: application/json\r\n\
              transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        )
        .await
        .expect("write");
    let answer = read_until_seen(&mut stream, "\r\n\r\n", Duration::from_secs(10))
        .await
        .expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(!answer.contains("payload_too_large"), "{answer}");
}
