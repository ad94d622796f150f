//! What every provider client shares, whichever provider it talks to: the provider-wide pause a
//! `429`/`Retry-After` puts on every caller ([`Pacer`]), the bounded in-client retry policy
//! ([`RetryPolicy`]) and the `Retry-After` header it obeys, the redaction of secrets and URLs from
//! provider text that ends up in errors ([`redact`]), and per-request metrics ([`record`]).
//!
//! It knows nothing of routes, wire formats or credentials: the DocSpace and Dropbox clients each
//! own one [`Pacer`] and one [`RetryPolicy`] and route every outgoing request through them.

mod metrics;
mod pacer;
mod redact;
mod retry;

pub use self::metrics::record;
pub use pacer::Pacer;
pub use redact::{describe_reqwest, error_chain, redact};
pub use retry::{retry_after_header, RetryPolicy};
