//! A stateful fake of the Dropbox API v2 for integration tests, benchmarks and the demo.
//!
//! It runs two real HTTP servers on loopback, standing in for `api.dropboxapi.com` (RPC routes,
//! `/oauth2/token`, and the `/_fake/…` control API) and `content.dropboxapi.com` (upload-style
//! routes). It speaks the Dropbox API v2 wire formats field for field: Stone
//! unions with `.tag`, header-safe `Dropbox-API-Arg`, 400 plain text / 401 `AuthError` / 409
//! route errors / 422 `PathRootError` / 429 `RateLimitError` with `Retry-After`. Each route
//! needs its OAuth scope; with `Knobs::granted_scopes` set, a route outside them answers 401
//! `missing_scope` naming the `required_scope`, as for an app whose Permissions tab lacks it.
//!
//! The tree keeps metadata only (size, rev, content hash, timestamps), never file bytes, so
//! multi-GiB uploads cost a few KiB of memory.
//!
//! Module map: `server` (routing and the per-call pipeline), `auth` (token endpoint, bearer
//! check), `routes_files` / `routes_upload` / `routes_sharing` (handlers), `args` (wire
//! arguments), `state` + `tree` + `sharing` + `sessions` (the account's state and rules),
//! `hash` (content hash), `paths` (path/name/e-mail/timestamp rules), `error` (responses),
//! `knobs` (fault injection, counters), `handle` (test control surface), `control` (`/_fake`),
//! `webhook` (signed change notifications).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use bridge_fakes::dropbox::{DropboxOptions, FakeDropbox};
//! let fake = FakeDropbox::start(DropboxOptions::default()).await?;
//! let api = fake.api_url();          // RPC host; token endpoint at {api}/oauth2/token
//! let content = fake.content_url();  // content host
//! fake.set_rate_limit(0.1, 2);       // knobs via Deref to FakeDropboxHandle
//! # let _ = (api, content); Ok(()) }
//! ```

mod args;
mod auth;
mod control;
mod error;
mod handle;
pub mod hash;
mod knobs;
mod model;
pub mod paths;
mod routes_files;
mod routes_sharing;
mod routes_upload;
mod server;
mod sessions;
mod sharing;
mod state;
mod tree;
mod webhook;

use std::net::SocketAddr;
use std::ops::Deref;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::RateLimitReason;
pub use handle::FakeDropboxHandle;
pub use hash::{content_hash, ContentHasher, BLOCK_SIZE};
pub use knobs::WRITE_ROUTES;
pub use model::{
    AccessError, AccessLevel, DropboxOptions, Fault, FileInfo, InviteeInfo, Knobs, MemberError,
    MemberInfo, MountError, SharedFolderInfo, TreeEntry,
};
pub use server::{all_scopes, route_names};
pub use sessions::{MAX_REQUEST_BYTES, MAX_SESSION_SIZE};
pub use state::account_id_for;
pub use webhook::{sign as webhook_signature, WebhookNotification};

/// A running fake Dropbox. Dropping it stops both servers. Derefs to [`FakeDropboxHandle`] for
/// knobs, counters, inspection and state mutators.
pub struct FakeDropbox {
    handle: FakeDropboxHandle,
    api_addr: SocketAddr,
    content_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    options: DropboxOptions,
}

/// Starts a fake Dropbox (same as [`FakeDropbox::start`]); the entry point for the
/// `bridge-fakes` binary.
pub async fn start(opts: DropboxOptions) -> std::io::Result<FakeDropbox> {
    FakeDropbox::start(opts).await
}

impl FakeDropbox {
    /// Binds the RPC and content hosts on `127.0.0.1:0` and serves them on tokio tasks.
    pub async fn start(opts: DropboxOptions) -> std::io::Result<FakeDropbox> {
        let shared = server::Shared::new(&opts);
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let content = TcpListener::bind("127.0.0.1:0").await?;
        let (api_addr, content_addr) = (api.local_addr()?, content.local_addr()?);
        let (stop, stopped) = watch::channel(false);
        let serve =
            |listener: TcpListener, router: axum::Router, mut stopped: watch::Receiver<bool>| {
                tokio::spawn(async move {
                    let shutdown = async move {
                        while !*stopped.borrow() {
                            if stopped.changed().await.is_err() {
                                break;
                            }
                        }
                    };
                    if let Err(e) = axum::serve(listener, router)
                        .with_graceful_shutdown(shutdown)
                        .await
                    {
                        tracing::warn!(error = %e, "fake dropbox server stopped");
                    }
                })
            };
        let tasks = vec![
            serve(api, server::api_router(shared.clone()), stopped.clone()),
            serve(content, server::content_router(shared.clone()), stopped),
        ];
        Ok(FakeDropbox {
            handle: FakeDropboxHandle { shared },
            api_addr,
            content_addr,
            stop,
            tasks,
            options: opts,
        })
    }

    /// RPC host origin, e.g. `http://127.0.0.1:41234` (no trailing slash). The token endpoint
    /// is `{api_url}/oauth2/token`, the control API `{api_url}/_fake/…`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// Content host origin, e.g. `http://127.0.0.1:41235`.
    pub fn content_url(&self) -> String {
        format!("http://{}", self.content_addr)
    }

    /// The options it was started with (app key/secret, refresh token, owner, static tokens).
    pub fn options(&self) -> &DropboxOptions {
        &self.options
    }

    /// A cloneable control handle that outlives borrows of `self`.
    pub fn handle(&self) -> FakeDropboxHandle {
        self.handle.clone()
    }

    /// Stops both servers gracefully and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Deref for FakeDropbox {
    type Target = FakeDropboxHandle;
    fn deref(&self) -> &FakeDropboxHandle {
        &self.handle
    }
}

impl Drop for FakeDropbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
