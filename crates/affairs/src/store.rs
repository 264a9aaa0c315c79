//! Village affairs' tables. Other crates never name them in SQL: they go through
//! functions here (see docs/tables.md).

use cunlink_core::Migration;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "affairs_meta",
    sql: include_str!("../migrations/sqlite/0001_affairs_meta.sql"),
}];
