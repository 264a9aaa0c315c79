//! The telemetry store: `telemetry.db` plus the in-memory open buffers.
//!
//! Invariant: every committed point is either in a sealed chunk or in a log row
//! at or after its series' `replay_from`, and in the latter case also in that
//! series' memory buffer. Queries read buffer then chunks and keep one value per
//! timestamp (the latest written), so a seal racing a query can duplicate a point
//! but never hide one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use cunlink_core::sql::Connection;

use super::codec::{self, CodecError};
use super::value::{DeviceId, KeyId, Keys, Value};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryStoreError {
    #[error("telemetry database: {0}")]
    Sqlite(#[from] cunlink_core::sql::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("telemetry schema: {0}")]
    Migrate(#[from] cunlink_core::DbError),
    #[error("could not start the telemetry writer thread: {0}")]
    WriterThread(std::io::Error),
    #[error("telemetry.db is in use by another process ({0} is locked): stop the server first")]
    InUse(String),
    #[error("telemetry lock file: {0}")]
    Lock(std::io::Error),
}

/// Where the store lives.
#[derive(Debug, Clone)]
pub enum Place {
    /// `telemetry.db`, a SQLite file of its own.
    File(PathBuf),
    /// The `telemetry` schema of the deployment's PostgreSQL database; `writer`
    /// names this process's log rows (see [`super::pg`]).
    Postgres { url: String, writer: String },
}

impl Place {
    /// A new connection to the store (PostgreSQL: schema on the search path).
    pub fn connect(&self) -> Result<Connection, cunlink_core::sql::Error> {
        match self {
            Place::File(path) => Ok(Connection::from_sqlite(cunlink_core::db::open_connection(
                path,
            )?)),
            Place::Postgres { url, .. } => super::pg::connect(url),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Place::Postgres { .. })
    }

    /// This process's writer id on PostgreSQL.
    pub fn writer(&self) -> Option<&str> {
        match self {
            Place::File(_) => None,
            Place::Postgres { writer, .. } => Some(writer),
        }
    }
}

/// Points of one series not yet sealed into a chunk, in arrival order.
pub struct SeriesBuf {
    pub device: DeviceId,
    pub key: KeyId,
    pub ts: Vec<i64>,
    pub vals: Vec<Value>,
    /// Wall time the oldest buffered point arrived; old buffers get sealed.
    pub opened_at: i64,
}

impl SeriesBuf {
    pub fn new(device: DeviceId, key: KeyId) -> Self {
        SeriesBuf {
            device,
            key,
            ts: Vec::new(),
            vals: Vec::new(),
            opened_at: 0,
        }
    }
}

/// Latest value of one key of a device.
#[derive(Debug, Clone)]
pub struct LatestValue {
    pub key: KeyId,
    pub ts: i64,
    pub value: Value,
}

/// State shared by the writer (the only mutator) and queries.
#[derive(Default)]
pub struct Mem {
    pub series: HashMap<(DeviceId, KeyId), u32>,
    pub bufs: Vec<SeriesBuf>,
    pub latest: HashMap<DeviceId, Vec<LatestValue>>,
}

impl Mem {
    /// Make `sid` the series of (device, key), padding the buffer list (ids come
    /// from the database on PostgreSQL and need not be dense here).
    pub fn add_series(&mut self, sid: u32, device: DeviceId, key: KeyId) {
        let i = sid as usize;
        while self.bufs.len() <= i {
            self.bufs
                .push(SeriesBuf::new(DeviceId(-1), KeyId(u32::MAX)));
        }
        self.bufs[i] = SeriesBuf::new(device, key);
        self.series.insert((device, key), sid);
    }

    /// Record `value` as latest if it is not older than what is known.
    pub fn note_latest(&mut self, device: DeviceId, key: KeyId, ts: i64, value: &Value) -> bool {
        let list = self.latest.entry(device).or_default();
        match list.iter_mut().find(|l| l.key == key) {
            Some(l) if l.ts > ts => false,
            Some(l) => {
                l.ts = ts;
                l.value = value.clone();
                true
            }
            None => {
                list.push(LatestValue {
                    key,
                    ts,
                    value: value.clone(),
                });
                true
            }
        }
    }
}

/// Counters the store keeps for `/metrics` and the benchmark's checks.
#[derive(Default)]
pub struct StoreStats {
    pub points_committed: AtomicU64,
    pub chunks_sealed: AtomicU64,
    pub points_sealed: AtomicU64,
    pub chunk_bytes: AtomicU64,
    pub log_bytes: AtomicU64,
    /// Chunks decoded by queries (shows that a limited read stops early).
    pub chunks_read: AtomicU64,
}

pub struct TsStore {
    mem: RwLock<Mem>,
    pub keys: Keys,
    pub stats: StoreStats,
    place: Place,
    /// The file on SQLite; empty on PostgreSQL.
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

const MIGRATIONS: &[cunlink_core::Migration] = &[
    cunlink_core::Migration {
        version: 1,
        name: "telemetry",
        sql: include_str!("../../migrations/sqlite/telemetry_0001.sql"),
    },
    cunlink_core::Migration {
        version: 2,
        name: "rollups",
        sql: include_str!("../../migrations/sqlite/telemetry_0002.sql"),
    },
    cunlink_core::Migration {
        version: 3,
        name: "writers",
        sql: include_str!("../../migrations/sqlite/telemetry_0003.sql"),
    },
    cunlink_core::Migration {
        version: 4,
        name: "uplink",
        sql: include_str!("../../migrations/sqlite/telemetry_0004.sql"),
    },
];

/// A store file without incremental auto-vacuum is converted (one `VACUUM`, which
/// rewrites the file) at start only below this size; a bigger one keeps reusing its
/// free pages internally and the operator converts it (docs/storage.md).
const VACUUM_CONVERT_MAX_BYTES: u64 = 256 << 20;

/// What start-up found, for the log line.
pub struct Opened {
    pub store: Arc<TsStore>,
    pub writer_conn: Connection,
    pub replayed_points: usize,
    pub log_rows: usize,
}

impl TsStore {
    /// Open `path`, apply migrations and rebuild the open buffers from the log.
    pub fn open(path: &Path) -> Result<Opened, TelemetryStoreError> {
        Self::open_at(&Place::File(path.to_path_buf()))
    }

    /// Open the store at `place`, apply migrations and rebuild the open buffers
    /// from (this writer's part of) the log.
    pub fn open_at(place: &Place) -> Result<Opened, TelemetryStoreError> {
        let mut conn = place.connect()?;
        match place {
            Place::File(path) => ensure_incremental_vacuum(&conn, path)?,
            Place::Postgres { writer, .. } => {
                super::pg::ensure_schema(&conn)?;
                if !super::pg::lock_writer(&conn, writer)? {
                    return Err(TelemetryStoreError::InUse(format!(
                        "telemetry writer id '{writer}' (set CUNLINK_NODE_ID to tell nodes apart)"
                    )));
                }
            }
        }
        cunlink_core::db::migrate(&mut conn, "telemetry", MIGRATIONS)?;

        let keys = if place.is_postgres() {
            Keys::from_db(load_key_rows(&conn)?)
        } else {
            Keys::from_names(load_key_names(&conn)?)
        };
        let mut mem = Mem::default();
        let replay_from = load_series(&conn, &keys, place.writer(), &mut mem)?;
        load_latest(&conn, &keys, &mut mem)?;
        let (replayed, log_rows) = replay_log(&conn, place.writer(), &mut mem, &replay_from)?;
        let store = Arc::new(TsStore {
            mem: RwLock::new(mem),
            keys,
            stats: StoreStats::default(),
            place: place.clone(),
            path: match place {
                Place::File(p) => p.clone(),
                Place::Postgres { .. } => PathBuf::new(),
            },
            readers: Mutex::new(Vec::new()),
        });
        Ok(Opened {
            store,
            writer_conn: conn,
            replayed_points: replayed,
            log_rows,
        })
    }

    pub fn mem(&self) -> RwLockReadGuard<'_, Mem> {
        self.mem.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn mem_mut(&self) -> RwLockWriteGuard<'_, Mem> {
        self.mem.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Latest values of a device: (key name, ts, value), sorted by key name.
    pub fn latest(&self, device: DeviceId) -> Vec<(Arc<str>, i64, Value)> {
        let mem = self.mem();
        let mut out: Vec<_> = mem
            .latest
            .get(&device)
            .into_iter()
            .flatten()
            .filter_map(|l| Some((self.keys.name(l.key)?, l.ts, l.value.clone())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A reading another node committed, as a cross-node bus delivers it: made this
    /// node's latest value of the key if not older (so `latest()` here follows
    /// the other nodes). By key name: key ids are per node. Not stored here (the
    /// other node stores it). True when it became the latest.
    pub fn note_peer_latest(&self, device: DeviceId, key: &str, ts: i64, value: &Value) -> bool {
        let k = self.keys.intern(key);
        self.mem_mut().note_latest(device, k, ts, value)
    }

    /// Points of one series with `start <= ts <= end`, ascending, one per timestamp.
    /// Holds every point of the range in memory: for ranges of unknown size use
    /// [`TsStore::range_newest`] or [`TsStore::range_aggregate`].
    /// Blocking: call from the blocking pool.
    pub fn range(
        &self,
        device: DeviceId,
        key: KeyId,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Value)>, TelemetryStoreError> {
        let mut out = Vec::new();
        self.scan(device, key, start, end, |t, v| out.push((t, v)))?;
        Ok(out)
    }

    /// Visit the points of one series with `start <= ts <= end`, ascending, one per
    /// timestamp (the last written), without collecting them: chunks are decoded one
    /// at a time and a point is handed over as soon as no chunk still unread can
    /// hold its timestamp. Memory is the open buffer plus the chunks that overlap in
    /// time (usually one). Blocking: call from the blocking pool.
    pub fn scan(
        &self,
        device: DeviceId,
        key: KeyId,
        start: i64,
        end: i64,
        mut visit: impl FnMut(i64, Value),
    ) -> Result<(), TelemetryStoreError> {
        // Buffer first, then chunks: a seal in between duplicates points, never loses them.
        let mut pending: Vec<Pt> = Vec::new();
        let Some(sid) = self.buffered(device, key, start, end, &mut pending) else {
            return Ok(());
        };
        self.with_reader(|conn| {
            // Ids and bounds first, data one chunk at a time: sorting whole rows by t0
            // would make SQLite hold every blob of the range.
            let chunks: Vec<(i64, i64)> = {
                let mut st = conn.prepare_cached(
                    "SELECT id, t0 FROM chunks WHERE series = $1 AND t1 >= $2 AND t0 <= $3 ORDER BY t0, id",
                )?;
                let rows = st.query_map(cunlink_core::sql::params![sid, start, end], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            for (id, t0) in chunks {
                // Chunks come by ascending t0: no later one holds a point before t0.
                emit_before(&mut pending, Some(t0), &mut visit);
                read_chunk(conn, &self.stats, id, start, end, &mut pending)?;
            }
            Ok(())
        })?;
        emit_before(&mut pending, None, &mut visit);
        Ok(())
    }

    /// The newest `limit` points of one series with `start <= ts <= end`, ascending,
    /// one per timestamp. Chunks are read newest first and reading stops as soon as
    /// `limit` points newer than every unread chunk are known, so the cost follows
    /// `limit`, not the width of the range. Blocking: call from the blocking pool.
    pub fn range_newest(
        &self,
        device: DeviceId,
        key: KeyId,
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Value)>, TelemetryStoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut kept: Vec<Pt> = Vec::new();
        let Some(sid) = self.buffered(device, key, start, end, &mut kept) else {
            return Ok(Vec::new());
        };
        self.with_reader(|conn| {
            let chunks: Vec<(i64, i64)> = {
                let mut st = conn.prepare_cached(
                    "SELECT id, t1 FROM chunks WHERE series = $1 AND t1 >= $2 AND t0 <= $3 ORDER BY t1 DESC, id DESC",
                )?;
                let rows = st.query_map(cunlink_core::sql::params![sid, start, end], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            for (id, t1) in chunks {
                if kept.len() >= limit {
                    keep_newest(&mut kept, limit);
                    // Every unread chunk ends at or before t1: the points after t1 are final.
                    let final_after = kept.len() - kept.partition_point(|p| p.ts <= t1);
                    if final_after >= limit {
                        break;
                    }
                }
                read_chunk(conn, &self.stats, id, start, end, &mut kept)?;
            }
            Ok(())
        })?;
        keep_newest(&mut kept, limit);
        Ok(kept.into_iter().map(|p| (p.ts, p.value)).collect())
    }

    /// Per-interval aggregates of one series over `[start, end]`, streamed: memory
    /// follows the number of buckets, not the number of points. The caller bounds the
    /// buckets (`(end - start) / interval`; the JSON API allows 100,000).
    /// Blocking: call from the blocking pool.
    pub fn range_aggregate(
        &self,
        device: DeviceId,
        key: KeyId,
        start: i64,
        end: i64,
        interval: i64,
        agg: super::query::Agg,
    ) -> Result<Vec<(i64, Value)>, TelemetryStoreError> {
        if let Some(out) = self.aggregate_from_rollups(device, key, start, end, interval, agg)? {
            return Ok(out);
        }
        self.range_aggregate_raw(device, key, start, end, interval, agg)
    }

    /// [`TsStore::range_aggregate`] from raw points only (also what rollups are
    /// checked against in tests).
    pub fn range_aggregate_raw(
        &self,
        device: DeviceId,
        key: KeyId,
        start: i64,
        end: i64,
        interval: i64,
        agg: super::query::Agg,
    ) -> Result<Vec<(i64, Value)>, TelemetryStoreError> {
        let mut a = super::query::Aggregator::new(start, interval, agg);
        self.scan(device, key, start, end, |t, v| a.push(t, &v))?;
        Ok(a.finish())
    }

    /// Aggregates from the hourly (or daily) rollups when the buckets are whole
    /// hours (`start` on an hour, `interval` a multiple of one) and every chunk of
    /// the range is rolled up; `None` otherwise. Hours holding unsealed points, and
    /// a last hour cut by `end`, are aggregated from raw points instead.
    fn aggregate_from_rollups(
        &self,
        device: DeviceId,
        key: KeyId,
        start: i64,
        end: i64,
        interval: i64,
        agg: super::query::Agg,
    ) -> Result<Option<Vec<(i64, Value)>>, TelemetryStoreError> {
        use super::rollup::{self, Acc, DAY, HOUR};
        use std::collections::{BTreeMap, BTreeSet};
        if interval < HOUR || interval % HOUR != 0 || start.rem_euclid(HOUR) != 0 || end < start {
            return Ok(None);
        }
        // Hours that rollups do not answer: those with buffered points (read before
        // the rollups, so a seal in between is answered from raw, not counted twice)
        // and the last one if `end` cuts it.
        let mut raw_hours: BTreeSet<i64> = BTreeSet::new();
        let known = {
            let mem = self.mem();
            match mem.series.get(&(device, key)) {
                Some(&sid) => {
                    for &t in &mem.bufs[sid as usize].ts {
                        if t >= start && t <= end {
                            raw_hours.insert(rollup::floor(t, HOUR));
                        }
                    }
                    Some(sid)
                }
                None => None,
            }
        };
        // A series only another node has written (PostgreSQL): its rollups are here.
        let Some(sid) = known.or_else(|| self.other_writers_series(device, key)) else {
            return Ok(Some(Vec::new()));
        };
        let last_hour = rollup::floor(end, HOUR);
        if last_hour.checked_add(HOUR - 1).is_none_or(|e| e > end) {
            raw_hours.insert(last_hour);
        }
        let bucket_of = |t: i64| -> Option<i64> {
            let k = (i128::from(t) - i128::from(start)).div_euclid(i128::from(interval));
            i64::try_from(i128::from(start) + k * i128::from(interval)).ok()
        };
        let mut buckets: BTreeMap<i64, Acc> = BTreeMap::new();
        let use_days = interval % DAY == 0 && start.rem_euclid(DAY) == 0;
        let done = self.with_reader(|conn| {
            if rollup::has_unrolled(conn, sid, start, end)? {
                return Ok(false);
            }
            let mut hourly_days: Vec<(i64, i64)> = Vec::new();
            if use_days {
                let mut days_needing_hours: BTreeSet<i64> =
                    raw_hours.iter().map(|h| rollup::floor(*h, DAY)).collect();
                days_needing_hours.insert(rollup::floor(end, DAY));
                for (d, a) in rollup::read(conn, sid, DAY, start, end)? {
                    if days_needing_hours.contains(&d) {
                        continue;
                    }
                    if let Some(b) = bucket_of(d) {
                        buckets.entry(b).or_default().merge(&a);
                    }
                }
                for d in days_needing_hours {
                    if d >= start {
                        hourly_days.push((d, d.saturating_add(DAY - 1).min(end)));
                    }
                }
            } else {
                hourly_days.push((start, end));
            }
            for (from, to) in hourly_days {
                for (h, a) in rollup::read(conn, sid, HOUR, from, to)? {
                    if raw_hours.contains(&h) {
                        continue;
                    }
                    if let Some(b) = bucket_of(h) {
                        buckets.entry(b).or_default().merge(&a);
                    }
                }
            }
            Ok(true)
        })?;
        if !done {
            return Ok(None);
        }
        for h in raw_hours {
            let (from, to) = (h.max(start), h.saturating_add(HOUR - 1).min(end));
            self.scan(device, key, from, to, |t, v| {
                if let Some(b) = bucket_of(t) {
                    buckets.entry(b).or_default().push(&v);
                }
            })?;
        }
        Ok(Some(
            buckets
                .into_iter()
                .filter_map(|(b, a)| Some((b, Value::Num(a.value(agg)?))))
                .collect(),
        ))
    }

    /// Copy the buffered points of a series within `[start, end]` into `out`; the
    /// series id, or `None` when the series does not exist.
    fn buffered(
        &self,
        device: DeviceId,
        key: KeyId,
        start: i64,
        end: i64,
        out: &mut Vec<Pt>,
    ) -> Option<u32> {
        let mem = self.mem();
        let Some(&sid) = mem.series.get(&(device, key)) else {
            drop(mem);
            // Another node may have written this series: its sealed chunks are
            // readable here (its unsealed points are in that node's memory).
            return self.other_writers_series(device, key);
        };
        let b = &mem.bufs[sid as usize];
        for (i, (&t, v)) in b.ts.iter().zip(&b.vals).enumerate() {
            if t >= start && t <= end {
                out.push(Pt {
                    ts: t,
                    chunk: BUFFER,
                    index: i,
                    value: v.clone(),
                });
            }
        }
        Some(sid)
    }

    /// On PostgreSQL, the id of a series this process has not met (see `buffered`).
    fn other_writers_series(&self, device: DeviceId, key: KeyId) -> Option<u32> {
        if !self.place.is_postgres() {
            return None;
        }
        self.with_reader(|c| Ok(super::pg::find_series(c, &self.keys, device, key)?))
            .ok()
            .flatten()
    }

    /// Where this store lives.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// Client attributes of a device: (key, ts, value).
    pub fn attributes(
        &self,
        device: DeviceId,
    ) -> Result<Vec<(String, i64, Value)>, TelemetryStoreError> {
        self.with_reader(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT key, ts, value FROM attributes WHERE device = $1 ORDER BY key",
            )?;
            let rows = st.query_map([device.0], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (k, ts, blob) = row?;
                out.push((k, ts, codec::get_value(&mut codec::Reader::new(&blob))?));
            }
            Ok(out)
        })
    }

    /// Number of points currently buffered (not yet sealed).
    pub fn buffered_points(&self) -> usize {
        self.mem().bufs.iter().map(|b| b.ts.len()).sum()
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Series ids of a device.
    pub fn series_of(&self, device: DeviceId) -> Vec<u32> {
        let mem = self.mem();
        let mut out: Vec<u32> = mem
            .series
            .iter()
            .filter(|((d, _), _)| *d == device)
            .map(|(_, &s)| s)
            .collect();
        out.sort_unstable();
        out
    }

    /// Keys a device has readings of (stored or buffered).
    pub fn keys_of(&self, device: DeviceId) -> Vec<KeyId> {
        let mem = self.mem();
        let mut out: Vec<KeyId> = mem
            .series
            .keys()
            .filter(|(d, _)| *d == device)
            .map(|(_, k)| *k)
            .collect();
        out.sort_unstable();
        out
    }

    /// Series id of a device's key, if it has readings.
    pub fn series_id(&self, device: DeviceId, key: KeyId) -> Option<u32> {
        self.mem().series.get(&(device, key)).copied()
    }

    pub fn series_count(&self) -> usize {
        self.mem().series.len()
    }

    /// Run `f` with a pooled read-only connection, in a read transaction, returned
    /// to the pool afterwards.
    pub(crate) fn with_reader<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, TelemetryStoreError>,
    ) -> Result<R, TelemetryStoreError> {
        let conn = self.reader()?;
        // One read transaction: a snapshot, so that compaction replacing chunks
        // (or retention deleting them) while a query lists and reads them is seen
        // entirely or not at all.
        let result = match conn.read_transaction() {
            Ok(tx) => {
                let r = f(&tx);
                // Read-only: ending it either way only releases the snapshot.
                let _ = tx.finish();
                r
            }
            Err(e) => Err(e.into()),
        };
        self.release(conn);
        result
    }

    fn reader(&self) -> Result<Connection, TelemetryStoreError> {
        if let Some(c) = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(c);
        }
        if let Place::Postgres { url, .. } = &self.place {
            return Ok(super::pg::connect(url)?);
        }
        let c = Connection::open(&self.path)?;
        c.execute_batch("PRAGMA query_only=ON; PRAGMA busy_timeout=5000;")?;
        Ok(c)
    }

    fn release(&self, c: Connection) {
        // A connection PostgreSQL closed (restart) is dropped, not pooled.
        if c.is_broken() {
            return;
        }
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(c);
        }
    }
}

/// Switch the file to `auto_vacuum = INCREMENTAL`, so that pages freed by retention
/// can be handed back to the file system (`PRAGMA incremental_vacuum`). A new file
/// (empty, so instantly) or an existing one needs a `VACUUM`, done here only when the
/// file is small enough for that to be quick.
fn ensure_incremental_vacuum(conn: &Connection, path: &Path) -> Result<(), TelemetryStoreError> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode == 2 {
        return Ok(());
    }
    // Even a new file needs the VACUUM: WAL mode has already written its first page.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(u64::MAX);
    if size <= VACUUM_CONVERT_MAX_BYTES {
        tracing::info!(
            bytes = size,
            "telemetry store: converting to incremental auto-vacuum (VACUUM)"
        );
        conn.execute_batch("VACUUM;")?;
    } else {
        tracing::warn!(
            bytes = size,
            "telemetry store has no incremental auto-vacuum: space freed by retention is reused but not returned; see docs/storage.md"
        );
    }
    Ok(())
}

/// Key names by id, as the writer persisted them.
fn load_key_names(conn: &Connection) -> Result<Vec<String>, TelemetryStoreError> {
    let mut st = conn.prepare("SELECT id, name FROM keys ORDER BY id")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut names = Vec::new();
    for row in rows {
        let (id, name) = row?;
        // Ids are dense by construction; pad defensively so ids keep their meaning.
        while (names.len() as i64) < id {
            names.push(format!("__missing_{}", names.len()));
        }
        names.push(name);
    }
    Ok(names)
}

/// Key names with their stored ids (PostgreSQL: ids are not dense).
fn load_key_rows(conn: &Connection) -> Result<Vec<(i64, String)>, TelemetryStoreError> {
    let mut st = conn.prepare("SELECT id, name FROM keys ORDER BY id")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One (empty) buffer per stored series; each series' first log row to replay
/// (on PostgreSQL, of this writer's log: `series_replay`).
fn load_series(
    conn: &Connection,
    keys: &Keys,
    writer: Option<&str>,
    mem: &mut Mem,
) -> Result<Vec<i64>, TelemetryStoreError> {
    let mut replay_from: Vec<i64> = Vec::new();
    let mut st = conn.prepare("SELECT id, device, key, replay_from FROM series ORDER BY id")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (id, device, key_db, from) = row?;
        let Some(key) = keys.from_db_id(key_db) else {
            continue;
        };
        mem.add_series(id as u32, DeviceId(device), key);
        while (replay_from.len() as i64) <= id {
            replay_from.push(i64::MAX);
        }
        // On PostgreSQL the column is unused: replay points are per writer.
        replay_from[id as usize] = if writer.is_some() { 0 } else { from };
    }
    drop(st);
    if let Some(w) = writer {
        let mut st =
            conn.prepare("SELECT series, replay_from FROM series_replay WHERE writer = $1")?;
        let rows = st.query_map([w], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (sid, from) = row?;
            if let Some(slot) = replay_from.get_mut(sid as usize) {
                *slot = from;
            }
        }
    }
    Ok(replay_from)
}

/// The latest values checkpointed before the last log truncation.
fn load_latest(conn: &Connection, keys: &Keys, mem: &mut Mem) -> Result<(), TelemetryStoreError> {
    let mut st = conn.prepare("SELECT device, key, ts, value FROM latest")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Vec<u8>>(3)?,
        ))
    })?;
    for row in rows {
        let (device, key_db, ts, blob) = row?;
        let Some(key) = keys.from_db_id(key_db) else {
            continue;
        };
        let value = codec::get_value(&mut codec::Reader::new(&blob))?;
        mem.note_latest(DeviceId(device), key, ts, &value);
    }
    Ok(())
}

/// Rebuild the open buffers (and latest values) from the log rows each series
/// has not sealed yet; (points replayed, log rows read).
fn replay_log(
    conn: &Connection,
    writer: Option<&str>,
    mem: &mut Mem,
    replay_from: &[i64],
) -> Result<(usize, usize), TelemetryStoreError> {
    let now = cunlink_core::time::now_ms();
    let (mut replayed, mut log_rows) = (0usize, 0usize);
    let mut st = match writer {
        None => conn.prepare("SELECT id, body FROM log ORDER BY id")?,
        Some(_) => conn.prepare("SELECT id, body FROM log WHERE writer = $1 ORDER BY id")?,
    };
    let mut rows = match writer {
        None => st.query([])?,
        Some(w) => st.query([w])?,
    };
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let body: Vec<u8> = row.get(1)?;
        log_rows += 1;
        for p in codec::decode_log(&body)? {
            let Some(&from) = replay_from.get(p.series as usize) else {
                continue;
            };
            if id < from {
                continue;
            }
            let Some(b) = mem.bufs.get_mut(p.series as usize) else {
                continue;
            };
            let (device, key) = (b.device, b.key);
            if b.ts.is_empty() {
                b.opened_at = now;
            }
            b.ts.push(p.ts);
            b.vals.push(p.value.clone());
            mem.note_latest(device, key, p.ts, &p.value);
            replayed += 1;
        }
    }
    Ok((replayed, log_rows))
}

/// A point with where it was written: of two points with one timestamp, the one
/// written later (higher chunk id, buffer after every chunk, then higher index) wins.
struct Pt {
    ts: i64,
    chunk: i64,
    index: usize,
    value: Value,
}

/// The open buffer's "chunk id": newer than any sealed chunk.
const BUFFER: i64 = i64::MAX;

impl Pt {
    fn order(&self) -> (i64, i64, usize) {
        (self.ts, self.chunk, self.index)
    }
}

/// Append the points of chunk `id` within `[start, end]` to `out`.
fn read_chunk(
    conn: &Connection,
    stats: &StoreStats,
    id: i64,
    start: i64,
    end: i64,
    out: &mut Vec<Pt>,
) -> Result<(), TelemetryStoreError> {
    let mut st = conn.prepare_cached("SELECT data FROM chunks WHERE id = $1")?;
    let data: Vec<u8> = st.query_row([id], |r| r.get(0))?;
    let (ts, vals) = codec::decode_chunk(&data)?;
    stats
        .chunks_read
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for (index, (t, v)) in ts.into_iter().zip(vals).enumerate() {
        if t >= start && t <= end {
            out.push(Pt {
                ts: t,
                chunk: id,
                index,
                value: v,
            });
        }
    }
    Ok(())
}

/// Sort `pts` and keep one point per timestamp, the last written.
fn normalise(pts: &mut Vec<Pt>) {
    // The common case (one chunk, or chunks that do not overlap): already in order.
    if pts.windows(2).all(|w| w[0].ts < w[1].ts) {
        return;
    }
    pts.sort_unstable_by_key(Pt::order);
    // After sorting, the last of a run of equal timestamps is the last written.
    let mut out: Vec<Pt> = Vec::with_capacity(pts.len());
    for p in pts.drain(..) {
        match out.last_mut() {
            Some(last) if last.ts == p.ts => *last = p,
            _ => out.push(p),
        }
    }
    *pts = out;
}

/// Normalise and drop all but the newest `limit` points.
fn keep_newest(pts: &mut Vec<Pt>, limit: usize) {
    normalise(pts);
    if pts.len() > limit {
        pts.drain(..pts.len() - limit);
    }
}

/// Hand over (ascending, one per timestamp) the pending points before `before`
/// (all of them for `None`), keeping the rest pending.
fn emit_before(pending: &mut Vec<Pt>, before: Option<i64>, visit: &mut impl FnMut(i64, Value)) {
    if pending.is_empty() {
        return;
    }
    normalise(pending);
    let n = match before {
        Some(t) => pending.partition_point(|p| p.ts < t),
        None => pending.len(),
    };
    for p in pending.drain(..n) {
        visit(p.ts, p.value);
    }
}
