//! The clinic's tables. Other crates never name them in SQL: they go through
//! functions here (see docs/tables.md). One file per kind of thing:
//! [`people`] (departments, county doctors, patients), [`consults`] (consults,
//! slots, observations, photos), [`records`] (notes, prescriptions,
//! dispensing) and [`log`] (the record access log).

pub mod consults;
pub mod log;
pub mod people;
pub mod records;

use cunlink_core::Migration;
use cunlink_core::sql::Connection;

/// A subquery over the JSON array bound as parameter `$n`, for `x IN (…)`:
/// SQLite's `json_each`, PostgreSQL's `json_array_elements_text` (whose
/// elements are text, so integer ids are cast back).
pub(crate) fn json_list(conn: &Connection, n: usize, integers: bool) -> String {
    match (conn.is_postgres(), integers) {
        (false, _) => format!("SELECT value FROM json_each(${n})"),
        (true, true) => {
            format!("SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST(${n} AS JSON))")
        }
        (true, false) => format!("SELECT value FROM json_array_elements_text(CAST(${n} AS JSON))"),
    }
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "clinic_meta",
        sql: include_str!("../../migrations/sqlite/0001_clinic_meta.sql"),
    },
    Migration {
        version: 2,
        name: "clinic_records",
        sql: include_str!("../../migrations/sqlite/0002_clinic_records.sql"),
    },
];
