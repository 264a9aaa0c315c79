//! What comes down for the village clinic: the county's departments (a
//! consult is opened into one), and the village's patients the hub registered
//! (so the village doctor finds them offline). The hub never deletes either,
//! so a node only inserts and updates them; patients the node registered
//! (ids ≥ 2^40) are the node's and are left alone.
//!
//! County doctors, their slots and their consults stay on the hub: a county
//! doctor is not a village account (core sends only the village's users), and
//! a consult with a specialist needs the link for its video call anyway.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, ID_SPAN, SyncError, field_i64, field_str};
use serde_json::Value;

use super::node_made;
use super::patient::PATIENTS;

const DEPARTMENTS: Table = Table {
    name: "clinic_departments",
    columns: &["id", "name", "created_at"],
};

pub struct DepartmentKind;

impl DownKind for DepartmentKind {
    fn kind(&self) -> &'static str {
        "clinic_departments"
    }
    fn snapshot(&self, conn: &Connection, _village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &DEPARTMENTS, "1 = 1", &[])
    }
    fn apply(&self, conn: &Connection, _village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            let id = field_i64(r, "id")?;
            let name = field_str(r, "name")?;
            if node_made(id) {
                return Err(SyncError::reject(format!(
                    "department {id} is not in the hub's id range"
                )));
            }
            // One made locally before the node joined (e.g. by `user create
            // --department`) under the hub's name: the hub's wins when nothing
            // refers to it yet.
            let clash: Option<i64> = conn
                .prepare_cached("SELECT id FROM clinic_departments WHERE name = $1 AND id <> $2")?
                .query_row(params![name, id], |r| r.get(0))
                .optional()?;
            if let Some(c) = clash {
                let used: bool = conn
                    .prepare_cached(
                        "SELECT EXISTS(SELECT 1 FROM clinic_consults WHERE department_id = $1)
                            OR EXISTS(SELECT 1 FROM clinic_doctors WHERE department_id = $1)
                            OR EXISTS(SELECT 1 FROM clinic_slots WHERE department_id = $1)",
                    )?
                    .query_row([c], |r| r.get(0))?;
                if used {
                    return Err(SyncError::reject(format!(
                        "department {c} of this node has the name of the hub's department {id}"
                    )));
                }
                conn.prepare_cached("DELETE FROM clinic_departments WHERE id = $1")?
                    .execute([c])?;
            }
            rows::upsert(conn, &DEPARTMENTS, r)?;
        }
        Ok(())
    }
}

/// The village's patients the hub registered.
pub struct PatientsDown;

impl DownKind for PatientsDown {
    fn kind(&self) -> &'static str {
        "clinic_patients"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(
            conn,
            &PATIENTS,
            "village_id = $1 AND id < $2",
            &[&village_id, &ID_SPAN],
        )
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            let id = field_i64(r, "id")?;
            if node_made(id) {
                return Err(SyncError::reject(format!(
                    "patient {id} is not in the hub's id range"
                )));
            }
            if field_i64(r, "village_id")? != village_id {
                return Err(SyncError::reject("a patient of another village"));
            }
            rows::upsert(conn, &PATIENTS, r)?;
        }
        Ok(())
    }
}
