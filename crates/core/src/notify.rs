//! Telling people something that is not an alarm: a consult was accepted, an
//! urgent notice was posted. Domains other than alert need this, and no domain
//! may depend on a sibling, so the port is defined here and the alert crate
//! implements it with its own machinery (outbox, Web Push, webhooks, in-app
//! feed). The binary hands the implementation to the domains that need it.
//!
//! The port is transactional: [`NotifyUsers::enqueue`] writes the deliveries
//! on the caller's connection, inside the caller's transaction, so a notice and
//! its deliveries commit or roll back together (both live in `cunlink.db`);
//! after the commit the caller calls [`NotifyUsers::wake`] so the dispatcher
//! sends them now rather than at its next poll.

use crate::sql::Connection;

/// One message to a set of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNotice {
    /// Who should hear it (user ids). Users without push subscriptions still
    /// get the in-app entry.
    pub user_ids: Vec<i64>,
    /// The domain that sends it (`"clinic"`, `"affairs"`, …): shown in the
    /// feed and used in metrics.
    pub source: &'static str,
    pub title: String,
    pub body: String,
    /// Where a tap on the notification leads: a path on this server.
    pub url: String,
    /// Urgent notices bypass quiet hours.
    pub urgent: bool,
}

/// Implemented by the alert crate; see the module comment.
pub trait NotifyUsers: Send + Sync {
    /// Queue `notice` for every user in it on `conn` (the caller's open
    /// transaction). Returns how many deliveries were queued.
    fn enqueue(&self, conn: &Connection, notice: &UserNotice) -> crate::sql::Result<usize>;

    /// Tell the dispatcher that committed deliveries are waiting.
    fn wake(&self);
}
