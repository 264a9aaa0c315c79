//! The group-commit writer: one thread, the only one that writes `telemetry.db`.
//!
//! Invariant: **acked ⇒ committed.** A job's ack is sent only after the
//! transaction holding its readings has committed with `synchronous=FULL`
//! (fsync). Jobs that queue up while a commit is in flight share the next
//! transaction, so one fsync covers many requests and messages; the batch grows
//! with load and no deliberate wait is added when idle.
//!
//! Each transaction appends one log row, seals the buffers that filled up during
//! the previous commit into chunks, and, every minute or 64 MiB of log, seals or
//! carries forward every open buffer so old log rows can be deleted. Sealing a
//! chunk also updates its series' hourly and daily rollups (see [`super::rollup`]).
//! Chunks are sealed in format 1, cheap to encode; the maintenance pass compacts
//! them into format 2 (pco) off this thread (see [`super::compact`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cunlink_core::sql::{Connection, Transaction, params};
use tokio::sync::{OwnedSemaphorePermit, broadcast, mpsc, oneshot};

use super::codec;
use super::health::WriterHealth;
use super::metrics::IngestMetrics;
use super::store::{Place, SeriesBuf, TsStore};
use super::value::{DeviceId, KeyId, Reading, Value};
use cunlink_core::time::now_ms;

/// A series buffer this full is sealed in the next transaction.
pub const SEAL_POINTS: usize = 512;
/// On a log truncation, buffers at least this full are sealed, smaller ones carried.
const MIN_SEAL_ON_TRUNCATE: usize = 64;
/// Buffers older than this are sealed at the next truncation, however small.
const MAX_OPEN_AGE_MS: i64 = 3_600_000;
const TRUNCATE_LOG_BYTES: u64 = 64 << 20;

/// A client attribute to store (latest value only).
#[derive(Debug, Clone)]
pub struct Attribute {
    pub device: DeviceId,
    pub key: Box<str>,
    pub ts: i64,
    pub value: Value,
}

/// Why a job was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("telemetry storage failed: {0}")]
    Storage(String),
}

/// Work for the writer: readings and attributes that commit together or not at all.
pub struct Job {
    pub readings: Vec<Reading>,
    pub attributes: Vec<Attribute>,
    pub ack: Option<oneshot::Sender<Result<(), CommitError>>>,
    /// Queue space this job holds; released once it is committed.
    pub permit: Option<OwnedSemaphorePermit>,
}

pub enum Msg {
    Job(Job),
    /// Commit what is queued, then stop.
    Shutdown,
}

/// Readings of one committed transaction, as published to listeners. Key ids
/// are this process's: a bus to other nodes sends key names (`keys.name`), and
/// the receiving node applies them with `TsStore::note_peer_latest`.
pub struct Committed {
    pub readings: Vec<Reading>,
    pub attributes: Vec<Attribute>,
    /// Wall clock (ms) when the transaction committed.
    pub committed_at: i64,
    /// Committed by another node of the deployment and relayed by the bus
    /// (see `telemetry::fanout`); not to be relayed again.
    pub remote: bool,
}

pub struct Writer {
    conn: Connection,
    /// Where to reconnect (PostgreSQL restarts; SQLite never needs it).
    place: Place,
    /// The connection failed: open a new one before the next batch.
    reconnect: bool,
    store: Arc<TsStore>,
    rx: mpsc::UnboundedReceiver<Msg>,
    bus: broadcast::Sender<Arc<Committed>>,
    metrics: Arc<IngestMetrics>,
    health: Arc<WriterHealth>,
    max_batch_values: usize,
    checkpoint_every: Duration,
    give_up: Duration,
    uplink: bool,
    /// Readings in the batch being committed (counted into its uplink row).
    uplink_points: usize,
    persisted_keys: usize,
    pending_seal: Vec<u32>,
    latest_dirty: HashSet<(DeviceId, KeyId)>,
    log_bytes_since_truncate: u64,
    last_truncate: Instant,
}

/// What one transaction did, applied to memory after it committed.
struct Outcome {
    sealed: Vec<u32>,
    truncated: bool,
    keys_persisted: usize,
}

/// Timing knobs of the writer (from `IngestConfig`).
pub struct Knobs {
    pub max_batch_values: usize,
    pub checkpoint_every: Duration,
    /// Commits failing this long without a success stop the writer.
    pub give_up: Duration,
    /// A village node: keep each batch in `uplink` too, until the hub has it.
    pub uplink: bool,
}

impl Writer {
    pub fn new(
        mut conn: Connection,
        store: Arc<TsStore>,
        rx: mpsc::UnboundedReceiver<Msg>,
        bus: broadcast::Sender<Arc<Committed>>,
        metrics: Arc<IngestMetrics>,
        health: Arc<WriterHealth>,
        knobs: Knobs,
    ) -> Writer {
        // Waiting behind a maintenance transaction: retry every 100 µs rather than
        // SQLite's default back-off (1, 2, 5, 10… ms), which would add whole
        // milliseconds to every ack queued behind this commit. Gives up after ~5 s.
        if let Err(e) = conn.as_sqlite_mut().map_or(Ok(()), |c| {
            c.busy_handler(Some(|tries| {
                std::thread::sleep(Duration::from_micros(100));
                tries < 50_000
            }))
        }) {
            tracing::warn!(error = %e, "could not set the telemetry writer's busy handler");
        }
        let persisted_keys = store.keys.len();
        let place = store.place().clone();
        let pending_seal = store
            .mem()
            .bufs
            .iter()
            .enumerate()
            .filter(|(_, b)| b.ts.len() >= SEAL_POINTS)
            .map(|(i, _)| i as u32)
            .collect();
        Writer {
            conn,
            place,
            reconnect: false,
            store,
            rx,
            bus,
            metrics,
            health,
            max_batch_values: knobs.max_batch_values,
            checkpoint_every: knobs.checkpoint_every,
            give_up: knobs.give_up,
            uplink: knobs.uplink,
            uplink_points: 0,
            persisted_keys,
            pending_seal,
            latest_dirty: HashSet::new(),
            log_bytes_since_truncate: 0,
            last_truncate: Instant::now(),
        }
    }

    /// Run until shutdown: drain what is queued into one batch, commit, ack, repeat.
    /// Returns an error when commits kept failing for the give-up window; jobs still
    /// queued are then dropped unacknowledged (their senders see an error).
    pub fn run(mut self) -> Result<(), String> {
        let mut stopping = false;
        while !stopping {
            let Some(first) = self.rx.blocking_recv() else {
                break;
            };
            let mut jobs = Vec::new();
            let mut values = 0usize;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Job(j) => {
                        values += j.readings.len() + j.attributes.len();
                        jobs.push(j);
                    }
                    Msg::Shutdown => {
                        // Refuse new work, but commit everything already accepted.
                        self.rx.close();
                        stopping = true;
                    }
                }
                if values < self.max_batch_values || stopping {
                    next = self.rx.try_recv().ok();
                }
            }
            if !jobs.is_empty()
                && let Err(e) = self.commit(jobs)
            {
                return Err(format!(
                    "commits failed for {}s without a success; last error: {e}",
                    self.give_up.as_secs()
                ));
            }
        }
        tracing::info!("telemetry writer stopped");
        Ok(())
    }

    /// Commit one batch. Errs (with the storage error) when commits have now been
    /// failing for the give-up window.
    fn commit(&mut self, jobs: Vec<Job>) -> Result<(), String> {
        let started = Instant::now();
        let n_jobs = jobs.len();
        let mut readings = Vec::with_capacity(jobs.iter().map(|j| j.readings.len()).sum());
        let mut attributes = Vec::new();
        let mut acks = Vec::with_capacity(n_jobs);
        let mut permits = Vec::with_capacity(n_jobs);
        for j in jobs {
            readings.extend(j.readings);
            attributes.extend(j.attributes);
            acks.extend(j.ack);
            permits.extend(j.permit);
        }

        // PostgreSQL: a connection that works, and ids for new keys and series from
        // the database (outside the batch's transaction: an id nobody uses yet is
        // harmless if the batch then fails).
        let prepared = self.prepare_postgres(&readings);
        let (sids, first_new) = if prepared.is_ok() {
            self.series_ids(&readings)
        } else {
            (Vec::new(), self.store.mem().bufs.len() as u32)
        };
        let blob = codec::encode_log(
            readings
                .iter()
                .zip(&sids)
                .map(|(r, s)| (*s, r.ts, &r.value)),
        );
        let truncate = self.log_bytes_since_truncate > TRUNCATE_LOG_BYTES
            || self.last_truncate.elapsed() >= self.checkpoint_every;
        let seal = std::mem::take(&mut self.pending_seal);
        self.uplink_points = readings.len();

        let result =
            prepared.and_then(|()| self.transact(&blob, first_new, &seal, truncate, &attributes));
        match result {
            Ok(out) => {
                self.health.committed();
                self.persisted_keys = out.keys_persisted;
                self.log_bytes_since_truncate += blob.len() as u64;
                if out.truncated {
                    self.log_bytes_since_truncate = 0;
                    self.last_truncate = Instant::now();
                    // Persisted by this checkpoint; this batch's changes are marked below.
                    self.latest_dirty.clear();
                }
                self.apply(&readings, &sids, &out);
                let st = &self.store.stats;
                st.points_committed
                    .fetch_add(readings.len() as u64, std::sync::atomic::Ordering::Relaxed);
                st.log_bytes
                    .fetch_add(blob.len() as u64, std::sync::atomic::Ordering::Relaxed);
                self.metrics
                    .observe_commit(n_jobs, readings.len(), started.elapsed());
                for ack in acks {
                    let _ = ack.send(Ok(()));
                }
                drop(permits);
                self.publish(readings, attributes);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = n_jobs, "telemetry commit failed; nothing of this batch was acknowledged");
                self.metrics.commit_errors.inc();
                // Forget series this batch introduced: their rows were rolled back.
                let mut mem = self.store.mem_mut();
                let drop_from = first_new as usize;
                while mem.bufs.len() > drop_from {
                    if let Some(b) = mem.bufs.pop() {
                        mem.series.remove(&(b.device, b.key));
                    }
                }
                drop(mem);
                self.pending_seal = seal;
                let err = CommitError::Storage(e.to_string());
                for ack in acks {
                    let _ = ack.send(Err(err.clone()));
                }
                // PostgreSQL down or restarting: answer 503 meanwhile and reconnect
                // before the next batch, however long it takes (the database's
                // failover is not ours to give up on).
                let outage = self.place.is_postgres()
                    && (e.is_unavailable() || self.conn.is_broken() || self.reconnect);
                if outage {
                    self.reconnect = true;
                }
                let give_up = if outage {
                    Duration::from_secs(u64::from(u32::MAX))
                } else {
                    self.give_up
                };
                if self.health.failed(&e.to_string(), give_up) {
                    return Err(e.to_string());
                }
                Ok(())
            }
        }
    }

    /// The single point where committed readings leave the writer: the in-process
    /// bus (live views, alert engine). A cross-node bus (LISTEN/NOTIFY) hooks here:
    /// only acknowledged, committed readings ever reach it.
    fn publish(&self, readings: Vec<Reading>, attributes: Vec<Attribute>) {
        if self.bus.receiver_count() > 0 && !(readings.is_empty() && attributes.is_empty()) {
            let _ = self.bus.send(Arc::new(Committed {
                readings,
                attributes,
                committed_at: cunlink_core::time::now_ms(),
                remote: false,
            }));
        }
    }

    /// PostgreSQL only: reconnect if needed, then store new key names and create
    /// the series this batch needs, taking their ids from the database.
    fn prepare_postgres(&mut self, readings: &[Reading]) -> cunlink_core::sql::Result<()> {
        let Place::Postgres { writer, .. } = &self.place else {
            return Ok(());
        };
        if self.reconnect || self.conn.is_broken() {
            let c = self.place.connect()?;
            if !super::pg::lock_writer(&c, writer)? {
                return Err(cunlink_core::sql::Error::Other(format!(
                    "telemetry writer id '{writer}' is held by another process"
                )));
            }
            tracing::info!("telemetry writer reconnected to PostgreSQL");
            self.conn = c;
            self.reconnect = false;
        }
        let keys = &self.store.keys;
        super::pg::persist_keys(&self.conn, keys)?;
        let missing: Vec<(DeviceId, KeyId)> = {
            let mem = self.store.mem();
            let mut seen = HashSet::new();
            readings
                .iter()
                .map(|r| (r.device, r.key))
                .filter(|k| !mem.series.contains_key(k) && seen.insert(*k))
                .collect()
        };
        for (device, key) in missing {
            let key_db = keys.db_id(key).ok_or_else(|| {
                cunlink_core::sql::Error::Other(format!("key {} has no stored id", key.0))
            })?;
            let sid = super::pg::series_id(&self.conn, device, key_db)?;
            self.store.mem_mut().add_series(sid, device, key);
        }
        self.persisted_keys = keys.len();
        Ok(())
    }

    /// Series id of every reading, creating series for new (device, key) pairs.
    /// Returns the ids and the first id created by this batch.
    fn series_ids(&mut self, readings: &[Reading]) -> (Vec<u32>, u32) {
        let mut sids = Vec::with_capacity(readings.len());
        let mut missing = false;
        {
            let mem = self.store.mem();
            for r in readings {
                match mem.series.get(&(r.device, r.key)) {
                    Some(&s) => sids.push(s),
                    None => {
                        missing = true;
                        sids.push(u32::MAX);
                    }
                }
            }
        }
        if !missing {
            return (sids, self.store.mem().bufs.len() as u32);
        }
        let mut mem = self.store.mem_mut();
        let first_new = mem.bufs.len() as u32;
        {
            for (r, sid) in readings.iter().zip(sids.iter_mut()) {
                if *sid != u32::MAX {
                    continue;
                }
                *sid = match mem.series.get(&(r.device, r.key)) {
                    Some(&s) => s,
                    None => {
                        let s = mem.bufs.len() as u32;
                        mem.bufs.push(SeriesBuf::new(r.device, r.key));
                        mem.series.insert((r.device, r.key), s);
                        s
                    }
                };
            }
        }
        (sids, first_new)
    }

    /// One batch's transaction. Nothing here acks: the caller acks only after
    /// `commit` returned, which keeps **acked ⇒ committed** (see the module doc).
    /// Each step below is one statement group inside that single transaction.
    fn transact(
        &mut self,
        blob: &[u8],
        first_new: u32,
        seal: &[u32],
        truncate: bool,
        attributes: &[Attribute],
    ) -> cunlink_core::sql::Result<Outcome> {
        let store = self.store.clone();
        let writer = self.place.writer().map(str::to_owned);
        let writer = writer.as_deref();
        // SQLite, IMMEDIATE: take the write lock up front, so a maintenance
        // transaction of another connection makes this one wait (busy_timeout)
        // instead of failing. PostgreSQL: no deployment-wide lock (see `pg`).
        let behavior = if writer.is_some() {
            cunlink_core::sql::TransactionBehavior::Concurrent
        } else {
            cunlink_core::sql::TransactionBehavior::Immediate
        };
        let tx = self.conn.transaction_with_behavior(behavior)?;

        // PostgreSQL stored keys and series before the transaction (`prepare_postgres`).
        let keys_persisted = if writer.is_some() {
            self.persisted_keys
        } else {
            let new_keys = store.keys.names_from(self.persisted_keys);
            insert_new_keys(&tx, &new_keys)?;
            self.persisted_keys + new_keys.len()
        };

        let mem = store.mem();
        if writer.is_none() {
            insert_new_series(&tx, &mem, first_new)?;
        }
        let plan = plan_truncation(&tx, writer, &mem, seal, truncate)?;
        let log_id = append_log(&tx, writer, blob)?;
        if self.uplink && self.uplink_points > 0 {
            tx.prepare_cached("INSERT INTO uplink (n, body) VALUES ($1, $2)")?
                .execute(params![self.uplink_points as i64, blob])?;
        }
        seal_chunks(&tx, writer, &mem, &store.stats, &plan, log_id)?;
        if truncate {
            truncate_log(
                &tx,
                writer,
                &store.keys,
                &mem,
                &self.latest_dirty,
                plan.carry_id.unwrap_or(log_id),
            )?;
        }
        drop(mem);

        upsert_attributes(&tx, attributes)?;
        tx.commit()?;
        Ok(Outcome {
            sealed: plan.sealed,
            truncated: truncate,
            keys_persisted,
        })
    }
}

/// Which buffers this transaction seals into chunks, which it carries into a
/// fresh log row, and that row's id.
struct TruncationPlan {
    sealed: Vec<u32>,
    carried: Vec<u32>,
    carry_id: Option<i64>,
}

/// Persist key names interned since the last commit.
fn insert_new_keys(
    tx: &Transaction<'_>,
    new_keys: &[(u32, Arc<str>)],
) -> cunlink_core::sql::Result<()> {
    let mut st = tx.prepare_cached("INSERT INTO keys (id, name) VALUES ($1, $2)")?;
    for (id, name) in new_keys {
        st.execute(params![id, name.as_ref()])?;
    }
    Ok(())
}

/// Persist the series this batch created (ids from `first_new` on).
fn insert_new_series(
    tx: &Transaction<'_>,
    mem: &super::store::Mem,
    first_new: u32,
) -> cunlink_core::sql::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO series (id, device, key, replay_from) VALUES ($1, $2, $3, 0)",
    )?;
    for sid in first_new..mem.bufs.len() as u32 {
        let b = &mem.bufs[sid as usize];
        st.execute(params![sid, b.device.0, b.key.0])?;
    }
    Ok(())
}

/// On truncation every open buffer is sealed or carried into a fresh log row
/// written *before* this batch's row, so that this batch's points, which land
/// in those buffers after the commit, stay replayable.
fn plan_truncation(
    tx: &Transaction<'_>,
    writer: Option<&str>,
    mem: &super::store::Mem,
    seal: &[u32],
    truncate: bool,
) -> cunlink_core::sql::Result<TruncationPlan> {
    let mut sealed: Vec<u32> = seal.to_vec();
    let mut carried = Vec::new();
    let mut carry_id = None;
    if truncate {
        let already: HashSet<u32> = seal.iter().copied().collect();
        let now = now_ms();
        for (sid, b) in mem.bufs.iter().enumerate() {
            let sid = sid as u32;
            if b.ts.is_empty() || already.contains(&sid) {
                continue;
            }
            if b.ts.len() >= MIN_SEAL_ON_TRUNCATE || now - b.opened_at > MAX_OPEN_AGE_MS {
                sealed.push(sid);
            } else {
                carried.push(sid);
            }
        }
        if !carried.is_empty() {
            let pts = carried.iter().flat_map(|&sid| {
                let b = &mem.bufs[sid as usize];
                b.ts.iter().zip(&b.vals).map(move |(t, v)| (sid, *t, v))
            });
            let pts: Vec<(u32, i64, &Value)> = pts.collect();
            let carry = codec::encode_log(pts.iter().copied());
            carry_id = Some(append_log(tx, writer, &carry)?);
        }
    }
    Ok(TruncationPlan {
        sealed,
        carried,
        carry_id,
    })
}

/// Append one log row (PostgreSQL: under this writer's id); its id.
fn append_log(
    tx: &Transaction<'_>,
    writer: Option<&str>,
    body: &[u8],
) -> cunlink_core::sql::Result<i64> {
    match writer {
        None => tx.query_row(
            "INSERT INTO log (body) VALUES ($1) RETURNING id",
            [body],
            |r| r.get(0),
        ),
        Some(w) => tx.query_row(
            "INSERT INTO log (writer, body) VALUES ($1, $2) RETURNING id",
            params![w, body],
            |r| r.get(0),
        ),
    }
}

/// Move a series' replay point (PostgreSQL: this writer's, in `series_replay`).
fn set_replay_from(
    tx: &Transaction<'_>,
    writer: Option<&str>,
    sid: u32,
    from: i64,
) -> cunlink_core::sql::Result<()> {
    match writer {
        None => tx.execute(
            "UPDATE series SET replay_from = $1 WHERE id = $2",
            params![from, sid],
        )?,
        Some(w) => tx.execute(
            "INSERT INTO series_replay (writer, series, replay_from) VALUES ($1, $2, $3)
             ON CONFLICT (writer, series) DO UPDATE SET replay_from = excluded.replay_from",
            params![w, sid, from],
        )?,
    };
    Ok(())
}

/// Write each sealed buffer as a chunk and move its series' replay point past
/// this batch's log row; carried series replay from the carry row.
fn seal_chunks(
    tx: &Transaction<'_>,
    writer: Option<&str>,
    mem: &super::store::Mem,
    stats: &super::store::StoreStats,
    plan: &TruncationPlan,
    log_id: i64,
) -> cunlink_core::sql::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    if let Some(w) = writer {
        return seal_chunks_postgres(tx, w, mem, stats, plan, log_id);
    }
    for &sid in &plan.sealed {
        let b = &mem.bufs[sid as usize];
        if b.ts.is_empty() {
            continue;
        }
        let (ts, vals) = sorted_unique(b);
        // Format 1 here (cheap to encode); compaction rewrites it in format 2 (pco)
        // in the background, merged with its neighbours (see `compact`).
        let data = codec::encode_chunk_v1(&ts, &vals);
        let chunk_id: i64 = tx.query_row(
            "INSERT INTO chunks (series, t0, t1, n, data, rolled, fmt) VALUES ($1, $2, $3, $4, $5, 1, 1) RETURNING id",
            params![sid, ts[0], ts[ts.len() - 1], ts.len() as i64, data],
            |r| r.get(0),
        )?;
        super::rollup::add_chunk(tx, sid, chunk_id, &ts, &vals)?;
        set_replay_from(tx, writer, sid, log_id)?;
        stats.chunks_sealed.fetch_add(1, Relaxed);
        stats.points_sealed.fetch_add(ts.len() as u64, Relaxed);
        stats.chunk_bytes.fetch_add(data.len() as u64, Relaxed);
    }
    if let Some(c) = plan.carry_id {
        for &sid in &plan.carried {
            set_replay_from(tx, writer, sid, c)?;
        }
    }
    Ok(())
}

/// [`seal_chunks`] on PostgreSQL, where each statement is a round trip: the
/// series locks, the chunk rows and the replay points go in a few statements for
/// the whole batch (a checkpoint seals thousands of series at once).
fn seal_chunks_postgres(
    tx: &Transaction<'_>,
    writer: &str,
    mem: &super::store::Mem,
    stats: &super::store::StoreStats,
    plan: &TruncationPlan,
    log_id: i64,
) -> cunlink_core::sql::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut sealed: Vec<u32> = plan
        .sealed
        .iter()
        .copied()
        .filter(|&sid| !mem.bufs[sid as usize].ts.is_empty())
        .collect();
    sealed.sort_unstable();
    sealed.dedup();
    // Another node's seal or the compaction of these series waits for us (rollups
    // are read-modify-write; SQLite's writer lock did this).
    super::pg::lock_series_many(tx, &sealed)?;
    let encoded: Vec<(u32, Vec<i64>, Vec<Value>, Vec<u8>)> = sealed
        .iter()
        .map(|&sid| {
            let (ts, vals) = sorted_unique(&mem.bufs[sid as usize]);
            let data = codec::encode_chunk_v1(&ts, &vals);
            (sid, ts, vals, data)
        })
        .collect();
    let rows: Vec<(u32, &[i64], &[u8])> = encoded
        .iter()
        .map(|(sid, ts, _, data)| (*sid, ts.as_slice(), data.as_slice()))
        .collect();
    let ids = super::pg::insert_chunks(tx, &rows)?;
    let rolled: Vec<(u32, i64, &[i64], &[Value])> = encoded
        .iter()
        .zip(&ids)
        .map(|((sid, ts, vals, _), id)| (*sid, *id, ts.as_slice(), vals.as_slice()))
        .collect();
    super::rollup::add_chunks(tx, &rolled)?;
    for (_, ts, _, data) in &encoded {
        stats.chunks_sealed.fetch_add(1, Relaxed);
        stats.points_sealed.fetch_add(ts.len() as u64, Relaxed);
        stats.chunk_bytes.fetch_add(data.len() as u64, Relaxed);
    }
    super::pg::set_replay_many(tx, writer, &sealed, log_id)?;
    if let Some(c) = plan.carry_id {
        super::pg::set_replay_many(tx, writer, &plan.carried, c)?;
    }
    Ok(())
}

/// Delete log rows older than `keep_from` (the carry row, or this batch's row),
/// first persisting the latest values those rows produced.
fn truncate_log(
    tx: &Transaction<'_>,
    writer: Option<&str>,
    keys: &super::value::Keys,
    mem: &super::store::Mem,
    dirty: &HashSet<(DeviceId, KeyId)>,
    keep_from: i64,
) -> cunlink_core::sql::Result<()> {
    match writer {
        None => tx.execute("DELETE FROM log WHERE id < $1", [keep_from])?,
        // Only this writer's rows: the other nodes' rows still hold their unsealed points.
        Some(w) => tx.execute(
            "DELETE FROM log WHERE writer = $1 AND id < $2",
            params![w, keep_from],
        )?,
    };
    checkpoint_latest(tx, keys, mem, dirty)
}

/// Upsert client attributes, keeping the newest by timestamp.
fn upsert_attributes(
    tx: &Transaction<'_>,
    attributes: &[Attribute],
) -> cunlink_core::sql::Result<()> {
    if attributes.is_empty() {
        return Ok(());
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO attributes (device, key, ts, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (device, key) DO UPDATE SET ts = excluded.ts, value = excluded.value WHERE excluded.ts >= attributes.ts",
    )?;
    for a in attributes {
        let mut v = Vec::new();
        codec::put_value(&mut v, &a.value);
        st.execute(params![a.device.0, a.key.as_ref(), a.ts, v])?;
    }
    Ok(())
}

/// Persist latest values changed since the last checkpoint: the log rows that
/// produced them are about to be deleted.
fn checkpoint_latest(
    tx: &Transaction<'_>,
    keys: &super::value::Keys,
    mem: &super::store::Mem,
    dirty: &HashSet<(DeviceId, KeyId)>,
) -> cunlink_core::sql::Result<()> {
    // Never older over newer: another node (or a late reading) may have stored a
    // newer value of the key meanwhile.
    let mut st = tx.prepare_cached(
        "INSERT INTO latest (device, key, ts, value) VALUES ($1, $2, $3, $4)
             ON CONFLICT (device, key) DO UPDATE SET ts = excluded.ts, value = excluded.value
             WHERE excluded.ts >= latest.ts",
    )?;
    for (device, key) in dirty {
        let Some(key_db) = keys.db_id(*key) else {
            continue;
        };
        if let Some(l) = mem
            .latest
            .get(device)
            .and_then(|list| list.iter().find(|l| l.key == *key))
        {
            let mut v = Vec::new();
            codec::put_value(&mut v, &l.value);
            st.execute(params![device.0, key_db, l.ts, v])?;
        }
    }
    Ok(())
}

impl Writer {
    /// After commit: empty sealed buffers, append the batch, update latest values.
    fn apply(&mut self, readings: &[Reading], sids: &[u32], out: &Outcome) {
        let now = now_ms();
        let mut mem = self.store.mem_mut();
        for &sid in &out.sealed {
            let b = &mut mem.bufs[sid as usize];
            b.ts.clear();
            b.vals.clear();
            // Keep room for what a slow series gathers between checkpoints and give
            // the rest back: after a burst (a backfill, a gateway catching up) every
            // series would otherwise keep room for up to 1,024 points (32 B each)
            // for good — 16 MB resident for 500 probes on a 64 MB village node. A
            // fast series grows back to SEAL_POINTS in three reallocations.
            if b.ts.capacity() > MIN_SEAL_ON_TRUNCATE {
                b.ts.shrink_to(MIN_SEAL_ON_TRUNCATE);
                b.vals.shrink_to(MIN_SEAL_ON_TRUNCATE);
            }
        }
        for (r, &sid) in readings.iter().zip(sids) {
            let b = &mut mem.bufs[sid as usize];
            if b.ts.is_empty() {
                b.opened_at = now;
            }
            b.ts.push(r.ts);
            b.vals.push(r.value.clone());
            if b.ts.len() == SEAL_POINTS {
                self.pending_seal.push(sid);
            }
            if mem.note_latest(r.device, r.key, r.ts, &r.value) {
                self.latest_dirty.insert((r.device, r.key));
            }
        }
    }
}

/// A buffer's points sorted by time, keeping the last written value per timestamp.
fn sorted_unique(b: &SeriesBuf) -> (Vec<i64>, Vec<Value>) {
    let mut idx: Vec<usize> = (0..b.ts.len()).collect();
    idx.sort_by_key(|&i| b.ts[i]);
    let mut ts: Vec<i64> = Vec::with_capacity(idx.len());
    let mut vals: Vec<Value> = Vec::with_capacity(idx.len());
    for i in idx {
        if ts.last() == Some(&b.ts[i]) {
            if let Some(v) = vals.last_mut() {
                *v = b.vals[i].clone();
            }
        } else {
            ts.push(b.ts[i]);
            vals.push(b.vals[i].clone());
        }
    }
    (ts, vals)
}
