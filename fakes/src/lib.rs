//! Stateful stand-ins of the ONLYOFFICE DocSpace and Dropbox HTTP APIs, for tests, benchmarks and
//! `docspace-dropbox-bridge demo`. Each runs as a real HTTP server on an ephemeral loopback port and
//! speaks the providers' wire formats (envelopes, status codes, error bodies and tags).

pub mod docspace;
pub mod dropbox;
pub mod webhooks;
