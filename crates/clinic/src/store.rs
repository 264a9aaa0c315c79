//! The clinic's tables. Other crates never name them in SQL: they go through
//! functions here (see docs/tables.md).

use cunlink_core::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "clinic_meta",
    sql: include_str!("../migrations/sqlite/0001_clinic_meta.sql"),
}];
