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
