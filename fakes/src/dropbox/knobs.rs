//! Fault injection and call accounting: scripted failures (`fail_next`), seeded random 429/5xx,
//! the concurrency cap, and per-route call counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::error::{ApiError, RateLimitReason};
use super::model::{Fault, Knobs};

/// Routes that write to the namespace (what `total_write_calls` sums). Data-transfer calls
/// (`upload_session/start`, `append_v2`) take no namespace lock and are not counted.
pub const WRITE_ROUTES: &[&str] = &[
    "files/create_folder_v2",
    "files/move_v2",
    "files/delete_v2",
    "files/upload",
    "files/upload_session/finish",
    "files/upload_session/finish_batch_v2",
    "sharing/share_folder",
    "sharing/add_folder_member",
    "sharing/remove_folder_member",
    "sharing/update_folder_member",
    "sharing/unshare_folder",
    "sharing/mount_folder",
    "sharing/unmount_folder",
];

pub(crate) struct FaultBox {
    rng: StdRng,
    /// (route or `*`, fault, remaining count)
    scripted: Vec<(String, Fault, u32)>,
}

impl FaultBox {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            scripted: Vec::new(),
        }
    }

    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }

    pub fn push(&mut self, route: &str, fault: Fault, times: u32) {
        if times > 0 {
            self.scripted.push((route.to_string(), fault, times));
        }
    }

    pub fn clear(&mut self) {
        self.scripted.clear();
    }

    /// The next scripted fault for this route, if any (`*` matches when `wildcard`).
    pub fn pick_scripted(&mut self, route: &str, wildcard: bool) -> Option<ApiError> {
        let fault = self.take(|r, f| {
            (r == route || (wildcard && r == "*")) && !matches!(f, Fault::ResponseLost { .. })
        })?;
        Some(fault_error(&fault))
    }

    /// The status that replaces this call's answer after it is carried out, if a
    /// [`Fault::ResponseLost`] is scripted for the route.
    pub fn take_lost(&mut self, route: &str) -> Option<u16> {
        match self.take(|r, f| r == route && matches!(f, Fault::ResponseLost { .. }))? {
            Fault::ResponseLost { status } => Some(status),
            _ => None,
        }
    }

    /// Uses up one of the first scripted fault that `matches` (route, fault).
    fn take(&mut self, matches: impl Fn(&str, &Fault) -> bool) -> Option<Fault> {
        let pos = self.scripted.iter().position(|(r, f, _)| matches(r, f))?;
        let fault = self.scripted[pos].1.clone();
        self.scripted[pos].2 -= 1;
        if self.scripted[pos].2 == 0 {
            self.scripted.remove(pos);
        }
        Some(fault)
    }

    /// The fault to apply to this call, if any: scripted ones first, then the random rates.
    pub fn pick(&mut self, route: &str, knobs: &Knobs) -> Option<ApiError> {
        if let Some(err) = self.pick_scripted(route, true) {
            return Some(err);
        }
        if knobs.rate_limit_rate > 0.0 && self.rng.gen::<f64>() < knobs.rate_limit_rate {
            return Some(ApiError::RateLimited {
                reason: knobs.rate_limit_reason,
                retry_after: knobs.retry_after_secs,
                plain_text: knobs.rate_limit_plain_text,
            });
        }
        if knobs.server_error_rate > 0.0 && self.rng.gen::<f64>() < knobs.server_error_rate {
            return Some(ApiError::Server(knobs.server_error_status));
        }
        None
    }
}

fn fault_error(f: &Fault) -> ApiError {
    match *f {
        Fault::RateLimit { retry_after } => ApiError::RateLimited {
            reason: RateLimitReason::TooManyRequests,
            retry_after,
            plain_text: false,
        },
        Fault::WriteContention { retry_after } => ApiError::RateLimited {
            reason: RateLimitReason::TooManyWriteOperations,
            retry_after,
            plain_text: false,
        },
        Fault::RateLimitPlainText { retry_after } => ApiError::RateLimited {
            reason: RateLimitReason::TooManyRequests,
            retry_after,
            plain_text: true,
        },
        Fault::ServerError { status } => ApiError::Server(status),
        Fault::ExpiredToken => ApiError::Auth("expired_access_token"),
        // Never picked before the call (see `take_lost`).
        Fault::ResponseLost { status } => ApiError::Server(status),
    }
}

/// Calls received per route, and how many of them succeeded.
#[derive(Default, Clone, Debug)]
pub(crate) struct Counters {
    pub calls: BTreeMap<String, u64>,
    pub ok: BTreeMap<String, u64>,
}

/// Decrements the in-flight count when a call ends, however it ends.
pub(crate) struct InflightGuard<'a>(&'a AtomicUsize);

impl<'a> InflightGuard<'a> {
    /// Registers a call; returns the guard and the number now in flight (this one included).
    pub fn enter(counter: &'a AtomicUsize) -> (Self, usize) {
        let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
        (Self(counter), now)
    }
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_faults_run_out_and_rates_are_seeded() {
        let mut fb = FaultBox::new(1);
        fb.push("files/upload", Fault::ServerError { status: 503 }, 2);
        let knobs = Knobs::default();
        assert!(matches!(
            fb.pick("files/upload", &knobs),
            Some(ApiError::Server(503))
        ));
        assert!(fb.pick("files/list_folder", &knobs).is_none());
        assert!(matches!(
            fb.pick("files/upload", &knobs),
            Some(ApiError::Server(503))
        ));
        assert!(fb.pick("files/upload", &knobs).is_none());

        let knobs = Knobs {
            rate_limit_rate: 0.5,
            ..Knobs::default()
        };
        let run = |seed| {
            let mut fb = FaultBox::new(seed);
            (0..64)
                .map(|_| fb.pick("x", &knobs).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let hits = run(7).iter().filter(|b| **b).count();
        assert!((10..54).contains(&hits), "{hits}");
    }
}
