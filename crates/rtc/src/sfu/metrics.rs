//! The SFU's figures for `/metrics`.

use cunlink_core::metrics::{Counter, Gauge};

#[derive(Default)]
pub struct SfuMetrics {
    /// Live classes with at least one session.
    pub rooms: Gauge,
    /// Sessions (teachers and classrooms) in all live classes.
    pub sessions: Gauge,
    /// Media frames written to a subscriber (one per frame and subscriber).
    pub forwarded: Counter,
    /// Payload bytes of those frames.
    pub forwarded_bytes: Counter,
    /// Times a classroom was moved to another simulcast layer.
    pub layer_switches: Counter,
    /// Events or frames dropped: the forwarding queue was full or a write failed.
    pub dropped: Counter,
    /// Refused joins (bad offer, full class, busy server).
    pub rejected: Counter,
}

impl SfuMetrics {
    /// Render as `{prefix}_rooms`, `{prefix}_sessions`, … (e.g. `cunlink_school_live`).
    pub fn render(&self, out: &mut String, prefix: &str) {
        self.rooms.render(
            out,
            &format!("{prefix}_rooms"),
            "Live classes with sessions.",
        );
        self.sessions.render(
            out,
            &format!("{prefix}_sessions"),
            "Sessions in live classes.",
        );
        self.forwarded.render(
            out,
            &format!("{prefix}_forwarded_frames_total"),
            "Media frames forwarded to subscribers.",
        );
        self.forwarded_bytes.render(
            out,
            &format!("{prefix}_forwarded_bytes_total"),
            "Media payload bytes forwarded.",
        );
        self.layer_switches.render(
            out,
            &format!("{prefix}_layer_switches_total"),
            "Simulcast layer changes of classrooms.",
        );
        self.dropped.render(
            out,
            &format!("{prefix}_dropped_total"),
            "Frames or events dropped (full queue, failed write).",
        );
        self.rejected.render(
            out,
            &format!("{prefix}_rejected_total"),
            "Refused joins (bad offer, full class, busy).",
        );
    }
}
