//! Integration tests: the real service started per test against the stand-ins, driven through
//! HTTP and the CLI. One binary, one module per area.

mod client_support;
mod common;

mod api;
mod changes;
mod cli_check;
#[cfg(feature = "demo")]
mod cli_demo;
#[cfg(not(feature = "demo"))]
mod cli_no_demo;
mod client_docspace;
mod client_dropbox;
mod client_dropbox_upload;
mod database_errors;
mod export;
mod faults;
mod files;
mod groups;
mod hostile;
mod leases;
mod openapi;
mod operators;
mod own_events;
mod page;
mod process;
mod providers;
mod replicas;
mod retention;
mod sqlite_writer;
mod store;
mod webhooks;
