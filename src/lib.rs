//! docspace-dropbox-bridge: keeps Dropbox in step with an ONLYOFFICE DocSpace portal.
//!
//! Layout (code flows one way: `http` → `store`; `queue` → `jobs` → clients):
//! - [`config`]: typed configuration, validated once.
//! - [`docspace`], [`dropbox`]: provider clients (auth, retries, pacing, wire types).

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
pub mod triggers;
