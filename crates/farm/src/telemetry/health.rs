//! Whether the telemetry writer is doing its job, for `/healthz`, `/metrics` and
//! the process supervisor.
//!
//! Policy: a failed commit is reported to its senders (HTTP 5xx, MQTT no PUBACK),
//! who retry; while the latest commit failed, health is 503. When commits have
//! failed without a success for `writer_give_up_secs`, or the writer thread
//! panics, the writer is *down*: health says so and [`WriterHealth::wait_down`]
//! resolves, on which the binary shuts down and exits non-zero so that systemd
//! (`Restart=on-failure`) starts it again on a freshly opened store. Restarting the
//! thread in place was not chosen: the state it left (in-memory buffers, a
//! poisoned lock after a panic) cannot be trusted, and a restart replays the log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use cunlink_core::time::now_ms;

/// What `/healthz` reports about the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterState {
    Ok,
    /// The latest commit failed; commits have failed since `since_ms`.
    Failing {
        since_ms: i64,
        error: String,
    },
    /// The writer stopped; the process is exiting.
    Down {
        reason: String,
    },
}

pub struct WriterHealth {
    /// Wall clock (ms) of the first failure of the current run; 0 when the last commit succeeded.
    failing_since: AtomicI64,
    last_error: Mutex<String>,
    down: watch::Sender<Option<String>>,
}

impl Default for WriterHealth {
    fn default() -> Self {
        WriterHealth {
            failing_since: AtomicI64::new(0),
            last_error: Mutex::new(String::new()),
            down: watch::channel(None).0,
        }
    }
}

impl WriterHealth {
    pub fn committed(&self) {
        self.failing_since.store(0, Ordering::Relaxed);
    }

    /// Record a failed commit. Returns true when failures have lasted `give_up`.
    pub fn failed(&self, error: &str, give_up: Duration) -> bool {
        let now = now_ms();
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error.to_string();
        let since =
            match self
                .failing_since
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => now,
                Err(earlier) => earlier,
            };
        now.saturating_sub(since) >= give_up.as_millis() as i64
    }

    /// The writer stopped for good.
    pub fn mark_down(&self, reason: String) {
        self.down.send_replace(Some(reason));
    }

    pub fn state(&self) -> WriterState {
        if let Some(reason) = self.down.borrow().clone() {
            return WriterState::Down { reason };
        }
        match self.failing_since.load(Ordering::Relaxed) {
            0 => WriterState::Ok,
            since_ms => WriterState::Failing {
                since_ms,
                error: self
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
            },
        }
    }

    /// Resolves with the reason once the writer is down.
    pub async fn wait_down(&self) -> String {
        let mut rx = self.down.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or_default(),
            // The sender lives in `self`, so it cannot be gone while we borrow it.
            Err(_) => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_until_a_commit_succeeds_and_gives_up_after_the_window() {
        let h = WriterHealth::default();
        assert_eq!(h.state(), WriterState::Ok);
        assert!(!h.failed("disk I/O error", Duration::from_secs(60)));
        assert!(
            matches!(h.state(), WriterState::Failing { ref error, .. } if error == "disk I/O error")
        );
        assert!(h.failed("disk I/O error", Duration::ZERO));
        h.committed();
        assert_eq!(h.state(), WriterState::Ok);
        h.mark_down("gave up".into());
        assert_eq!(
            h.state(),
            WriterState::Down {
                reason: "gave up".into()
            }
        );
    }
}
