//! SQL of device commands.

use cunlink_core::sql::{Connection, OptionalExtension, Row, params};

use super::{Command, State};
use crate::FarmStoreError;
use crate::telemetry::DeviceId;

/// Commands listed per device, newest first.
pub const MAX_LIST: usize = 100;

const COLUMNS: &str = "r.id, d.name, r.device_id, r.method, r.params, r.oneway, r.state, r.response, r.origin, r.created_at, r.updated_at, r.expires_at";

fn from_row(r: &Row<'_>) -> cunlink_core::sql::Result<Command> {
    let params: String = r.get(4)?;
    let state: String = r.get(6)?;
    let response: Option<String> = r.get(7)?;
    Ok(Command {
        id: r.get(0)?,
        device: r.get(1)?,
        device_id: DeviceId(r.get(2)?),
        method: r.get(3)?,
        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
        oneway: r.get(5)?,
        state: State::parse(&state),
        response: response.and_then(|s| serde_json::from_str(&s).ok()),
        origin: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        expires_at: r.get(11)?,
    })
}

pub fn insert(conn: &Connection, c: &Command) -> Result<i64, FarmStoreError> {
    conn.prepare_cached(
        "INSERT INTO farm_rpc_commands (device_id, method, params, oneway, state, origin, created_at, updated_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
    )?
    .execute(params![
        c.device_id.0,
        c.method,
        c.params.to_string(),
        c.oneway,
        c.state.as_str(),
        c.origin,
        c.created_at,
        c.expires_at
    ])?;
    Ok(conn.last_insert_rowid()?)
}

/// Store a command's new state, only over a state it may follow (a late PUBACK
/// never turns a reply back into "delivered"; a reply received on another node
/// is never overwritten by this one's timeout). False when the row had moved on.
pub fn update(conn: &Connection, c: &Command) -> Result<bool, FarmStoreError> {
    // One conditional statement: two nodes moving one command cannot interleave.
    let from = match c.state {
        State::Queued => "state = 'queued'",
        State::Sent => "state IN ('queued', 'sent')",
        State::Delivered => "state IN ('queued', 'sent', 'delivered')",
        State::Replied => "state IN ('queued', 'sent', 'delivered')",
        State::TimedOut => "(state IN ('queued', 'sent') OR (state = 'delivered' AND oneway = 0))",
    };
    let n = conn
        .prepare_cached(&format!(
            "UPDATE farm_rpc_commands SET state = $1, response = $2, updated_at = $3 WHERE id = $4 AND {from}"
        ))?
        .execute(params![
            c.state.as_str(),
            c.response.as_ref().map(|v| v.to_string()),
            c.updated_at,
            c.id
        ])?;
    Ok(n == 1)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Command>, FarmStoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM farm_rpc_commands r JOIN farm_devices d ON d.id = r.device_id WHERE r.id = $1"
        ))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn list(conn: &Connection, device: DeviceId) -> Result<Vec<Command>, FarmStoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM farm_rpc_commands r JOIN farm_devices d ON d.id = r.device_id
         WHERE r.device_id = $1 ORDER BY r.id DESC LIMIT {MAX_LIST}"
    ))?;
    let rows = st.query_map([device.0], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Commands not finished at start. Those already expired are marked timed out.
pub fn unfinished(conn: &Connection, now: i64) -> Result<Vec<Command>, FarmStoreError> {
    conn.execute(
        "UPDATE farm_rpc_commands SET state = 'timed_out', updated_at = $1
         WHERE state IN ('queued', 'sent') AND expires_at <= $1
            OR state = 'delivered' AND oneway = 0 AND expires_at <= $1",
        [now],
    )?;
    let mut st = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM farm_rpc_commands r JOIN farm_devices d ON d.id = r.device_id
         WHERE r.state IN ('queued', 'sent') OR (r.state = 'delivered' AND r.oneway = 0) ORDER BY r.id"
    ))?;
    let rows = st.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
