//! What the clinic syncs between a village node and its hub
//! (`cunlink_core::sync`, docs/clinic.md "Village node"). One owner per record,
//! decided by its id: a record made at the node has an id in the node's range
//! (≥ 2^40, `cunlink_core::sync::next_id`) and is the node's; everything below
//! 2^40 is the hub's.
//!
//! - up: the patients registered at the node ([`patient`]) and the consults
//!   held there ([`consult`]), each consult with its observations, notes and
//!   prescriptions (lines and dispensing) inside its record;
//! - down, in foreign-key order: the county's departments, then the village's
//!   patients the hub registered ([`down`]).
//!
//! Photos stay on the node, and the hub's slots, county doctors and the
//! consults with county specialists (which need the link for the video call
//! anyway) stay on the hub.

pub mod consult;
pub mod down;
pub mod patient;

use std::sync::Arc;

use cunlink_core::sql::Connection;
use cunlink_core::sync::{ID_SPAN, SyncError, SyncKinds};

use crate::error::ClinicError;

pub fn register(kinds: &mut SyncKinds) {
    kinds.up(Arc::new(patient::PatientKind));
    kinds.up(Arc::new(consult::ConsultKind));
    kinds.down(Arc::new(down::DepartmentKind));
    kinds.down(Arc::new(down::PatientsDown));
}

/// The integer id a record's key names.
fn key_id(key: &str, what: &str) -> Result<i64, SyncError> {
    key.parse()
        .map_err(|_| SyncError::reject(format!("'{key}' is not {what} id")))
}

/// Whether a record id is in some node's range (made at a village node).
pub fn node_made(id: i64) -> bool {
    id >= ID_SPAN
}

/// 409 `hub_only` on a node: `what` is done on the county hub.
pub fn hub_only(conn: &Connection, what: &str) -> Result<(), ClinicError> {
    if cunlink_core::sync::is_node(conn)? {
        return Err(ClinicError::conflict(
            "hub_only",
            None,
            format!("{what} on the county hub, not at the village node"),
        ));
    }
    Ok(())
}

/// The one-owner rule for a write on consult `id`: on the hub, a consult held
/// at a village node changes only there (409 `node_record`); on a node, a
/// hub's consult is read-only (409 `hub_only`).
pub fn owns_consult(conn: &Connection, id: i64) -> Result<(), ClinicError> {
    let node = cunlink_core::sync::is_node(conn)?;
    if !node && node_made(id) {
        return Err(ClinicError::conflict(
            "node_record",
            Some("consult"),
            format!(
                "consult {id} is held at a village clinic's node; it is changed there and comes up to the county"
            ),
        ));
    }
    if node && !node_made(id) {
        return Err(ClinicError::conflict(
            "hub_only",
            Some("consult"),
            format!("consult {id} is the county hub's; it is changed there"),
        ));
    }
    Ok(())
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
