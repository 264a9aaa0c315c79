//! Departments, county doctors and patients.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::Serialize;

use cunlink_core::time::now_ms;

/// A county department.
#[derive(Debug, Clone, Serialize)]
pub struct Department {
    pub id: i64,
    pub name: String,
}

/// The department named `name`, created if new; returns its id.
pub fn ensure_department(conn: &Connection, name: &str) -> cunlink_core::sql::Result<i64> {
    conn.execute(
        "INSERT INTO clinic_departments (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        params![name, now_ms()],
    )?;
    conn.query_row(
        "SELECT id FROM clinic_departments WHERE name = $1",
        [name],
        |r| r.get(0),
    )
}

pub fn department_by_name(conn: &Connection, name: &str) -> cunlink_core::sql::Result<Option<Department>> {
    conn.query_row(
        "SELECT id, name FROM clinic_departments WHERE name = $1",
        [name],
        |r| {
            Ok(Department {
                id: r.get(0)?,
                name: r.get(1)?,
            })
        },
    )
    .optional()
}

pub fn department_name(conn: &Connection, id: i64) -> cunlink_core::sql::Result<Option<String>> {
    conn.query_row(
        "SELECT name FROM clinic_departments WHERE id = $1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// Every department, by name (a county has tens at most; bounded anyway).
pub fn departments(conn: &Connection) -> cunlink_core::sql::Result<Vec<Department>> {
    let mut st =
        conn.prepare_cached("SELECT id, name FROM clinic_departments ORDER BY name LIMIT 500")?;
    let rows = st.query_map([], |r| {
        Ok(Department {
            id: r.get(0)?,
            name: r.get(1)?,
        })
    })?;
    rows.collect()
}

/// Make `user_id` a county doctor of `department` (created if new); moves them
/// if they were in another.
pub fn link_county_doctor(
    conn: &Connection,
    user_id: i64,
    department: &str,
) -> cunlink_core::sql::Result<i64> {
    let dep = ensure_department(conn, department)?;
    conn.execute(
        "INSERT INTO clinic_doctors (user_id, department_id) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET department_id = excluded.department_id",
        params![user_id, dep],
    )?;
    Ok(dep)
}

/// The department of a county doctor, if `user_id` is one.
pub fn doctor_department(conn: &Connection, user_id: i64) -> cunlink_core::sql::Result<Option<i64>> {
    conn.query_row(
        "SELECT department_id FROM clinic_doctors WHERE user_id = $1",
        [user_id],
        |r| r.get(0),
    )
    .optional()
}

/// The county doctors of a department (who hears of a new consult there).
pub fn department_doctors(conn: &Connection, department_id: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st = conn.prepare_cached(
        "SELECT user_id FROM clinic_doctors WHERE department_id = $1 ORDER BY user_id LIMIT 200",
    )?;
    let rows = st.query_map([department_id], |r| r.get(0))?;
    rows.collect()
}

/// A patient.
#[derive(Debug, Clone, Serialize)]
pub struct Patient {
    pub id: i64,
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    pub village_id: i64,
    pub phone: Option<String>,
    pub user_id: Option<i64>,
    pub created_at: i64,
}

const PATIENT_COLUMNS: &str = "id, name, sex, birth_date, village_id, phone, user_id, created_at";

fn patient_from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Patient> {
    Ok(Patient {
        id: r.get(0)?,
        name: r.get(1)?,
        sex: r.get(2)?,
        birth_date: r.get(3)?,
        village_id: r.get(4)?,
        phone: r.get(5)?,
        user_id: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// A patient to create; checked by the caller.
pub struct NewPatient<'a> {
    pub name: &'a str,
    pub sex: &'a str,
    pub birth_date: &'a str,
    pub village_id: i64,
    pub phone: Option<&'a str>,
    pub user_id: Option<i64>,
    pub created_by: i64,
}

pub fn insert_patient(conn: &Connection, p: &NewPatient<'_>) -> cunlink_core::sql::Result<i64> {
    // In this installation's id range: a patient registered at a village node
    // keeps its id on the hub (docs/clinic.md, "Village node").
    let id = super::next_id(conn, "clinic_patients")?;
    conn.execute(
        "INSERT INTO clinic_patients (id, name, sex, birth_date, village_id, phone, user_id, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![id, p.name, p.sex, p.birth_date, p.village_id, p.phone, p.user_id, p.created_by, now_ms()],
    )?;
    Ok(id)
}

pub fn patient(conn: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Patient>> {
    conn.query_row(
        &format!("SELECT {PATIENT_COLUMNS} FROM clinic_patients WHERE id = $1"),
        [id],
        patient_from_row,
    )
    .optional()
}

/// Patients of a village (`None`: every village), newest first, at most `limit`.
pub fn patients(
    conn: &Connection,
    village_id: Option<i64>,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<Patient>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {PATIENT_COLUMNS} FROM clinic_patients WHERE CAST($1 AS BIGINT) IS NULL OR village_id = $1
         ORDER BY id DESC LIMIT $2"
    ))?;
    let rows = st.query_map(params![village_id, limit], patient_from_row)?;
    rows.collect()
}

/// The patients whose own account is `user_id` (normally one).
pub fn patients_of_user(conn: &Connection, user_id: i64) -> cunlink_core::sql::Result<Vec<Patient>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {PATIENT_COLUMNS} FROM clinic_patients WHERE user_id = $1 ORDER BY id LIMIT 20"
    ))?;
    let rows = st.query_map([user_id], patient_from_row)?;
    rows.collect()
}

/// Whether `user_id` is one of the clinic's doctors: a county doctor, or a
/// doctor who opened a consult.
pub fn is_practitioner(conn: &Connection, user_id: i64) -> cunlink_core::sql::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM clinic_doctors WHERE user_id = $1)
            OR EXISTS(SELECT 1 FROM clinic_consults WHERE village_doctor_id = $1)",
        [user_id],
        |r| r.get(0),
    )
}

/// Whether `user_id` is the linked account of some patient (it may then join
/// that patient's calls, whatever its role).
pub fn is_patient_account(conn: &Connection, user_id: i64) -> cunlink_core::sql::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM clinic_patients WHERE user_id = $1)",
        [user_id],
        |r| r.get(0),
    )
}
