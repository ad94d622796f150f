//! Wires the pieces into a running service: store, the job context (built once per process),
//! HTTP server, workers, scheduler, pruning, and a graceful shutdown (stop accepting, stop claiming, let
//! running jobs finish, release the rest). [`Application::wait_idle`] tells when the queue is
//! drained.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::jobs::{self, JobContext};
use crate::queue::prune::{run_pruning, Retention};
use crate::queue::scheduler::{run_scheduler, Schedule};
use crate::queue::{run_workers, Idle, Wake};
use crate::store::{self, DynStore};
use crate::telemetry;

/// A started service. Dropping it does not stop it; call [`Application::shutdown`].
pub struct Application {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when `BRIDGE_METRICS_LISTEN` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub store: DynStore,
    wake: Wake,
    /// `None` when this replica runs no workers.
    idle: Option<Idle>,
    shutdown: CancellationToken,
    server: JoinHandle<()>,
    metrics_server: Option<JoinHandle<()>>,
    probe: JoinHandle<()>,
    workers: JoinHandle<()>,
    scheduler: JoinHandle<()>,
    pruning: JoinHandle<()>,
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
        // The first start is when the bridge starts exporting: the file reconcile leaves files
        // changed before it to an explicit backfill.
        let since = jobs::files::exporting_since(&ctx)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the export watermark: {e}"))?;
        tracing::info!(exporting_since = %since, "file reconcile covers files changed since");
        // Installs the recorder first, so that every metric is described before the first
        // scrape and the series that start at 0 are registered with it.
        let _ = telemetry::metrics_handle();
        jobs::register_metrics();
        // Up or not from the start; the probe looks again every DB_PROBE_INTERVAL.
        let db = telemetry::DbHealth::default();
        db.set(telemetry::database_answers(&store).await);
        let state = AppState {
            config: config.clone(),
            store: store.clone(),
            wake: wake.clone(),
            db: db.clone(),
            jobs: ctx.clone(),
        };
        let metrics_listener = match config.metrics_listen {
            Some(at) => Some(
                TcpListener::bind(at)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on {at} for metrics: {e}"))?,
            ),
            None => None,
        };
        let metrics_addr = match &metrics_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let probe = tokio::spawn(telemetry::probe_database(
            store.clone(),
            db,
            telemetry::DB_PROBE_INTERVAL,
            shutdown.clone(),
        ));
        let idle = config.queue.run_workers.then(Idle::default);
        let workers = match &idle {
            Some(idle) => tokio::spawn(run_workers(
                store.clone(),
                ctx,
                config.queue.clone(),
                wake.clone(),
                idle.clone(),
                shutdown.clone(),
            )),
            None => {
                tracing::info!("BRIDGE_WORKERS=false: this replica runs no jobs");
                tokio::spawn(async {})
            }
        };
        let scheduler = if config.queue.run_scheduler {
            tokio::spawn(run_scheduler(
                store.clone(),
                Schedule {
                    reconcile_interval: config.groups.reconcile_interval,
                    files_reconcile_interval: config.export.reconcile_interval,
                    changes_poll_interval: config.queue.changes_poll_interval,
                },
                wake.clone(),
                shutdown.clone(),
            ))
        } else {
            tokio::spawn(async {})
        };
        // Every replica prunes, whether it runs workers and the scheduler or not.
        let pruning = tokio::spawn(run_pruning(
            store.clone(),
            Retention::new(config.http.delivery_retention, config.queue.job_retention),
            shutdown.clone(),
        ));

        let limits = http::server::ServerLimits {
            header_read_timeout: config.http.header_read_timeout,
            idle_timeout: config.http.idle_timeout,
            max_connections: config.http.max_connections,
        };
        let metrics_server = metrics_listener.map(|listener| {
            tokio::spawn(http::server::serve(
                listener,
                http::metrics_router(state.clone()),
                limits,
                shutdown.clone(),
            ))
        });
        let server = tokio::spawn(http::server::serve(
            listener,
            http::router(state),
            limits,
            shutdown.clone(),
        ));
        tracing::info!(%addr, metrics = ?metrics_addr, database = %redact_url(&config.database_url), "bridge listening");
        Ok(Self {
            addr,
            metrics_addr,
            probe,
            metrics_server,
            store,
            wake,
            idle,
            shutdown,
            server,
            workers,
            scheduler,
            pruning,
        })
    }

    /// Waits until the queue is drained: no job queued, running or waiting for a retry, as seen
    /// by this process's workers after the call began (jobs enqueued before it are waited for,
    /// and so are the jobs they enqueue). Returns at once when this replica runs no workers.
    pub async fn wait_idle(&self) {
        if let Some(idle) = &self.idle {
            idle.wait(&self.wake).await;
        }
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
        if let Some(metrics) = self.metrics_server {
            let _ = metrics.await;
        }
        let _ = self.probe.await;
        let _ = self.scheduler.await;
        let _ = self.pruning.await;
        let _ = self.workers.await;
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
pub async fn wait_for_signal() {
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
    const HIDDEN: &str = "***";
    let Ok(mut u) = url::Url::parse(url) else {
        // Not a URL the parser takes (a port out of range, say): where a password would be
        // cannot be told, so only the scheme is shown.
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        return format!("{scheme}:{HIDDEN} (not a valid URL)");
    };
    if u.password().is_some() {
        let _ = u.set_password(Some(HIDDEN));
    }
    // libpq and sqlx also take the password as a query parameter (`?password=`).
    if u.query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    HIDDEN.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}
