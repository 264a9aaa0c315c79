//! Consults, their slots, observations and photos.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::Serialize;

use cunlink_core::time::now_ms;

use crate::model::ConsultStatus;

/// A consult row.
#[derive(Debug, Clone, Serialize)]
pub struct Consult {
    pub id: i64,
    pub patient_id: i64,
    pub department_id: i64,
    pub village_doctor_id: i64,
    pub county_doctor_id: Option<i64>,
    pub status: ConsultStatus,
    pub complaint: String,
    pub slot_id: Option<i64>,
    pub video: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str = "id, patient_id, department_id, village_doctor_id, county_doctor_id, status, \
                       complaint, slot_id, video, created_at, updated_at, closed_at";

fn from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Consult> {
    Ok(Consult {
        id: r.get(0)?,
        patient_id: r.get(1)?,
        department_id: r.get(2)?,
        village_doctor_id: r.get(3)?,
        county_doctor_id: r.get(4)?,
        status: r.get(5)?,
        complaint: r.get(6)?,
        slot_id: r.get(7)?,
        video: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        closed_at: r.get(11)?,
    })
}

pub fn insert(
    conn: &Connection,
    patient_id: i64,
    department_id: i64,
    village_doctor_id: i64,
    complaint: &str,
) -> cunlink_core::sql::Result<i64> {
    let now = now_ms();
    // In this installation's id range: a consult held at a village node keeps
    // its id on the hub.
    let id = super::next_id(conn, "clinic_consults")?;
    conn.execute(
        "INSERT INTO clinic_consults (id, patient_id, department_id, village_doctor_id, status, complaint, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'waiting', $5, $6, $6)",
        params![id, patient_id, department_id, village_doctor_id, complaint, now],
    )?;
    Ok(id)
}

pub fn get(conn: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Consult>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM clinic_consults WHERE id = $1"),
        [id],
        from_row,
    )
    .optional()
}

/// Which consults a list may show.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<ConsultStatus>,
    pub department_id: Option<i64>,
    pub village_id: Option<i64>,
    /// Only consults this county doctor took.
    pub county_doctor_id: Option<i64>,
    pub patient_id: Option<i64>,
    /// Only ids below this (paging, newest first).
    pub before: Option<i64>,
    pub limit: i64,
}

/// Consults matching `f`, newest first. The queue index serves the department
/// and status filters; the village filter joins the patient.
pub fn list(conn: &Connection, f: &Filter) -> cunlink_core::sql::Result<Vec<Consult>> {
    let sql = format!(
        "SELECT {} FROM clinic_consults c
         WHERE (CAST($1 AS TEXT) IS NULL OR c.status = $1)
           AND (CAST($2 AS BIGINT) IS NULL OR c.department_id = $2)
           AND (CAST($3 AS BIGINT) IS NULL OR c.patient_id IN (SELECT id FROM clinic_patients WHERE village_id = $3))
           AND (CAST($4 AS BIGINT) IS NULL OR c.county_doctor_id = $4)
           AND (CAST($5 AS BIGINT) IS NULL OR c.patient_id = $5)
           AND (CAST($6 AS BIGINT) IS NULL OR c.id < $6)
         ORDER BY c.id DESC LIMIT $7",
        COLUMNS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(
        params![
            f.status.map(|s| s.as_str()),
            f.department_id,
            f.village_id,
            f.county_doctor_id,
            f.patient_id,
            f.before,
            f.limit
        ],
        from_row,
    )?;
    rows.collect()
}

/// A patient's consults, newest first, at most `limit` (the record's index).
pub fn of_patient(
    conn: &Connection,
    patient_id: i64,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<Consult>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM clinic_consults WHERE patient_id = $1 ORDER BY id DESC LIMIT $2"
    ))?;
    let rows = st.query_map(params![patient_id, limit], from_row)?;
    rows.collect()
}

/// Move a consult from one of `from` to `to`; false if it was in none of them
/// (someone else moved it first).
pub fn transition(
    conn: &Connection,
    id: i64,
    from: &[ConsultStatus],
    to: ConsultStatus,
    county_doctor: Option<i64>,
) -> cunlink_core::sql::Result<bool> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let list = serde_json::to_string(&from).unwrap_or_default();
    let now = now_ms();
    let closed = matches!(to, ConsultStatus::Closed | ConsultStatus::Cancelled).then_some(now);
    let n = conn.execute(
        &format!(
            "UPDATE clinic_consults
             SET status = $1, updated_at = $2, closed_at = COALESCE($3, closed_at),
                 county_doctor_id = COALESCE($4, county_doctor_id),
                 video = CASE WHEN $1 = 'in_call' THEN 1 ELSE video END
             WHERE id = $5 AND status IN (SELECT value FROM {}($6))",
            super::json_each(conn)
        ),
        params![to.as_str(), now, closed, county_doctor, id, list],
    )?;
    Ok(n == 1)
}

/// Whether `doctor_id` took one of `patient_id`'s consults.
pub fn assigned(conn: &Connection, patient_id: i64, doctor_id: i64) -> cunlink_core::sql::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM clinic_consults WHERE county_doctor_id = $1 AND patient_id = $2)",
        params![doctor_id, patient_id],
        |r| r.get(0),
    )
}

// --- slots -------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct Slot {
    pub id: i64,
    pub doctor_id: i64,
    pub department_id: i64,
    pub starts_at: i64,
    pub minutes: i64,
    pub consult_id: Option<i64>,
}

fn slot_from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Slot> {
    Ok(Slot {
        id: r.get(0)?,
        doctor_id: r.get(1)?,
        department_id: r.get(2)?,
        starts_at: r.get(3)?,
        minutes: r.get(4)?,
        consult_id: r.get(5)?,
    })
}

/// A new slot; `None` when the doctor already has one starting then.
pub fn insert_slot(
    conn: &Connection,
    doctor_id: i64,
    department_id: i64,
    starts_at: i64,
    minutes: i64,
) -> cunlink_core::sql::Result<Option<i64>> {
    let n = conn.execute(
        "INSERT INTO clinic_slots (doctor_id, department_id, starts_at, minutes, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (doctor_id, starts_at) DO NOTHING",
        params![doctor_id, department_id, starts_at, minutes, now_ms()],
    )?;
    Ok(if n == 1 { Some(conn.last_insert_rowid()?) } else { None })
}

pub fn slot(conn: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Slot>> {
    conn.query_row(
        "SELECT id, doctor_id, department_id, starts_at, minutes, consult_id FROM clinic_slots WHERE id = $1",
        [id],
        slot_from_row,
    )
    .optional()
}

/// Slots of a department from `from` on, soonest first, at most `limit`;
/// with `free_only`, unbooked ones only (filtered before the limit, so a page
/// of booked slots does not hide the free ones after it).
pub fn slots(
    conn: &Connection,
    department_id: Option<i64>,
    from: i64,
    free_only: bool,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<Slot>> {
    let mut st = conn.prepare_cached(
        "SELECT id, doctor_id, department_id, starts_at, minutes, consult_id FROM clinic_slots
         WHERE (CAST($1 AS BIGINT) IS NULL OR department_id = $1) AND starts_at >= $2
           AND (CAST($3 AS BIGINT) = 0 OR consult_id IS NULL)
         ORDER BY starts_at, id LIMIT $4",
    )?;
    let rows = st.query_map(
        params![department_id, from, free_only, limit],
        slot_from_row,
    )?;
    rows.collect()
}

/// Book a free slot for a consult; false if it was taken meanwhile.
pub fn book_slot(conn: &Connection, slot_id: i64, consult_id: i64) -> cunlink_core::sql::Result<bool> {
    let n = conn.execute(
        "UPDATE clinic_slots SET consult_id = $1 WHERE id = $2 AND consult_id IS NULL",
        params![consult_id, slot_id],
    )?;
    if n == 1 {
        conn.execute(
            "UPDATE clinic_consults SET slot_id = $1 WHERE id = $2",
            params![slot_id, consult_id],
        )?;
    }
    Ok(n == 1)
}

// --- observations ------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub id: i64,
    pub consult_id: i64,
    pub key: String,
    pub value: f64,
    pub device: Option<String>,
    pub observed_at: i64,
}

pub fn insert_observation(
    conn: &Connection,
    consult_id: i64,
    key: &str,
    value: f64,
    device: Option<&str>,
    observed_at: i64,
) -> cunlink_core::sql::Result<i64> {
    let id = super::next_id(conn, "clinic_observations")?;
    conn.execute(
        "INSERT INTO clinic_observations (id, consult_id, key, value, device, observed_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![id, consult_id, key, value, device, observed_at],
    )?;
    Ok(id)
}

/// Observations of the given consults.
pub fn observations(conn: &Connection, consult_ids: &[i64]) -> cunlink_core::sql::Result<Vec<Observation>> {
    let ids = serde_json::to_string(consult_ids).unwrap_or_default();
    let mut st = conn.prepare_cached(&format!(
        "SELECT id, consult_id, key, value, device, observed_at FROM clinic_observations
         WHERE consult_id IN (SELECT {} FROM {}($1)) ORDER BY consult_id, id",
        super::int_value(conn),
        super::json_each(conn)
    ))?;
    let rows = st.query_map([ids], |r| {
        Ok(Observation {
            id: r.get(0)?,
            consult_id: r.get(1)?,
            key: r.get(2)?,
            value: r.get(3)?,
            device: r.get(4)?,
            observed_at: r.get(5)?,
        })
    })?;
    rows.collect()
}

// --- photos ------------------------------------------------------------------

pub fn photo_count(conn: &Connection, consult_id: i64) -> cunlink_core::sql::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM clinic_photos WHERE consult_id = $1",
        [consult_id],
        |r| r.get(0),
    )
}

pub fn insert_photo(
    conn: &Connection,
    consult_id: i64,
    width: u32,
    height: u32,
    jpeg: &[u8],
    by: i64,
) -> cunlink_core::sql::Result<i64> {
    conn.execute(
        "INSERT INTO clinic_photos (consult_id, width, height, jpeg, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![consult_id, width, height, jpeg, by, now_ms()],
    )?;
    Ok(conn.last_insert_rowid()?)
}

/// Photo ids of a consult.
pub fn photo_ids(conn: &Connection, consult_id: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st = conn.prepare_cached(
        "SELECT id FROM clinic_photos WHERE consult_id = $1 ORDER BY id LIMIT 20",
    )?;
    let rows = st.query_map([consult_id], |r| r.get(0))?;
    rows.collect()
}

/// A photo's consult and bytes.
pub fn photo(conn: &Connection, id: i64) -> cunlink_core::sql::Result<Option<(i64, Vec<u8>)>> {
    conn.query_row(
        "SELECT consult_id, jpeg FROM clinic_photos WHERE id = $1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// The waiting consults of a department, oldest first, with what the queue
/// shows of each patient (village, sex, birth date — no name, no complaint).
pub fn waiting(
    conn: &Connection,
    department_id: i64,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<(Consult, String, String, String)>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("c.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut st = conn.prepare_cached(&format!(
        "SELECT {cols}, p.village_id, p.sex, p.birth_date FROM clinic_consults c
         JOIN clinic_patients p ON p.id = c.patient_id
         WHERE c.department_id = $1 AND c.status = 'waiting' AND c.id < $2 ORDER BY c.id LIMIT $3"
    ))?;
    // On the hub, a consult held at a village node is not the county
    // doctors' to take (it changes at the node): not in their queue.
    let below = if cunlink_core::sync::is_node(conn)? {
        i64::MAX
    } else {
        cunlink_core::sync::ID_SPAN
    };
    let rows = st.query_map(params![department_id, below, limit], |r| {
        Ok((
            from_row(r)?,
            r.get::<_, i64>(12)?,
            r.get::<_, String>(13)?,
            r.get::<_, String>(14)?,
        ))
    })?;
    let rows: Vec<_> = rows.collect::<Result<_, _>>()?;
    let ids: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let names = cunlink_core::auth::village_names(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|(k, v, s, b)| (k, names.get(&v).cloned().unwrap_or_default(), s, b))
        .collect())
}
