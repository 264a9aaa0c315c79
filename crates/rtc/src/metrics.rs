//! The hub's counters for `/metrics`, rendered under the owning domain's prefix.

use cunlink_core::metrics::{Counter, Gauge};

#[derive(Default)]
pub struct HubMetrics {
    /// Rooms with at least one member.
    pub rooms: Gauge,
    /// Members in all rooms.
    pub members: Gauge,
    /// Messages relayed (each counted once, however many received it).
    pub messages: Counter,
    /// Members dropped because their queue was full.
    pub dropped: Counter,
    /// Joins refused (room full or too many rooms) and bad room tokens.
    pub rejected: Counter,
}

impl HubMetrics {
    /// Render as `{prefix}_rooms`, `{prefix}_members`, … (e.g. `cunlink_clinic_call`).
    pub fn render(&self, out: &mut String, prefix: &str) {
        self.rooms
            .render(out, &format!("{prefix}_rooms"), "Call rooms with members.");
        self.members
            .render(out, &format!("{prefix}_members"), "Members in call rooms.");
        self.messages.render(
            out,
            &format!("{prefix}_messages_total"),
            "Signaling messages relayed.",
        );
        self.dropped.render(
            out,
            &format!("{prefix}_dropped_total"),
            "Members dropped for not reading their signaling messages.",
        );
        self.rejected.render(
            out,
            &format!("{prefix}_rejected_total"),
            "Refused room joins (full room, too many rooms, bad token).",
        );
    }
}
