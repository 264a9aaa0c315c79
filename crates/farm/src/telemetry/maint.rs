//! Background upkeep of `telemetry.db`, on a connection of its own, in small
//! transactions so that ingest keeps committing between them:
//!
//! 1. **Retention**: whole chunks of a device whose profile sets `retention_days`
//!    and that end before the cut-off are deleted, [`DROP_BATCH`] per transaction;
//!    rollups older than `rollup_retention_days` likewise. First, so that nothing
//!    about to be dropped is compacted.
//! 2. **Compaction** ([`super::compact`]): freshly sealed chunks are merged and
//!    rewritten with pco, chunks sealed before rollups existed are rolled up; one
//!    group per transaction, encoded outside it.
//! 3. **Space**: freed pages are handed back to the file system with
//!    `PRAGMA incremental_vacuum`, a few MiB per step, then the WAL is checkpointed.
//!
//! The writer takes its write lock with a fine-grained busy handler (see
//! `Writer::new`), so waiting behind one of these transactions costs it about the
//! transaction's length, not a coarse sleep.

use std::time::{Duration, Instant};

use cunlink_core::sql::{Connection, TransactionBehavior, params};

use super::rollup::DAY;
use super::store::{TelemetryStoreError, TsStore};
use super::value::DeviceId;

/// Compaction groups per pass (each ≤ 8,192 points); the rest waits for the next.
const MAX_GROUPS: u64 = 20_000;
/// Chunks deleted per transaction.
pub const DROP_BATCH: usize = 64;
/// Pages given back per `incremental_vacuum` step (4 KiB pages: 2 MiB).
const VACUUM_PAGES: u32 = 512;
/// Pause between two maintenance transactions: room for the writer's next commit.
const PAUSE: Duration = Duration::from_millis(2);

/// How long a device's data is kept; `None` = forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub device: DeviceId,
    pub retention_days: Option<u32>,
    pub rollup_retention_days: Option<u32>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaintReport {
    pub chunks_rolled_up: u64,
    /// Chunks merged or rewritten into format 2.
    pub chunks_compacted: u64,
    pub chunks_dropped: u64,
    pub rollups_dropped: u64,
    pub pages_freed: u64,
}

impl TsStore {
    /// One maintenance pass (blocking; call from a blocking thread). `now` is the
    /// wall clock in ms, the reference for retention cut-offs.
    pub fn maintain(
        &self,
        policies: &[Policy],
        now: i64,
    ) -> Result<MaintReport, TelemetryStoreError> {
        let mut conn = self.place().connect()?;
        let postgres = conn.is_postgres();
        if postgres {
            // One node at a time (a session lock, gone with this connection): the
            // others skip the pass, so compaction and retention run once.
            if !super::pg::try_maintenance_lease(&conn)? {
                return Ok(MaintReport::default());
            }
        } else {
            // Every step here can be redone by the next pass, so a commit need not wait
            // for its own fsync (WAL mode keeps it atomic; the writer's next fsync'd
            // commit makes it durable): the disk's flushes stay with ingest.
            conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        }
        let mut report = MaintReport::default();
        for p in policies {
            let series = if postgres {
                // Every node's series of the device, not only those this one met.
                let mut st = conn.prepare("SELECT id FROM series WHERE device = $1 ORDER BY id")?;
                let rows = st.query_map([p.device.0], |r| r.get::<_, i64>(0))?;
                rows.map(|r| r.map(|id| id as u32))
                    .collect::<Result<Vec<u32>, _>>()?
            } else {
                self.series_of(p.device)
            };
            if let Some(days) = p.retention_days {
                let cutoff = now.saturating_sub(i64::from(days).saturating_mul(DAY));
                for &sid in &series {
                    drop_chunks(&mut conn, sid, cutoff, &mut report)?;
                }
            }
            if let Some(days) = p.rollup_retention_days {
                let cutoff = now.saturating_sub(i64::from(days).saturating_mul(DAY));
                for &sid in &series {
                    report.rollups_dropped += conn.execute(
                        "DELETE FROM rollups WHERE series = $1 AND bucket < $2",
                        params![sid, cutoff],
                    )? as u64;
                    std::thread::sleep(PAUSE);
                }
            }
        }
        super::compact::compact(&mut conn, &mut report, MAX_GROUPS, PAUSE)?;
        // PostgreSQL's autovacuum reuses the space; nothing to hand back here.
        if !postgres {
            give_back_space(&conn, &mut report)?;
        }
        Ok(report)
    }
}

fn drop_chunks(
    conn: &mut Connection,
    sid: u32,
    cutoff: i64,
    report: &mut MaintReport,
) -> Result<(), TelemetryStoreError> {
    loop {
        let started = Instant::now();
        let tx = begin_write(conn, sid)?;
        let n = tx.execute(
            "DELETE FROM chunks WHERE id IN (SELECT id FROM chunks WHERE series = $1 AND t1 < $2 LIMIT $3)",
            params![sid, cutoff, DROP_BATCH as i64],
        )?;
        tx.commit()?;
        report.chunks_dropped += n as u64;
        if n < DROP_BATCH {
            return Ok(());
        }
        // At most a third of the time holding the write lock: ingest keeps its share.
        std::thread::sleep(PAUSE.max(started.elapsed() * 2));
    }
}

/// A maintenance transaction on series `sid`: SQLite's write lock up front; on
/// PostgreSQL the series lock (seals of that series wait) instead of the
/// deployment-wide lock.
pub(crate) fn begin_write(
    conn: &mut Connection,
    sid: u32,
) -> cunlink_core::sql::Result<cunlink_core::sql::Transaction<'_>> {
    if conn.is_postgres() {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Concurrent)?;
        super::pg::lock_series(&tx, sid)?;
        Ok(tx)
    } else {
        conn.transaction_with_behavior(TransactionBehavior::Immediate)
    }
}

fn give_back_space(conn: &Connection, report: &mut MaintReport) -> Result<(), TelemetryStoreError> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode != 2 {
        return Ok(());
    }
    // Until the free list is empty, but in a bounded number of steps: ingest frees
    // pages meanwhile (truncated log rows), which the next pass returns.
    let free_at_start: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let mut steps = free_at_start.max(0) as u64 / u64::from(VACUUM_PAGES) + 8;
    let mut freed = 0u64;
    while steps > 0 {
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if free <= 0 {
            break;
        }
        let step = (free as u64).min(u64::from(VACUUM_PAGES));
        // The pragma frees one page per step of its statement: step it to the end.
        let mut st = conn.prepare(&format!("PRAGMA incremental_vacuum({step})"))?;
        let mut rows = st.query([])?;
        while rows.next()?.is_some() {}
        freed += step;
        steps -= 1;
        std::thread::sleep(PAUSE);
    }
    if freed > 0 {
        // The file shrinks when the WAL is copied back into it.
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    }
    report.pages_freed += freed;
    Ok(())
}
