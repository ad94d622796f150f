//! A loopback origin that speaks plain HTTP and TLS on the same port (it looks at the first byte
//! of each connection), so that `http://127.0.0.1:P` and `https://127.0.0.1:P` differ only by
//! scheme, the one origin change reqwest's own redirect handling keeps `Authorization` across.
//! It answers each path from a fixed table and records, per request, the scheme, the path and
//! whether `Authorization` came along. The certificate (`loopback-*.pem`, self-signed for
//! 127.0.0.1, CA:FALSE) exists for this server only; clients accept it without verifying.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server answers for a path.
#[derive(Clone, Debug)]
pub enum Reply {
    /// `302 Found` with this `Location` (`{port}` is replaced by the server's port).
    Redirect(String),
    /// `200 OK` with this body.
    Body(&'static [u8]),
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub tls: bool,
    pub path: String,
    pub authorization: bool,
}

pub struct TwoFaced {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TwoFaced {
    pub async fn start(replies: &[(&str, Reply)]) -> TwoFaced {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let replies: Arc<HashMap<String, Reply>> = Arc::new(
            replies
                .iter()
                .map(|(p, r)| (p.to_string(), r.clone()))
                .collect(),
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tls_acceptor();
        let (replies2, seen2) = (replies.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (replies, seen, acceptor) = (replies2.clone(), seen2.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let mut first = [0u8; 1];
                    if stream.peek(&mut first).await.unwrap_or(0) == 0 {
                        return;
                    }
                    // 0x16: a TLS handshake record.
                    if first[0] == 0x16 {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            serve(tls, true, port, &replies, &seen).await;
                        }
                    } else {
                        serve(stream, false, port, &replies, &seen).await;
                    }
                });
            }
        });
        TwoFaced { port, seen }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn https(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(include_bytes!("loopback-cert.pem"))
            .collect::<Result<_, _>>()
            .expect("test certificate");
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("loopback-key.pem")).expect("test key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Reads one request head, records it, answers from the table and closes the connection.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    tls: bool,
    port: u16,
    replies: &HashMap<String, Reply>,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let authorization = lines.any(|l| l.to_ascii_lowercase().starts_with("authorization:"));
    if let Ok(mut seen) = seen.lock() {
        seen.push(Seen {
            tls,
            path: path.clone(),
            authorization,
        });
    }
    let bare = path.split('?').next().unwrap_or("");
    let (status, extra, body): (&str, String, &[u8]) = match replies.get(bare) {
        Some(Reply::Redirect(to)) => (
            "302 Found",
            format!("Location: {}\r\n", to.replace("{port}", &port.to_string())),
            b"",
        ),
        Some(Reply::Body(b)) => ("200 OK", String::new(), b),
        None => ("404 Not Found", String::new(), b""),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.write_all(body).await;
    let _ = s.shutdown().await;
}
