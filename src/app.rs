//! Wires the pieces into a running service: store, HTTP server, workers, scheduler, and a
//! graceful shutdown (stop accepting, stop claiming, let running jobs finish, release the rest).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::jobs::JobContext;
use crate::queue::scheduler::{run_scheduler, Schedule};
use crate::queue::{run_workers, Wake};
use crate::store::{self, DynStore};
use crate::telemetry;

/// A started service. Dropping it does not stop it; call [`Application::shutdown`].
pub struct Application {
    pub addr: SocketAddr,
    pub store: DynStore,
    shutdown: CancellationToken,
    server: JoinHandle<()>,
    workers: JoinHandle<()>,
    scheduler: JoinHandle<()>,
}

impl Application {
    /// Opens the store (running migrations), binds the listener and starts everything.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let store = store::connect(&config.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open database: {e}"))?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        Self::start_with(config, store, listener).await
    }

    pub async fn start_with(
        config: Config,
        store: DynStore,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let config = Arc::new(config);
        let shutdown = CancellationToken::new();
        let wake = Wake::default();
        let ctx = Arc::new(JobContext::new(config.clone(), store.clone()));
        let state = AppState {
            config: config.clone(),
            store: store.clone(),
            wake: wake.clone(),
            metrics: telemetry::metrics_handle(),
            self_user: Arc::new(RwLock::new(None)),
        };

        tokio::spawn(learn_self_user(
            ctx.clone(),
            state.self_user.clone(),
            shutdown.clone(),
        ));
        let workers = if config.queue.run_workers {
            tokio::spawn(run_workers(
                store.clone(),
                ctx,
                config.queue.clone(),
                wake.clone(),
                shutdown.clone(),
            ))
        } else {
            tracing::info!("BRIDGE_WORKERS=false: this replica runs no jobs");
            tokio::spawn(async {})
        };
        let scheduler = if config.queue.run_scheduler {
            tokio::spawn(run_scheduler(
                store.clone(),
                Schedule {
                    reconcile_interval: config.groups.reconcile_interval,
                    changes_poll_interval: config.queue.changes_poll_interval,
                    delivery_retention: config.http.delivery_retention,
                },
                wake,
                shutdown.clone(),
            ))
        } else {
            tokio::spawn(async {})
        };

        let router = http::router(state);
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            let res = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%addr, database = %redact_url(&config.database_url), "bridge listening");
        Ok(Self {
            addr,
            store,
            shutdown,
            server,
            workers,
            scheduler,
        })
    }

    /// Cancels on SIGTERM / SIGINT, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        self.shutdown().await;
    }

    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
        let _ = self.scheduler.await;
        let _ = self.workers.await;
    }
}

/// Learns which DocSpace user the API key acts as, for the webhook loop guard. Retries with
/// backoff while DocSpace is unreachable; until then file jobs apply the guard themselves.
async fn learn_self_user(
    ctx: Arc<JobContext>,
    slot: Arc<RwLock<Option<String>>>,
    stop: CancellationToken,
) {
    let mut delay = std::time::Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            me = ctx.docspace.me() => match me {
                Ok(user) => {
                    tracing::info!(user = %user.id, "DocSpace API key acts as this user; its events are ignored");
                    if let Ok(mut g) = slot.write() {
                        *g = Some(user.id);
                    }
                    return;
                }
                Err(e) => tracing::warn!(error = %e, retry_in = ?delay, "cannot read the DocSpace API key's user yet"),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(300));
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
