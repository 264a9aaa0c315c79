//! SOAP notes, prescriptions (a revision chain) and their dispensing.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::Serialize;

use cunlink_core::time::now_ms;

#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub id: i64,
    pub consult_id: i64,
    pub author_id: i64,
    pub subjective: String,
    pub objective: String,
    pub assessment: String,
    pub plan: String,
    pub diagnosis: String,
    pub icd10: Option<String>,
    pub created_at: i64,
}

/// A note to write; checked by the caller.
pub struct NewNote<'a> {
    pub subjective: &'a str,
    pub objective: &'a str,
    pub assessment: &'a str,
    pub plan: &'a str,
    pub diagnosis: &'a str,
    pub icd10: Option<&'a str>,
}

pub fn insert_note(
    conn: &Connection,
    consult_id: i64,
    author: i64,
    n: &NewNote<'_>,
) -> cunlink_core::sql::Result<i64> {
    let id = super::next_id(conn, "clinic_notes")?;
    conn.execute(
        "INSERT INTO clinic_notes (id, consult_id, author_id, subjective, objective, assessment, plan, diagnosis, icd10, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        params![id, consult_id, author, n.subjective, n.objective, n.assessment, n.plan, n.diagnosis, n.icd10, now_ms()],
    )?;
    Ok(id)
}

/// Most notes one consult may hold (a consult's notes are shown whole).
pub const MAX_NOTES: i64 = 50;
/// Most prescription rows (every version) one consult may hold.
pub const MAX_PRESCRIPTIONS: i64 = 50;

/// How many of `table`'s rows (`clinic_notes` or `clinic_prescriptions`)
/// belong to `consult_id`.
pub fn count_for_consult(
    conn: &Connection,
    table: &'static str,
    consult_id: i64,
) -> cunlink_core::sql::Result<i64> {
    conn.query_row(
        &format!("SELECT count(*) FROM {table} WHERE consult_id = $1"),
        [consult_id],
        |r| r.get(0),
    )
}

/// The row bound of a query over `consult_ids`, `per` rows each.
fn bound(consult_ids: &[i64], per: i64) -> i64 {
    (consult_ids.len() as i64).saturating_mul(per)
}

/// Notes of the given consults, oldest first (at most [`MAX_NOTES`] each).
pub fn notes(conn: &Connection, consult_ids: &[i64]) -> cunlink_core::sql::Result<Vec<Note>> {
    let ids = serde_json::to_string(consult_ids).unwrap_or_default();
    let mut st = conn.prepare_cached(&format!(
        "SELECT id, consult_id, author_id, subjective, objective, assessment, plan, diagnosis, icd10, created_at
         FROM clinic_notes WHERE consult_id IN (SELECT {} FROM {}($1)) ORDER BY id
         LIMIT $2",
        super::int_value(conn),
        super::json_each(conn)
    ))?;
    let rows = st.query_map(params![ids, bound(consult_ids, MAX_NOTES)], |r| {
        Ok(Note {
            id: r.get(0)?,
            consult_id: r.get(1)?,
            author_id: r.get(2)?,
            subjective: r.get(3)?,
            objective: r.get(4)?,
            assessment: r.get(5)?,
            plan: r.get(6)?,
            diagnosis: r.get(7)?,
            icd10: r.get(8)?,
            created_at: r.get(9)?,
        })
    })?;
    rows.collect()
}

/// One prescription line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub drug: String,
    pub dose: String,
    pub route: String,
    pub frequency: String,
    pub days: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Prescription {
    pub id: i64,
    pub consult_id: i64,
    pub prescriber_id: i64,
    pub version: i64,
    pub previous_id: Option<i64>,
    /// A later version replaced it; it stays readable.
    pub superseded: bool,
    pub created_at: i64,
    pub items: Vec<Line>,
    pub dispensed_by: Option<i64>,
    pub dispensed_at: Option<i64>,
}

/// Write a prescription (version 1 if `previous` is None, else the next
/// version, marking the previous superseded) with its lines.
pub fn insert_prescription(
    conn: &Connection,
    consult_id: i64,
    prescriber: i64,
    previous: Option<&Prescription>,
    items: &[Line],
) -> cunlink_core::sql::Result<(i64, i64)> {
    let version = previous.map(|p| p.version + 1).unwrap_or(1);
    let id = super::next_id(conn, "clinic_prescriptions")?;
    conn.execute(
        "INSERT INTO clinic_prescriptions (id, consult_id, prescriber_id, version, previous_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![id, consult_id, prescriber, version, previous.map(|p| p.id), now_ms()],
    )?;
    if let Some(p) = previous {
        conn.execute(
            "UPDATE clinic_prescriptions SET superseded = 1 WHERE id = $1",
            [p.id],
        )?;
    }
    let mut st = conn.prepare_cached(
        "INSERT INTO clinic_prescription_lines (id, prescription_id, drug, dose, route, frequency, days, quantity)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )?;
    for l in items {
        let line = super::next_id(conn, "clinic_prescription_lines")?;
        st.execute(params![
            line,
            id,
            l.drug,
            l.dose,
            l.route,
            l.frequency,
            l.days,
            l.quantity
        ])?;
    }
    Ok((id, version))
}

const RX_COLUMNS: &str = "p.id, p.consult_id, p.prescriber_id, p.version, p.previous_id, p.superseded, \
                          p.created_at, d.by_user, d.at";

fn rx_from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Prescription> {
    Ok(Prescription {
        id: r.get(0)?,
        consult_id: r.get(1)?,
        prescriber_id: r.get(2)?,
        version: r.get(3)?,
        previous_id: r.get(4)?,
        superseded: r.get(5)?,
        created_at: r.get(6)?,
        items: Vec::new(),
        dispensed_by: r.get(7)?,
        dispensed_at: r.get(8)?,
    })
}

fn fill_lines(conn: &Connection, list: &mut [Prescription]) -> cunlink_core::sql::Result<()> {
    let mut st = conn.prepare_cached(
        "SELECT drug, dose, route, frequency, days, quantity FROM clinic_prescription_lines
         WHERE prescription_id = $1 ORDER BY id",
    )?;
    for p in list {
        let rows = st.query_map([p.id], |r| {
            Ok(Line {
                drug: r.get(0)?,
                dose: r.get(1)?,
                route: r.get(2)?,
                frequency: r.get(3)?,
                days: r.get(4)?,
                quantity: r.get(5)?,
            })
        })?;
        p.items = rows.collect::<Result<_, _>>()?;
    }
    Ok(())
}

pub fn prescription(conn: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Prescription>> {
    let p = conn
        .query_row(
            &format!(
                "SELECT {RX_COLUMNS} FROM clinic_prescriptions p
                 LEFT JOIN clinic_dispenses d ON d.prescription_id = p.id WHERE p.id = $1"
            ),
            [id],
            rx_from_row,
        )
        .optional()?;
    let Some(p) = p else { return Ok(None) };
    let mut one = [p];
    fill_lines(conn, &mut one)?;
    let [p] = one;
    Ok(Some(p))
}

/// Prescriptions of the given consults, every version, oldest first (at
/// most [`MAX_PRESCRIPTIONS`] each).
pub fn prescriptions(
    conn: &Connection,
    consult_ids: &[i64],
) -> cunlink_core::sql::Result<Vec<Prescription>> {
    let ids = serde_json::to_string(consult_ids).unwrap_or_default();
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RX_COLUMNS} FROM clinic_prescriptions p
         LEFT JOIN clinic_dispenses d ON d.prescription_id = p.id
         WHERE p.consult_id IN (SELECT {} FROM {}($1)) ORDER BY p.id LIMIT $2",
        super::int_value(conn),
        super::json_each(conn)
    ))?;
    let mut list = st
        .query_map(
            params![ids, bound(consult_ids, MAX_PRESCRIPTIONS)],
            rx_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    fill_lines(conn, &mut list)?;
    Ok(list)
}

/// Record the hand-out; false if it was already dispensed.
pub fn dispense(conn: &Connection, id: i64, by: i64) -> cunlink_core::sql::Result<bool> {
    let n = conn.execute(
        "INSERT INTO clinic_dispenses (prescription_id, by_user, at) VALUES ($1, $2, $3)
         ON CONFLICT (prescription_id) DO NOTHING",
        params![id, by, now_ms()],
    )?;
    Ok(n == 1)
}
