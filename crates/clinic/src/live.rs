//! Queue changes for live pages: after a consult's state changed and committed,
//! its department's queue pages reload their rows (SSE).

use tokio::sync::broadcast;

/// A consult of `department_id` changed state.
#[derive(Debug, Clone, Copy)]
pub struct QueueChange {
    pub department_id: i64,
    pub consult_id: i64,
}

/// The channel; a slow page only misses changes (it reloads all rows anyway).
pub struct Live {
    tx: broadcast::Sender<QueueChange>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            tx: broadcast::channel(256).0,
        }
    }
}

impl Live {
    pub fn send(&self, c: QueueChange) {
        // No page listening is fine.
        let _ = self.tx.send(c);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<QueueChange> {
        self.tx.subscribe()
    }
}
