//! A village node's readings on their way to the hub (docs/node.md).
//!
//! On a node the writer keeps each committed batch's log record in `uplink`, in
//! the batch's own transaction, so a reading acknowledged to a sensor is also
//! sure to reach the hub. The sync reads them in order ([`TsStore::uplink_read`]),
//! sends them as per-series compressed chunks, and deletes what the hub
//! acknowledged ([`TsStore::uplink_ack`]).

use std::sync::Arc;

use cunlink_core::sql::Connection;

use super::codec;
use super::store::{Place, TelemetryStoreError, TsStore};
use super::value::{DeviceId, Value};

/// One reading waiting to go up.
#[derive(Debug, Clone)]
pub struct UplinkPoint {
    pub device: DeviceId,
    pub key: Arc<str>,
    pub ts: i64,
    pub value: Value,
}

impl TsStore {
    /// Readings waiting (their count), and the number of uplink rows.
    pub fn uplink_pending(&self) -> Result<(u64, u64), TelemetryStoreError> {
        if self.place().is_postgres() {
            return Ok((0, 0));
        }
        self.with_reader(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(SUM(n), 0), COUNT(*) FROM uplink",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )?)
        })
    }

    /// Rows after `after` (and up to `upto`), in order, until about `max_points`
    /// readings: the last row's id and the readings. Points of a series the
    /// node no longer knows are left out (its device was deleted here).
    pub fn uplink_read(
        &self,
        after: i64,
        upto: Option<i64>,
        max_points: usize,
    ) -> Result<(i64, Vec<UplinkPoint>), TelemetryStoreError> {
        let rows: Vec<(i64, Vec<u8>)> = self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, n, body FROM uplink WHERE id > $1 AND id <= $2 ORDER BY id LIMIT 1000",
            )?;
            let mut rows = st.query(cunlink_core::sql::params![after, upto.unwrap_or(i64::MAX)])?;
            let mut out = Vec::new();
            let mut points = 0usize;
            while let Some(r) = rows.next()? {
                out.push((r.get(0)?, r.get(2)?));
                points += r.get::<_, i64>(1)?.max(0) as usize;
                if points >= max_points {
                    break;
                }
            }
            Ok(out)
        })?;
        let mut last = after;
        let mut out = Vec::new();
        let mem = self.mem();
        for (id, body) in rows {
            last = id;
            for p in codec::decode_log(&body)? {
                let Some(buf) = mem.bufs.get(p.series as usize) else {
                    continue;
                };
                let Some(key) = self.keys.name(buf.key) else {
                    continue;
                };
                out.push(UplinkPoint {
                    device: buf.device,
                    key,
                    ts: p.ts,
                    value: p.value,
                });
            }
        }
        Ok((last, out))
    }

    /// The hub has every row up to `upto`: forget them.
    pub fn uplink_ack(&self, upto: i64) -> Result<(), TelemetryStoreError> {
        let Place::File(path) = self.place() else {
            return Ok(());
        };
        let c = Connection::open(path)?;
        c.execute_batch("PRAGMA busy_timeout=5000;")?;
        c.execute("DELETE FROM uplink WHERE id <= $1", [upto])?;
        Ok(())
    }
}
