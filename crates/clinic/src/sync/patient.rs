//! Patients registered at the village node go up under their ids.

use cunlink_core::sql::{Connection, OptionalExtension};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{SyncError, UpKind, field_i64, field_str};
use serde_json::Value;

use super::{key_id, node_made};
use crate::model::SEXES;

pub(crate) const PATIENTS: Table = Table {
    name: "clinic_patients",
    columns: &[
        "id",
        "name",
        "sex",
        "birth_date",
        "village_id",
        "phone",
        "user_id",
        "created_by",
        "created_at",
    ],
};

/// The village of patient `id` on this side, if it exists.
pub(crate) fn patient_village(conn: &Connection, id: i64) -> Result<Option<i64>, SyncError> {
    Ok(conn
        .prepare_cached("SELECT village_id FROM clinic_patients WHERE id = $1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

pub struct PatientKind;

impl UpKind for PatientKind {
    fn kind(&self) -> &'static str {
        "clinic_patient"
    }
    /// With the consults, after alarms and orders: a consult names its patient,
    /// and the outbox order sends the patient first.
    fn priority(&self) -> u8 {
        1
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        rows::export_one(conn, &PATIENTS, key_id(key, "a patient")?)
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let id = key_id(key, "a patient")?;
        if field_i64(body, "id")? != id {
            return Err(SyncError::reject("the patient's id differs from its key"));
        }
        if !node_made(id) {
            return Err(SyncError::reject(format!(
                "patient {id} is the hub's; a node sends only patients it registered"
            )));
        }
        if field_i64(body, "village_id")? != village_id {
            return Err(SyncError::reject(format!(
                "patient {id} is not of the node's village"
            )));
        }
        if patient_village(conn, id)?.is_some_and(|v| v != village_id) {
            return Err(SyncError::reject(format!(
                "patient {id} is another village's"
            )));
        }
        let sex = field_str(body, "sex")?;
        if !SEXES.contains(&sex) {
            return Err(SyncError::reject(format!(
                "patient {id}: unknown sex '{sex}'"
            )));
        }
        rows::upsert(conn, &PATIENTS, body)?;
        Ok(())
    }
}
