//! What village affairs syncs between a village node and its hub
//! (`cunlink_core::sync`, docs/node.md, docs/affairs.md "Village node"):
//!
//! - down, in foreign-key order: the village's groups with their members, its
//!   newest notices with who they were sent to ([`notices`]), and the list of
//!   files those notices name; each file's bytes are fetched apart, once, when
//!   the node lacks it ([`files`]). The hub owns them: on a node, writing a
//!   notice or a group answers 409 `hub_only`.
//! - up: residents' feedback reported at the node ([`feedback`]), under its id.
//!   The node owns it: it is acknowledged, answered and escalated there, and on
//!   the hub it is read-only (409 `node_feedback`). And the first read of a
//!   notice at the node ([`reads`]), for the read receipts on the hub.
//!
//! Ledger entries and votes are not synced: they stay where they were made.

pub mod feedback;
pub mod files;
pub mod notices;
pub mod reads;

use std::sync::Arc;

use cunlink_core::notify::NotifyUsers;
use cunlink_core::sql::Connection;
use cunlink_core::sync::{ID_SPAN, SyncKinds};

use crate::AffairsError;

pub fn register(kinds: &mut SyncKinds, notify: Arc<dyn NotifyUsers>) {
    kinds.up(Arc::new(feedback::FeedbackKind { notify }));
    kinds.up(Arc::new(reads::ReadKind));
    kinds.down(Arc::new(notices::GroupKind));
    kinds.down(Arc::new(notices::NoticeKind));
    kinds.down(Arc::new(files::NoticeFileKind));
}

/// Notices and groups are the hub's: a node's copy is replaced at each sync.
pub fn refuse_on_node(c: &Connection, what: &str) -> Result<(), AffairsError> {
    if cunlink_core::sync::is_node(c)? {
        return Err(AffairsError::conflict(
            "hub_only",
            "id",
            format!(
                "{what} is done on the county hub; this is a village node, whose copy is read-only"
            ),
        ));
    }
    Ok(())
}

/// On the hub, feedback reported at a village node (an id in a node's range)
/// is the node's: it is handled there and comes up again.
pub fn refuse_node_feedback(c: &Connection, id: i64) -> Result<(), AffairsError> {
    if id >= ID_SPAN && !cunlink_core::sync::is_node(c)? {
        return Err(AffairsError::conflict(
            "node_feedback",
            "id",
            format!(
                "feedback {id} was reported at the village's node; it is handled there and shown here read-only"
            ),
        ));
    }
    Ok(())
}
