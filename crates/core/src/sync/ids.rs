//! Ids that stay the same on a node and its hub.
//!
//! A record made on node number N gets an id in `[N·2^40, (N+1)·2^40)`; the hub's
//! own records stay below 2^40. The hub stores a node's record under its id, so
//! an alarm or an order has one id everywhere. On SQLite the next id is the
//! highest in the caller's range plus one (the table's primary-key b-tree answers
//! it in one seek; the caller's write transaction holds the lock); on PostgreSQL,
//! which only ever is a hub, the column's identity sequence.

use crate::sql::Connection;

/// The size of one installation's id range.
pub const ID_SPAN: i64 = 1 << 40;

/// This installation's id range `[lo, hi)` in a table: its node number's.
pub fn id_range(conn: &Connection) -> crate::sql::Result<(i64, i64)> {
    let n: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(number), 0) FROM core_node_self")?
        .query_row([], |r| r.get(0))?;
    let lo = n.checked_mul(ID_SPAN).unwrap_or(0);
    Ok((lo, lo.saturating_add(ID_SPAN)))
}

/// The id for a new row of `table` (an `INTEGER PRIMARY KEY id`), to insert
/// explicitly. `table` is a constant of the calling store, never input.
pub fn next_id(conn: &Connection, table: &'static str) -> crate::sql::Result<i64> {
    if conn.is_postgres() {
        let sql = format!("SELECT nextval(pg_get_serial_sequence('{table}', 'id'))");
        return conn.prepare_cached(&sql)?.query_row([], |r| r.get(0));
    }
    let (lo, hi) = id_range(conn)?;
    let sql = format!("SELECT COALESCE(MAX(id), $1) + 1 FROM {table} WHERE id > $1 AND id < $2");
    conn.prepare_cached(&sql)?
        .query_row(crate::sql::params![lo, hi], |r| r.get(0))
}
