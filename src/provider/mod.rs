//! What every provider client shares, whichever provider it talks to: the HTTP client they send
//! through, which follows no redirects ([`http_client`]), the provider-wide pause a `429` puts on
//! every caller ([`Pacer`]), the bounded in-client retry policy ([`RetryPolicy`]) and the
//! rate-limit headers it obeys (`Retry-After`, `X-RateLimit-Reset`), the redaction of secrets and
//! URLs from provider text that ends up in errors ([`redact`]), per-request metrics
//! ([`record`]), and the worker slot a run lends out while it only waits on a provider ([`slot`]).
//!
//! It knows nothing of routes, wire formats or credentials: the DocSpace and Dropbox clients each
//! own one [`Pacer`] and one [`RetryPolicy`] and route every outgoing request through them.

mod http;
mod metrics;
mod pacer;
mod redact;
mod retry;
pub mod slot;

pub use self::http::{http_client, http_client_builder};
pub use self::metrics::record;
pub use pacer::Pacer;
pub use redact::{describe_reqwest, error_chain, redact};
pub use retry::{ratelimit_reset_header, retry_after_header, RetryPolicy, MAX_RESET_WAIT};
