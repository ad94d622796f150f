//! docspace-dropbox-bridge: keeps Dropbox in step with an ONLYOFFICE DocSpace portal.
//!
//! Layout (code flows one way: `http` → `store`; `queue` → `jobs` → clients):
//! - [`config`]: typed configuration, validated once.
//! - [`docspace`], [`dropbox`]: provider clients (auth, retries, pacing, wire types).
//! - [`http`]: webhook receivers and the operator API; they build jobs from the typed kinds of
//!   [`jobs::kinds`] and enqueue them through [`store`].
//! - [`queue`]: the worker runtime (claim, lease, retry) and the periodic scheduler.
//! - [`jobs`]: one typed unit per job kind, the work behind them, and the per-process
//!   [`jobs::JobContext`].
//! - [`app`]: wires everything into a running service.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod docspace;
pub mod dropbox;
pub mod http;
pub mod jobs;
pub mod pacing;
pub mod queue;
pub mod signature;
pub mod store;
pub mod telemetry;
