//! [`Pacer`]: the process-wide "paused until" instant of one provider. A `429` with
//! `Retry-After` seen by any caller pauses every caller of that provider.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Longest pause a single `Retry-After` may impose on a provider. A provider asking for more is
/// still obeyed up to this bound; the call then fails and the job queue reschedules it.
const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// A provider-wide gate. When one call learns that the provider wants a break (`429` with
/// `Retry-After`), it calls [`Pacer::pause_for`]; every call, from any task, awaits
/// [`Pacer::ready`] before sending, so the whole process backs off, not only the unlucky caller.
#[derive(Debug)]
pub struct Pacer {
    provider: &'static str,
    paused_until: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(provider: &'static str) -> Self {
        Self {
            provider,
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until no pause is in force. Re-checks after sleeping because another caller may have
    /// extended the pause meanwhile.
    pub async fn ready(&self) {
        loop {
            let until = match self.paused_until.lock() {
                Ok(g) => *g,
                Err(p) => *p.into_inner(),
            };
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    /// Pauses the provider for `d` from now (capped at one hour); never shortens a longer pause.
    pub fn pause_for(&self, d: Duration) {
        let d = d.min(MAX_PAUSE);
        let until = Instant::now() + d;
        let mut g = match self.paused_until.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.is_none_or(|cur| cur < until) {
            *g = Some(until);
            metrics::counter!("bridge_provider_pauses_total", "provider" => self.provider)
                .increment(1);
            tracing::warn!(
                provider = self.provider,
                pause_ms = d.as_millis() as u64,
                "provider asked us to slow down; pausing all calls"
            );
        }
    }

    /// Time left in the current pause, if any.
    pub fn remaining(&self) -> Option<Duration> {
        let g = match self.paused_until.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        g.and_then(|t| t.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pause_holds_every_caller_and_never_shortens() {
        let p = std::sync::Arc::new(Pacer::new("test"));
        p.pause_for(Duration::from_millis(300));
        p.pause_for(Duration::from_millis(50));
        let start = Instant::now();
        let wait = |p: std::sync::Arc<Pacer>| async move {
            p.ready().await;
            Instant::now()
        };
        let (a, b) = tokio::join!(wait(p.clone()), wait(p.clone()));
        assert!(a - start >= Duration::from_millis(280));
        assert!(b - start >= Duration::from_millis(280));
        assert!(p.remaining().is_none());
    }
}
