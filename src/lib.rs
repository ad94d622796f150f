//! docspace-dropbox-bridge: keeps Dropbox in step with an ONLYOFFICE DocSpace portal.
//!
//! Layout (code flows one way: `http` → `store`; `queue` → `jobs` → clients; README's "Where
//! things are" says what each module must not import):
//! - [`config`]: typed configuration in sections, validated once; each section goes to its owner.
//! - [`app`]: wires store, job context, HTTP server, workers and scheduler into a running service.
//! - [`http`]: webhook receivers, the operator API, health and metrics; they build jobs from the
//!   typed kinds of [`jobs::kinds`] and enqueue them through [`store`].
//! - [`signature`]: HMAC verification of both providers' webhooks.
//! - [`store`]: durable jobs, deliveries and mappings (SQLite or PostgreSQL); imports no other
//!   module of the crate.
//! - [`queue`]: the worker runtime (claim, lease, retry, idle signal) and the scheduler of
//!   periodic jobs.
//! - [`jobs`]: one typed unit per job kind ([`jobs::kinds`]), the work behind them, and the
//!   per-process [`jobs::JobContext`].
//! - [`docspace`], [`dropbox`]: provider clients (auth, routes, wire types, errors); they know
//!   nothing of jobs, the store or HTTP.
//! - [`provider`]: what both clients share: the HTTP client (follows no redirects), provider-wide
//!   pause, retries, redaction, metrics.
//! - [`cli`], [`commands`]: the command line and its one-shot subcommands.
//! - [`telemetry`]: logging and the metrics recorder.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod docspace;
pub mod dropbox;
pub mod http;
pub mod jobs;
pub mod provider;
pub mod queue;
pub mod signature;
pub mod store;
pub mod telemetry;
