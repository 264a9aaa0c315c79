//! Village affairs' tables (`affairs_*`). Other crates never name them in SQL:
//! they go through the handle (see docs/tables.md). One file per record kind.

pub mod feedback;
pub mod ledger;
pub mod notices;
pub mod votes;

use cunlink_core::Migration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "affairs_meta",
        sql: include_str!("../../migrations/sqlite/0001_affairs_meta.sql"),
    },
    Migration {
        version: 2,
        name: "affairs",
        sql: include_str!("../../migrations/sqlite/0002_affairs.sql"),
    },
    Migration {
        version: 3,
        name: "affairs_files_per_village",
        sql: include_str!("../../migrations/sqlite/0003_affairs_files_per_village.sql"),
    },
    Migration {
        version: 4,
        name: "affairs_node_sync",
        sql: include_str!("../../migrations/sqlite/0004_node_sync.sql"),
    },
];
