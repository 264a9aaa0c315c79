//! What the telemetry store does differently on PostgreSQL.
//!
//! The layout is the one of `telemetry.db` (append log, sealed chunks as `bytea`,
//! latest, attributes, rollups), in a schema of its own (`telemetry`) of the
//! deployment's database, so that its short table names (`log`, `keys`…) never
//! meet the application's. Several nodes write it at once, so:
//! - key and series ids come from the database (`INSERT … ON CONFLICT DO NOTHING`,
//!   then `SELECT`), never from a node's counter; each node caches them;
//! - each node appends to the log under its own writer id and truncates, replays
//!   and moves replay points (`series_replay`) of its own rows only; a session
//!   advisory lock on the writer id replaces the file lock of `telemetry.db.lock`;
//! - sealing a series, and compacting it, hold a transaction-scoped advisory lock
//!   on that series, which is what SQLite's single writer lock gave for free;
//! - writer transactions skip the deployment-wide write lock (they only append,
//!   upsert with guards, or touch series they hold the lock of).

use cunlink_core::sql::{Connection, Error, OptionalExtension, params};

use super::value::{DeviceId, KeyId, Keys};

/// Advisory-lock keys: one space for series (plus the series id), one for writer
/// ids (a hash), one for the maintenance lease. Far from core's `WRITE_LOCK`.
const SERIES_LOCK_BASE: i64 = 0x7e1e_0000_0000;
const MAINT_LOCK: i64 = 0x7e1d_0000_0001;

/// Connect with the telemetry schema first on the search path.
pub fn connect(url: &str) -> Result<Connection, Error> {
    let c = Connection::connect_postgres(url)?;
    // The schema may not exist yet (first start): the path still names it, and the
    // tables the migrations create land there.
    c.execute_batch("SET search_path TO telemetry")?;
    Ok(c)
}

/// Create the schema (idempotent; two nodes starting at once may race).
pub fn ensure_schema(c: &Connection) -> Result<(), Error> {
    c.execute_batch("CREATE SCHEMA IF NOT EXISTS telemetry")
        .or_else(|e| {
            if e.is_unique_violation() {
                Ok(())
            } else {
                Err(e)
            }
        })
}

/// Take the session lock on `writer`: false when another process writes under
/// that id (the PostgreSQL form of `telemetry.db.lock`). Released when the
/// connection closes, so a writer that died frees its id with its socket.
pub fn lock_writer(c: &Connection, writer: &str) -> Result<bool, Error> {
    c.query_row(
        "SELECT pg_try_advisory_lock(hashtextextended(CAST($1 AS TEXT), 0))",
        [writer],
        |r| r.get(0),
    )
}

/// Take the maintenance lease for this connection's session: only one node
/// compacts and applies retention at a time.
pub fn try_maintenance_lease(c: &Connection) -> Result<bool, Error> {
    c.query_row("SELECT pg_try_advisory_lock($1)", [MAINT_LOCK], |r| {
        r.get(0)
    })
}

/// Serialise, until the end of the current transaction, every seal and
/// compaction of series `sid` across nodes.
pub fn lock_series(c: &Connection, sid: u32) -> Result<(), Error> {
    c.query_row(
        "SELECT pg_advisory_xact_lock($1)",
        [SERIES_LOCK_BASE + i64::from(sid)],
        |_| Ok(()),
    )
}

/// [`lock_series`] for many series in one round trip (ascending, so two writers
/// sealing overlapping sets cannot deadlock). Integer literals only: the simple
/// query protocol, no prepared statement per list length.
pub fn lock_series_many(c: &Connection, sids: &[u32]) -> Result<(), Error> {
    if sids.is_empty() {
        return Ok(());
    }
    let mut sorted = sids.to_vec();
    sorted.sort_unstable();
    let list: Vec<String> = sorted
        .iter()
        .map(|s| format!("({})", SERIES_LOCK_BASE + i64::from(*s)))
        .collect();
    c.execute_batch(&format!(
        "SELECT pg_advisory_xact_lock(k) FROM (VALUES {}) AS v(k)",
        list.join(",")
    ))
}

/// Move this writer's replay point of every series in `sids` to `from`, in one
/// statement (literals only, see [`lock_series_many`]).
pub fn set_replay_many(c: &Connection, writer: &str, sids: &[u32], from: i64) -> Result<(), Error> {
    if sids.is_empty() {
        return Ok(());
    }
    let w = writer.replace('\'', "''");
    let rows: Vec<String> = sids
        .iter()
        .map(|s| format!("('{w}', {s}, {from})"))
        .collect();
    c.execute_batch(&format!(
        "INSERT INTO series_replay (writer, series, replay_from) VALUES {}
         ON CONFLICT (writer, series) DO UPDATE SET replay_from = excluded.replay_from",
        rows.join(",")
    ))
}

/// Rows per multi-row chunk INSERT: full groups, then groups of 16, 4 and 1 (four
/// statement shapes in the cache, not one per count).
pub const CHUNK_ROWS: usize = 64;

/// Insert sealed chunks `(series, ts, data)`, many per statement; their ids in order.
pub fn insert_chunks(c: &Connection, chunks: &[(u32, &[i64], &[u8])]) -> Result<Vec<i64>, Error> {
    use cunlink_core::sql::Value;
    let mut ids = Vec::with_capacity(chunks.len());
    let mut i = 0;
    while i < chunks.len() {
        let left = chunks.len() - i;
        let n = [CHUNK_ROWS, 16, 4, 1]
            .into_iter()
            .find(|&g| g <= left)
            .unwrap_or(1);
        let group = &chunks[i..i + n];
        let rows: Vec<String> = (0..n)
            .map(|r| {
                let b = r * 5;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, 1, 1)",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO chunks (series, t0, t1, n, data, rolled, fmt) VALUES {} RETURNING id, series",
            rows.join(", ")
        );
        let mut values = Vec::with_capacity(n * 5);
        for (sid, ts, data) in group {
            values.push(Value::Integer(i64::from(*sid)));
            values.push(Value::Integer(ts[0]));
            values.push(Value::Integer(ts[ts.len() - 1]));
            values.push(Value::Integer(ts.len() as i64));
            values.push(Value::Blob(data.to_vec()));
        }
        let mut st = c.prepare_cached(&sql)?;
        let got: Vec<(i64, i64)> = st
            .query_map(values, |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        // RETURNING's order is not promised: match by series (one chunk per series here).
        let by_series: std::collections::HashMap<i64, i64> =
            got.into_iter().map(|(id, s)| (s, id)).collect();
        for (sid, _, _) in group {
            ids.push(
                *by_series
                    .get(&i64::from(*sid))
                    .ok_or_else(|| Error::Other(format!("chunk of series {sid} not returned")))?,
            );
        }
        i += n;
    }
    Ok(ids)
}

/// Give every interned key without a stored id one from the database (its
/// existing row when another node stored the name first).
pub fn persist_keys(c: &Connection, keys: &Keys) -> Result<(), Error> {
    for (key, name) in keys.unpersisted() {
        let id: Option<i64> = c
            .query_row(
                "INSERT INTO keys (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id",
                [name.as_ref()],
                |r| r.get(0),
            )
            .optional()?;
        let id = match id {
            Some(id) => id,
            None => c.query_row(
                "SELECT id FROM keys WHERE name = $1",
                [name.as_ref()],
                |r| r.get(0),
            )?,
        };
        keys.set_db_id(key, id);
    }
    Ok(())
}

/// The series id of (device, stored key id), created if needed.
pub fn series_id(c: &Connection, device: DeviceId, key_db: i64) -> Result<u32, Error> {
    let id: Option<i64> = c
        .query_row(
            "INSERT INTO series (device, key, replay_from) VALUES ($1, $2, 0)
             ON CONFLICT (device, key) DO NOTHING RETURNING id",
            params![device.0, key_db],
            |r| r.get(0),
        )
        .optional()?;
    let id = match id {
        Some(id) => id,
        None => c.query_row(
            "SELECT id FROM series WHERE device = $1 AND key = $2",
            params![device.0, key_db],
            |r| r.get(0),
        )?,
    };
    u32::try_from(id).map_err(|_| Error::Param(format!("series id {id} out of range")))
}

/// The series id of (device, key) if the series exists (a reader on a node that
/// has not met it yet: another node wrote it).
pub fn find_series(
    c: &Connection,
    keys: &Keys,
    device: DeviceId,
    key: KeyId,
) -> Result<Option<u32>, Error> {
    // By name: this node may not have met the key's stored id yet.
    let Some(name) = keys.name(key) else {
        return Ok(None);
    };
    let id: Option<i64> = c
        .query_row(
            "SELECT s.id FROM series s JOIN keys k ON k.id = s.key WHERE s.device = $1 AND k.name = $2",
            params![device.0, name.as_ref()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(id.and_then(|i| u32::try_from(i).ok()))
}

/// A stable writer id for this process: `CUNLINK_NODE_ID`, else host name and
/// data directory (two nodes on one host have different data directories).
pub fn writer_id(data_dir: &std::path::Path) -> String {
    if let Ok(id) = std::env::var("CUNLINK_NODE_ID")
        && !id.trim().is_empty()
    {
        return id.trim().to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    format!("{host}:{}", dir.display())
}
