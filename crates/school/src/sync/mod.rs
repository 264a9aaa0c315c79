//! What the school syncs between a village node and its county hub
//! (`cunlink_core::sync`, docs/school.md "Village nodes", docs/node.md).
//!
//! One owner per record, nothing merged:
//!
//! - down, in foreign-key order: the village's classes with their members
//!   ([`courses::ClassKind`]), the village's and the county-wide courses with
//!   their items and enrolments ([`courses::CourseKind`]), and the channels the
//!   village's school subscribes to ([`subscriptions::SubscriptionKind`]), which
//!   the node then pulls from the hub itself (`pull::schedule`). Classes are
//!   the hub's: made and changed there only, read-only on a node (409
//!   `hub_only`), so they keep their ids on both sides.
//! - up: courses made on the node ([`courses::CourseUpKind`], ids in the
//!   node's range, with their items and enrolments), and learning statements
//!   ([`statement::StatementKind`]), keyed by their UUID, which is their id
//!   everywhere; they refer to course, item and user ids that are the same on
//!   both sides.
//!
//! A course belongs to where it was made (its id says where): the hub's come
//! down, a node's go up, and each side refuses changes to the other's
//! ([`require_course_owner`]).

pub mod courses;
pub mod statement;
pub mod subscriptions;

use std::sync::Arc;

use cunlink_core::sql::Connection;
use cunlink_core::sync::{SyncError, SyncKinds};

use crate::School;
use crate::error::SchoolError;

pub fn register(school: &Arc<School>, kinds: &mut SyncKinds) {
    kinds.up(Arc::new(courses::CourseUpKind));
    kinds.up(Arc::new(statement::StatementKind));
    kinds.down(Arc::new(courses::ClassKind));
    kinds.down(Arc::new(courses::CourseKind));
    kinds.down(Arc::new(subscriptions::SubscriptionKind {
        school: Arc::downgrade(school),
    }));
}

/// Refuse, on a village node, a change to what the county hub owns.
pub fn require_hub(conn: &Connection, what: &str) -> Result<(), SchoolError> {
    if cunlink_core::sync::is_node(conn)? {
        return Err(SchoolError::Conflict(
            "hub_only",
            format!(
                "{what} change only on the county hub; this village node keeps a read-only copy"
            ),
        ));
    }
    Ok(())
}

/// Refuse changing course `id` (its items, package, enrolments) where it is not
/// owned: on a node, a course the hub made (`hub_only`); on the hub, a course a
/// village node made (`node_owned`). A course's id says where it was made.
pub fn require_course_owner(conn: &Connection, id: i64) -> Result<(), SchoolError> {
    let (lo, hi) = cunlink_core::sync::id_range(conn)?;
    if (lo..hi).contains(&id) {
        return Ok(());
    }
    Err(if cunlink_core::sync::is_node(conn)? {
        SchoolError::Conflict(
            "hub_only",
            format!("course {id} is the county hub's; it changes there only"),
        )
    } else {
        SchoolError::Conflict(
            "node_owned",
            format!("course {id} was made on a village node; it changes there only"),
        )
    })
}

/// The list in field `name` of a record.
fn field_array<'a>(
    body: &'a serde_json::Value,
    name: &str,
) -> Result<&'a Vec<serde_json::Value>, SyncError> {
    cunlink_core::sync::field(body, name)?
        .as_array()
        .ok_or_else(|| SyncError::reject(format!("field '{name}' must be a list")))
}

/// [`require_hub`] for a route, before it reads its body into anything.
pub(crate) async fn hub_only(s: &School, what: &'static str) -> Result<(), cunlink_core::ApiError> {
    crate::routes::db(s, move |c| require_hub(c, what)).await
}
