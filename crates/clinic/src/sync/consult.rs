//! Consults held at the village clinic go up under their ids, each with its
//! children inside its record: observations (vitals), notes, prescriptions
//! with their lines and dispensing. The children keep their node ids too (a
//! prescription is printed by id). They are only ever added on the node, never
//! deleted, so the hub upserts each and deletes none; applying the same record
//! again changes nothing.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{SyncError, UpKind, field_i64, field_opt_i64, field_str};
use serde_json::Value;

use super::patient::patient_village;
use super::{field_array, key_id, node_made};
use crate::model::ConsultStatus;

const CONSULTS: Table = Table {
    name: "clinic_consults",
    columns: &[
        "id",
        "patient_id",
        "department_id",
        "village_doctor_id",
        "county_doctor_id",
        "status",
        "complaint",
        "slot_id",
        "video",
        "created_at",
        "updated_at",
        "closed_at",
    ],
};

const OBSERVATIONS: Table = Table {
    name: "clinic_observations",
    columns: &["id", "consult_id", "key", "value", "device", "observed_at"],
};

const NOTES: Table = Table {
    name: "clinic_notes",
    columns: &[
        "id",
        "consult_id",
        "author_id",
        "subjective",
        "objective",
        "assessment",
        "plan",
        "diagnosis",
        "icd10",
        "created_at",
    ],
};

const PRESCRIPTIONS: Table = Table {
    name: "clinic_prescriptions",
    columns: &[
        "id",
        "consult_id",
        "prescriber_id",
        "version",
        "previous_id",
        "superseded",
        "created_at",
    ],
};

const LINES: Table = Table {
    name: "clinic_prescription_lines",
    columns: &[
        "id",
        "prescription_id",
        "drug",
        "dose",
        "route",
        "frequency",
        "days",
        "quantity",
    ],
};

/// Most children of one kind a consult's record may carry (the flow's caps
/// are lower: 50 notes, 50 prescriptions of 30 lines).
const MAX_CHILDREN: usize = 2_000;

pub struct ConsultKind;

impl UpKind for ConsultKind {
    fn kind(&self) -> &'static str {
        "clinic_consult"
    }
    fn priority(&self) -> u8 {
        1
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let id = key_id(key, "a consult")?;
        let Some(mut consult) = rows::export_one(conn, &CONSULTS, id)? else {
            return Ok(None);
        };
        consult["observations"] = Value::Array(rows::export(
            conn,
            &OBSERVATIONS,
            "consult_id = $1",
            &[&id],
        )?);
        consult["notes"] = Value::Array(rows::export(conn, &NOTES, "consult_id = $1", &[&id])?);
        let mut rxs = rows::export(conn, &PRESCRIPTIONS, "consult_id = $1", &[&id])?;
        for rx in &mut rxs {
            let rx_id = field_i64(rx, "id")?;
            rx["lines"] = Value::Array(rows::export(
                conn,
                &LINES,
                "prescription_id = $1",
                &[&rx_id],
            )?);
            let dispensed: Option<(i64, i64)> = conn
                .prepare_cached(
                    "SELECT by_user, at FROM clinic_dispenses WHERE prescription_id = $1",
                )?
                .query_row([rx_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            rx["dispensed_by"] = dispensed.map_or(Value::Null, |d| d.0.into());
            rx["dispensed_at"] = dispensed.map_or(Value::Null, |d| d.1.into());
        }
        consult["prescriptions"] = Value::Array(rxs);
        Ok(Some(consult))
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let id = key_id(key, "a consult")?;
        if field_i64(body, "id")? != id {
            return Err(SyncError::reject("the consult's id differs from its key"));
        }
        if !node_made(id) {
            return Err(SyncError::reject(format!(
                "consult {id} is the hub's; a node sends only consults held at its clinic"
            )));
        }
        check_consult(conn, village_id, id, body)?;
        let mut row = body.clone();
        // Children are applied below, row by row.
        if let Some(o) = row.as_object_mut() {
            for k in ["observations", "notes", "prescriptions"] {
                o.remove(k);
            }
        }
        rows::upsert(conn, &CONSULTS, &row)?;
        let observations = bounded(body, "observations")?;
        for o in observations {
            let key = field_str(o, "key")?;
            if crate::vitals::vital(key).is_none() {
                return Err(SyncError::reject(format!("unknown vital '{key}'")));
            }
            child(conn, &OBSERVATIONS, "consult_id", id, o)?;
        }
        for n in bounded(body, "notes")? {
            child(conn, &NOTES, "consult_id", id, n)?;
        }
        for rx in bounded(body, "prescriptions")? {
            apply_prescription(conn, id, rx)?;
        }
        Ok(())
    }
}

/// The list in `name`, at most [`MAX_CHILDREN`] long.
fn bounded<'a>(body: &'a Value, name: &str) -> Result<&'a Vec<Value>, SyncError> {
    let list = field_array(body, name)?;
    if list.len() > MAX_CHILDREN {
        return Err(SyncError::reject(format!(
            "field '{name}' holds more than {MAX_CHILDREN} rows"
        )));
    }
    Ok(list)
}

/// The patient is the node's village's (so is the stored consult's), the
/// department exists, and the consult names no hub slot: booking a county
/// specialist's slot is done on the hub.
fn check_consult(
    conn: &Connection,
    village_id: i64,
    id: i64,
    body: &Value,
) -> Result<(), SyncError> {
    let patient = field_i64(body, "patient_id")?;
    match patient_village(conn, patient)? {
        Some(v) if v == village_id => {}
        Some(_) => {
            return Err(SyncError::reject(format!(
                "patient {patient} is not of the node's village"
            )));
        }
        None => return Err(SyncError::reject(format!("there is no patient {patient}"))),
    }
    let stored: Option<i64> = conn
        .prepare_cached("SELECT patient_id FROM clinic_consults WHERE id = $1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    if let Some(p) = stored
        && patient_village(conn, p)? != Some(village_id)
    {
        return Err(SyncError::reject(format!(
            "consult {id} is another village's"
        )));
    }
    let dep = field_i64(body, "department_id")?;
    let known: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM clinic_departments WHERE id = $1)")?
        .query_row([dep], |r| r.get(0))?;
    if !known {
        return Err(SyncError::reject(format!("there is no department {dep}")));
    }
    if field_opt_i64(body, "slot_id")?.is_some() {
        return Err(SyncError::reject(format!(
            "consult {id} names a slot; slots are booked on the hub"
        )));
    }
    let status = field_str(body, "status")?;
    if status.parse::<ConsultStatus>().is_err() {
        return Err(SyncError::reject(format!("unknown status '{status}'")));
    }
    Ok(())
}

/// Upsert a child row of `table` whose `parent` column must be `owner`; a row
/// with that id under another parent is refused.
fn child(
    conn: &Connection,
    table: &Table,
    parent: &'static str,
    owner: i64,
    row: &Value,
) -> Result<(), SyncError> {
    let id = field_i64(row, "id")?;
    if !node_made(id) {
        return Err(SyncError::reject(format!(
            "{} row {id} is not in a node's id range",
            table.name
        )));
    }
    if field_i64(row, parent)? != owner {
        return Err(SyncError::reject(format!(
            "{} row {id} is not of {owner}",
            table.name
        )));
    }
    let sql = format!("SELECT {parent} FROM {} WHERE id = $1", table.name);
    let stored: Option<i64> = conn
        .prepare_cached(&sql)?
        .query_row([id], |r| r.get(0))
        .optional()?;
    if stored.is_some_and(|s| s != owner) {
        return Err(SyncError::reject(format!(
            "{} row {id} belongs to {}",
            table.name,
            stored.unwrap_or_default()
        )));
    }
    rows::upsert(conn, table, row)?;
    Ok(())
}

/// A prescription (after the version it supersedes: the node sends them in id
/// order), its lines and its dispensing.
fn apply_prescription(conn: &Connection, consult: i64, rx: &Value) -> Result<(), SyncError> {
    let id = field_i64(rx, "id")?;
    if let Some(prev) = field_opt_i64(rx, "previous_id")? {
        let of: Option<i64> = conn
            .prepare_cached("SELECT consult_id FROM clinic_prescriptions WHERE id = $1")?
            .query_row([prev], |r| r.get(0))
            .optional()?;
        if of != Some(consult) {
            return Err(SyncError::reject(format!(
                "prescription {id} revises {prev}, which is not of consult {consult}"
            )));
        }
    }
    let mut row = rx.clone();
    if let Some(o) = row.as_object_mut() {
        for k in ["lines", "dispensed_by", "dispensed_at"] {
            o.remove(k);
        }
    }
    child(conn, &PRESCRIPTIONS, "consult_id", consult, &row)?;
    for line in bounded(rx, "lines")? {
        if field_i64(line, "days")? <= 0 || field_i64(line, "quantity")? <= 0 {
            return Err(SyncError::reject(format!(
                "prescription {id}: days and quantity must be positive"
            )));
        }
        child(conn, &LINES, "prescription_id", id, line)?;
    }
    if let (Some(by), Some(at)) = (
        field_opt_i64(rx, "dispensed_by")?,
        field_opt_i64(rx, "dispensed_at")?,
    ) {
        conn.prepare_cached(
            "INSERT INTO clinic_dispenses (prescription_id, by_user, at) VALUES ($1, $2, $3)
             ON CONFLICT (prescription_id) DO UPDATE SET by_user = excluded.by_user, at = excluded.at",
        )?
        .execute(params![id, by, at])?;
    }
    Ok(())
}
