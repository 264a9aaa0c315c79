//! The clinic's tables. Other crates never name them in SQL: they go through
//! functions here (see docs/tables.md). One file per kind of thing:
//! [`people`] (departments, county doctors, patients), [`consults`] (consults,
//! slots, observations, photos), [`records`] (notes, prescriptions,
//! dispensing) and [`log`] (the record access log).

pub mod consults;
pub mod log;
pub mod people;
pub mod records;

use cunlink_core::sync::next_id;

use cunlink_core::Migration;
use cunlink_core::sql::Connection;

/// The table function over a JSON array bound as one parameter, for
/// `x IN (SELECT value FROM {each}($n))`: SQLite's `json_each`, PostgreSQL's
/// `json_array_elements_text` (whose elements are text: see [`int_value`]).
pub(crate) fn json_each(conn: &Connection) -> &'static str {
    if conn.is_postgres() {
        "json_array_elements_text"
    } else {
        "json_each"
    }
}

/// `value` of [`json_each`] as an integer id.
pub(crate) fn int_value(conn: &Connection) -> &'static str {
    if conn.is_postgres() {
        "CAST(value AS BIGINT)"
    } else {
        "value"
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
    Migration {
        version: 3,
        name: "clinic_node_sync",
        sql: include_str!("../../migrations/sqlite/0003_node_sync.sql"),
    },
];
