//! The domain's clock. Feedback escalation (2 days unacknowledged, 15 days
//! unresolved) and vote closing are decided against [`Clock::now`]; the
//! background task runs the escalation pass once a minute with it.
//!
//! Tests move the clock forward with [`Clock::advance`] on the running
//! server's handle (`Server::affairs`) and then run the same pass the task
//! runs (`Affairs::escalate_now`); nothing sleeps. There is deliberately no
//! HTTP route that moves the clock.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Milliseconds since the epoch, as the domain sees them.
    pub fn now(&self) -> i64 {
        cunlink_core::time::now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Move the domain's time forward by `ms` (tests, drills).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }
}
