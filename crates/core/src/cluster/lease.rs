//! Leases in the database: `core_leases`.
//!
//! One statement takes or renews a lease, so two nodes racing for it cannot
//! both win: an upsert that changes the row only when this node already holds
//! it or the holder's time ran out. Expiry uses the database's clock on
//! PostgreSQL (nodes' clocks may disagree; the database's is one), and this
//! process's clock on SQLite (one node).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sql::{self, Connection};
use crate::{Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sql::Error> for LeaseError {
    fn from(e: sql::Error) -> Self {
        LeaseError::Db(e.into())
    }
}

/// "Now" in milliseconds by the clock that decides expiry.
fn now_sql(conn: &Connection) -> &'static str {
    if conn.is_postgres() {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    } else {
        "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    }
}

/// Take or renew `name` for `ttl`; `Some(epoch)` while this node holds it
/// (the epoch changes whenever the lease changed hands).
pub fn try_acquire(
    conn: &Connection,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<i64>, sql::Error> {
    let now = now_sql(conn);
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4);
    let changed = conn.execute(
        &format!(
            "INSERT INTO core_leases (name, holder, expires_at, epoch) VALUES ($1, $2, {now} + $3, 1)
             ON CONFLICT (name) DO UPDATE SET
                 expires_at = excluded.expires_at,
                 epoch = CASE WHEN core_leases.holder = excluded.holder
                              THEN core_leases.epoch ELSE core_leases.epoch + 1 END,
                 holder = excluded.holder
             WHERE core_leases.holder = excluded.holder OR core_leases.expires_at < {now}"
        ),
        sql::params![name, holder, ttl_ms],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    conn.query_row(
        "SELECT epoch FROM core_leases WHERE name = $1 AND holder = $2",
        sql::params![name, holder],
        |r| r.get(0),
    )
    .map(Some)
    .or_else(|e| if matches!(e, sql::Error::NoRows) { Ok(None) } else { Err(e) })
}

/// Give `name` up (only if this node holds it).
pub fn release(conn: &Connection, name: &str, holder: &str) -> Result<(), sql::Error> {
    conn.execute(
        "DELETE FROM core_leases WHERE name = $1 AND holder = $2",
        sql::params![name, holder],
    )?;
    Ok(())
}

/// Say this node is alive; returns the nodes seen within `alive` (this one
/// included), sorted, so that every node computes the same spread of work.
pub fn heartbeat(
    conn: &Connection,
    node: &str,
    started_at: i64,
    alive: Duration,
) -> Result<Vec<String>, sql::Error> {
    let now = now_sql(conn);
    let alive_ms = i64::try_from(alive.as_millis()).unwrap_or(i64::MAX / 4);
    conn.execute(
        &format!(
            "INSERT INTO core_nodes (node, started_at, seen_at) VALUES ($1, $2, {now})
             ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at"
        ),
        sql::params![node, started_at],
    )?;
    // Rows of nodes gone for long are only clutter.
    conn.execute(
        &format!("DELETE FROM core_nodes WHERE seen_at < {now} - $1"),
        [alive_ms.saturating_mul(20)],
    )?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT node FROM core_nodes WHERE seen_at >= {now} - $1 ORDER BY node"
    ))?;
    let nodes = st
        .query_map([alive_ms], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(nodes)
}

/// Which of `nodes` should own `item` (rendezvous hashing: when a node joins
/// or leaves, only the items it gains or loses move).
pub fn owner<'a>(item: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes
        .iter()
        .max_by_key(|n| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in n.bytes().chain([0]).chain(item.bytes()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            // FNV alone spreads short names poorly; finish with splitmix64.
            h ^= h >> 30;
            h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h ^= h >> 27;
            h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
            h ^ (h >> 31)
        })
        .map(String::as_str)
}

/// This node's leases, renewed by the callers' loops.
pub struct Leases {
    db: Db,
    node: String,
    /// Local view: lease name → (epoch, held until by this process's clock).
    held: Mutex<HashMap<String, (i64, Instant)>>,
}

impl Leases {
    pub fn new(db: Db) -> Arc<Leases> {
        Arc::new(Leases {
            db,
            node: super::node_id().to_string(),
            held: Mutex::new(HashMap::new()),
        })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Take or renew `name` for `ttl`: `Some(epoch)` while held.
    pub async fn acquire(&self, name: &str, ttl: Duration) -> Result<Option<i64>, LeaseError> {
        let started = Instant::now();
        let (n, node) = (name.to_string(), self.node.clone());
        let got = self
            .db
            .call(move |c| try_acquire(c, &n, &node, ttl).map_err(DbError::from))
            .await?;
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match got {
            // Held until the lease runs out, counted from before we asked.
            Some(epoch) => {
                held.insert(name.to_string(), (epoch, started + ttl));
            }
            None => {
                held.remove(name);
            }
        }
        Ok(got)
    }

    /// One raw attempt by `holder` (tests race many holders in one process).
    #[doc(hidden)]
    pub fn try_acquire_for_test(conn: &Connection, name: &str, holder: &str) -> bool {
        try_acquire(conn, name, holder, Duration::from_secs(30)).is_ok_and(|e| e.is_some())
    }

    /// Whether this node holds `name` now (as of its last acquire).
    pub fn holds(&self, name: &str) -> bool {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(name).is_some_and(|(_, until)| Instant::now() < *until)
    }

    pub async fn release(&self, name: &str) -> Result<(), LeaseError> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        let (n, node) = (name.to_string(), self.node.clone());
        self.db
            .call(move |c| release(c, &n, &node).map_err(DbError::from))
            .await?;
        Ok(())
    }

    /// Run `job` only on the node that holds `name` (a background job that
    /// must run once per deployment). Call it every tick; `ttl` longer than the
    /// tick keeps the lease with its holder, and a dead holder's job moves to
    /// another node within `ttl` plus one tick.
    pub async fn once<F, Fut, T>(&self, name: &str, ttl: Duration, job: F) -> Option<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        match self.acquire(name, ttl).await {
            Ok(Some(_)) => Some(job().await),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "could not take a lease; job skipped");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Db {
        let dir = std::env::temp_dir().join(format!("cunlink-lease-{}-{}", std::process::id(), crate::time::now_ms()));
        let db = Db::open(&dir.join("cunlink.db")).unwrap();
        db.migrate("cluster", super::super::MIGRATIONS).unwrap();
        db
    }

    #[test]
    fn one_holder_at_a_time_and_takeover_after_expiry() {
        let db = db();
        db.call_blocking(|c| {
            let a = try_acquire(c, "job", "a", Duration::from_millis(200))?;
            assert_eq!(a, Some(1));
            assert_eq!(try_acquire(c, "job", "b", Duration::from_secs(5))?, None);
            assert_eq!(try_acquire(c, "job", "a", Duration::from_millis(200))?, Some(1), "renewal keeps the epoch");
            std::thread::sleep(Duration::from_millis(250));
            assert_eq!(try_acquire(c, "job", "b", Duration::from_secs(5))?, Some(2), "a new holder, a new epoch");
            assert_eq!(try_acquire(c, "job", "a", Duration::from_secs(5))?, None);
            release(c, "job", "b")?;
            assert_eq!(try_acquire(c, "job", "a", Duration::from_secs(5))?, Some(1));
            Ok::<_, sql::Error>(())
        })
        .unwrap();
    }

    #[test]
    fn heartbeats_list_live_nodes_and_owners_spread() {
        let db = db();
        let nodes = db
            .call_blocking(|c| {
                heartbeat(c, "n2", 0, Duration::from_secs(5))?;
                heartbeat(c, "n1", 0, Duration::from_secs(5))
            })
            .unwrap();
        assert_eq!(nodes, ["n1", "n2"]);
        let three: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut counts = HashMap::new();
        for v in 0..300 {
            *counts.entry(owner(&v.to_string(), &three).unwrap()).or_insert(0) += 1;
        }
        assert!(counts.values().all(|&n| n > 60), "{counts:?}");
        // Removing a node moves only its items.
        let two: Vec<String> = ["a", "b"].map(String::from).to_vec();
        for v in 0..300 {
            let before = owner(&v.to_string(), &three).unwrap();
            if before != "c" {
                assert_eq!(owner(&v.to_string(), &two), Some(before));
            }
        }
    }
}
