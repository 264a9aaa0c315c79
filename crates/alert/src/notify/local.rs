//! The local channel: notifications over the village's own network.
//!
//! Web Push needs the browser vendor's push service, out on the internet: a
//! village node whose link is down cannot reach it, and many phones sold in
//! China have no such service at all. So every signed-in page also keeps
//! `GET /api/me/notifications/live` open (SSE) and the service worker shows each
//! `notify` event as a system notification with the push's own payload and tag
//! (a push that arrives later replaces it rather than ringing twice).
//!
//! It reaches a phone while the app is open (or its page still lives in the
//! background); the outbox keeps the push for the rest. It is sent when the
//! push would be due: a user's quiet hours hold back a non-critical alarm here
//! too, and it is not sent again when they end (the inbox and the feed have it).

use std::sync::{Arc, Mutex};

use cunlink_core::sql::Connection;
use cunlink_core::time::now_ms;
use tokio::sync::broadcast;

/// One notification for one user: the Web Push payload (`title`, `body`,
/// `url`, `tag`).
#[derive(Debug, Clone)]
pub struct LocalNotice {
    pub user_id: i64,
    pub payload: String,
}

/// A user among an alarm's audience who hears it on the local channel.
#[derive(Debug, Clone)]
pub struct Listener {
    pub user_id: i64,
    pub locale: String,
    /// When the push would be due (quiet hours).
    pub due_at: i64,
}

/// A notice of another domain, written inside the caller's transaction and
/// sent once its feed row is seen committed.
struct Held {
    feed_id: i64,
    created_at: i64,
    notice: LocalNotice,
}

/// Notices held longer than this were rolled back (or never woken): dropped.
const HOLD_MS: i64 = 30_000;
/// A bound on held notices, whatever the callers do.
const MAX_HELD: usize = 10_000;
/// Events a slow listener may fall behind before it misses some.
const BACKLOG: usize = 256;

pub struct Local {
    tx: broadcast::Sender<Arc<LocalNotice>>,
    held: Mutex<Vec<Held>>,
}

impl Default for Local {
    fn default() -> Self {
        Local {
            tx: broadcast::channel(BACKLOG).0,
            held: Mutex::new(Vec::new()),
        }
    }
}

impl Local {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LocalNotice>> {
        self.tx.subscribe()
    }

    /// Send now (the caller has committed what it announces).
    pub fn send(&self, n: LocalNotice) {
        // No page listening is the normal case, not an error.
        let _ = self.tx.send(Arc::new(n));
    }

    /// Keep `notice` until feed row `feed_id` (created at `created_at`) is seen
    /// committed by [`Local::release`].
    pub fn hold(&self, feed_id: i64, created_at: i64, notice: LocalNotice) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.len() >= MAX_HELD {
            held.remove(0);
        }
        held.push(Held {
            feed_id,
            created_at,
            notice,
        });
    }

    pub fn has_held(&self) -> bool {
        !self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Send the held notices whose feed rows are committed; keep the others a
    /// while (their transaction may still be open), then drop them.
    pub fn release(&self, conn: &Connection) -> cunlink_core::sql::Result<()> {
        let held: Vec<Held> =
            std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        if held.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut st = conn.prepare_cached(
            "SELECT count(*) FROM alert_feed WHERE id = $1 AND user_id = $2 AND created_at = $3",
        )?;
        let mut keep = Vec::new();
        for h in held {
            let n: i64 = st.query_row(
                cunlink_core::sql::params![h.feed_id, h.notice.user_id, h.created_at],
                |r| r.get(0),
            )?;
            if n == 1 {
                self.send(h.notice);
            } else if now - h.created_at < HOLD_MS {
                keep.push(h);
            }
        }
        if !keep.is_empty() {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            keep.append(&mut held);
            *held = keep;
        }
        Ok(())
    }
}
