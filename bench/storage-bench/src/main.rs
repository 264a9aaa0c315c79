//! Telemetry storage benchmark, driven by `bench/storage.sh`:
//!
//! ```text
//! cunlink-storage-bench year      --dir D [--series N]   # realistic year → D/telemetry.db, D/vm.jsonl
//! cunlink-storage-bench stats     --dir D                # bytes per value of a telemetry.db (+ D/vm.jsonl)
//! cunlink-storage-bench queries   --dir D                # series 0 of `year`: rollup / raw / CSV timings
//! cunlink-storage-bench retention --dir D [--series N]   # drop a year of N series while ingest runs at half speed
//! ```
//!
//! Every command prints one `RESULT k=v …` line. Data goes through the real store
//! (`Telemetry::write`, the group-commit writer, fsync per commit); queries call
//! the store in-process (no HTTP).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cunlink_core::config::IngestConfig;
use cunlink_farm::telemetry::maint::Policy;
use cunlink_farm::telemetry::query::Agg;
use cunlink_farm::telemetry::rollup::DAY;
use cunlink_farm::telemetry::{Admission, DeviceId, KeyId, Reading, Telemetry, Value, codec};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MIN: i64 = 60_000;
const YEAR_POINTS: i64 = 525_600;
/// Readings per series per commit while loading: 64 points of each series per
/// transaction, so that buffers seal at 512 points as they do under live ingest.
const PER_COMMIT: i64 = 64;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let dir = PathBuf::from(arg("--dir").ok_or("--dir DIR is required")?);
    std::fs::create_dir_all(&dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match args.get(1).map(String::as_str) {
        Some("year") => {
            let series: i64 = arg("--series").map_or(Ok(10), |s| s.parse())?;
            rt.block_on(year(&dir, series))
        }
        Some("stats") => stats(&dir),
        Some("queries") => queries(&dir),
        Some("retention") => {
            let series: i64 = arg("--series").map_or(Ok(1000), |s| s.parse())?;
            let step: i64 = arg("--step-min").map_or(Ok(10), |s| s.parse())?;
            rt.block_on(retention(&dir, series, step))
        }
        _ => Err("usage: cunlink-storage-bench year|stats|queries|retention --dir DIR".into()),
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal noise with standard deviation `sd`.
    fn noise(&mut self, sd: f64) -> f64 {
        (self.next() + self.next() + self.next() - 1.5) * 2.0 * sd
    }
}

/// 2025-01-01T00:00:00Z: the realistic year starts here.
const YEAR_START: i64 = 1_735_689_600_000;

/// One series of the realistic year: a sensor read every minute, in 0.1 steps,
/// with a seasonal and a daily cycle, noise, a slow drift, and gaps (outages of
/// 1–12 hours on about one day in twenty, single missed reports). Series 0 has no
/// gaps: it is the "one series × one year" of the query benchmark.
struct Sensor {
    rng: Rng,
    kind: u64,
    gaps: bool,
    outage_until: i64,
    drift: f64,
}

impl Sensor {
    fn new(i: i64) -> Sensor {
        Sensor {
            rng: Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)),
            kind: i as u64 % 3,
            gaps: i != 0,
            outage_until: 0,
            drift: 0.0,
        }
    }

    /// The reading at `ts`, or `None` in a gap.
    fn at(&mut self, ts: i64) -> Option<f64> {
        if self.gaps {
            if ts < self.outage_until {
                return None;
            }
            // One outage start per ~20 days on average.
            if self.rng.next() < 1.0 / (20.0 * 1440.0) {
                self.outage_until = ts + (1 + (self.rng.next() * 12.0) as i64) * 3_600_000;
                return None;
            }
            if self.rng.next() < 0.005 {
                return None;
            }
        }
        let tau = std::f64::consts::TAU;
        let day = ((ts - YEAR_START).rem_euclid(DAY)) as f64 / DAY as f64;
        let season = -((ts - YEAR_START) as f64 / (365.0 * DAY as f64) * tau).cos();
        let daily = ((day - 0.375) * tau).sin();
        self.drift = (self.drift + self.rng.noise(0.01)).clamp(-1.0, 1.0);
        let x = match self.kind {
            // Air temperature, °C.
            0 => 14.0 + 11.0 * season + 5.0 * daily + self.drift + self.rng.noise(0.25),
            // Relative humidity, %.
            1 => (70.0 - 8.0 * season - 15.0 * daily + 3.0 * self.drift + self.rng.noise(1.0))
                .clamp(15.0, 100.0),
            // Soil moisture, %: slow.
            _ => (32.0 + 4.0 * season - 1.0 * daily + 2.0 * self.drift + self.rng.noise(0.2))
                .clamp(5.0, 60.0),
        };
        Some((x * 10.0).round() / 10.0)
    }
}

/// The store with a checkpoint every second: a load of a year takes a minute or
/// two, and a server running for a year truncates its log every minute; without
/// this the log would still hold every point when the file is measured.
fn open(dir: &Path) -> Res<Arc<Telemetry>> {
    let cfg = IngestConfig {
        checkpoint_secs: 1,
        ..IngestConfig::default()
    };
    Ok(Telemetry::open(&dir.join("telemetry.db"), &cfg)?)
}

/// The store as a server opens it (checkpoint every minute or 64 MiB of log): for
/// latency, where a checkpoint every second would carry thousands of small
/// buffers forward every second, which no server does.
fn open_default(dir: &Path) -> Res<Arc<Telemetry>> {
    Ok(Telemetry::open(
        &dir.join("telemetry.db"),
        &IngestConfig::default(),
    )?)
}

/// The realistic year for `n` series (device i, key by kind) through the store;
/// the same points as VictoriaMetrics JSON lines in `dir/vm.jsonl`.
async fn year(dir: &Path, n: i64) -> Res<()> {
    let t = open(dir)?;
    let keys = ["temperature", "humidity", "soil_moisture"].map(|k| t.store().keys.intern(k));
    let mut sensors: Vec<Sensor> = (0..n).map(Sensor::new).collect();
    let mut vm: Vec<VmSeries> = (0..n)
        .map(|i| {
            VmSeries::new(
                &format!("dev{i}"),
                ["temperature", "humidity", "soil_moisture"][(i % 3) as usize],
            )
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("vm.jsonl"))?);
    let started = Instant::now();
    let mut values = 0u64;
    let mut k = 0;
    while k < YEAR_POINTS {
        let mut readings = Vec::with_capacity((PER_COMMIT * n) as usize);
        for (i, s) in sensors.iter_mut().enumerate() {
            for j in k..(k + PER_COMMIT).min(YEAR_POINTS) {
                let ts = YEAR_START + j * MIN;
                if let Some(v) = s.at(ts) {
                    readings.push(Reading {
                        device: DeviceId(i as i64 + 1),
                        key: keys[i % 3],
                        ts,
                        value: Value::Num(v),
                    });
                    vm[i].push(ts, v, &mut out)?;
                }
            }
        }
        values += readings.len() as u64;
        t.write(readings, Vec::new(), Admission::Wait).await?;
        k += PER_COMMIT;
    }
    for s in &mut vm {
        s.flush(&mut out)?;
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    // What the background pass does on a server: free pages (the truncated log's)
    // go back to the file system.
    t.store().maintain(&[], cunlink_core::time::now_ms())?;
    t.shutdown();
    println!(
        "RESULT dataset=year series={n} values={values} load_s={secs:.1} load_values_per_s={:.0}",
        values as f64 / secs
    );
    Ok(())
}

/// Points of one series as VictoriaMetrics `/api/v1/import` JSON lines.
struct VmSeries {
    head: String,
    ts: Vec<i64>,
    vals: Vec<f64>,
}

impl VmSeries {
    fn new(device: &str, key: &str) -> VmSeries {
        VmSeries {
            head: format!(r#"{{"metric":{{"__name__":"{key}","device":"{device}"}},"#),
            ts: Vec::new(),
            vals: Vec::new(),
        }
    }

    fn push(&mut self, ts: i64, v: f64, out: &mut impl Write) -> Res<()> {
        self.ts.push(ts);
        self.vals.push(v);
        if self.ts.len() >= 10_000 {
            self.flush(out)?;
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut impl Write) -> Res<()> {
        if self.ts.is_empty() {
            return Ok(());
        }
        let vals: Vec<String> = self.vals.iter().map(|v| format!("{v}")).collect();
        let ts: Vec<String> = self.ts.iter().map(|t| t.to_string()).collect();
        writeln!(
            out,
            r#"{}"values":[{}],"timestamps":[{}]}}"#,
            self.head,
            vals.join(","),
            ts.join(",")
        )?;
        self.ts.clear();
        self.vals.clear();
        Ok(())
    }
}

/// Bytes per value of the sealed chunks of `dir/telemetry.db`, the same chunks in
/// format version 1 (before pco) for comparison, and the whole file per value.
/// Unless `dir/vm.jsonl` exists, also writes the store's numbers there.
fn stats(dir: &Path) -> Res<()> {
    // Compaction, as the server's background pass does it within seconds of a
    // seal (a server stopped right after a load may have left some undone).
    let started = Instant::now();
    let t = open(dir)?;
    let report = t.store().maintain(&[], cunlink_core::time::now_ms())?;
    t.shutdown();
    let compact_s = started.elapsed().as_secs_f64();
    let db = dir.join("telemetry.db");
    let c = rusqlite::Connection::open(&db)?;
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let (mut bytes, mut points, mut v1_bytes, mut chunks) = (0u64, 0u64, 0u64, 0u64);
    let mut versions: HashMap<u8, u64> = HashMap::new();
    {
        let mut st = c.prepare("SELECT data, n FROM chunks")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let data: Vec<u8> = r.get(0)?;
            let n: i64 = r.get(1)?;
            let (ts, vals) = codec::decode_chunk(&data)?;
            v1_bytes += codec::encode_chunk_v1(&ts, &vals).len() as u64;
            *versions
                .entry(codec::chunk_version(&data).unwrap_or(0))
                .or_default() += 1;
            bytes += data.len() as u64;
            points += n as u64;
            chunks += 1;
        }
    }
    let committed: i64 = c.query_row("SELECT coalesce(sum(n), 0) FROM chunks", [], |r| r.get(0))?;
    let file = std::fs::metadata(&db)?.len();
    let rollup_rows: i64 = c.query_row("SELECT count(*) FROM rollups", [], |r| r.get(0))?;
    let vm_path = dir.join("vm.jsonl");
    if !vm_path.exists() {
        dump_vm(dir, &vm_path)?;
    }
    println!(
        "RESULT compact_s={compact_s:.1} compacted={} chunks={chunks} points={points} chunk_bytes={bytes} bytes_per_value={:.3} v1_bytes={v1_bytes} v1_bytes_per_value={:.3} file_bytes={file} file_bytes_per_sealed_value={:.3} rollup_rows={rollup_rows} v2_chunks={} v1_chunks={}",
        report.chunks_compacted,
        bytes as f64 / points.max(1) as f64,
        v1_bytes as f64 / points.max(1) as f64,
        file as f64 / committed.max(1) as f64,
        versions.get(&2).copied().unwrap_or(0),
        versions.get(&1).copied().unwrap_or(0),
    );
    Ok(())
}

/// The sealed numeric points of every series as VictoriaMetrics JSON lines.
fn dump_vm(dir: &Path, out_path: &Path) -> Res<()> {
    let c = rusqlite::Connection::open(dir.join("telemetry.db"))?;
    let names: HashMap<i64, String> = c
        .prepare("SELECT id, name FROM keys")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let series: Vec<(i64, i64, i64)> = c
        .prepare("SELECT id, device, key FROM series ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(out_path)?);
    let mut st = c.prepare("SELECT data FROM chunks WHERE series = $1 ORDER BY t0, id")?;
    for (sid, device, key) in series {
        let key = names
            .get(&key)
            .cloned()
            .unwrap_or_else(|| format!("k{key}"));
        let mut s = VmSeries::new(&format!("dev{device}"), &key);
        let mut rows = st.query([sid])?;
        while let Some(r) = rows.next()? {
            let data: Vec<u8> = r.get(0)?;
            let (ts, vals) = codec::decode_chunk(&data)?;
            for (t, v) in ts.into_iter().zip(vals) {
                if let Some(x) = v.as_f64() {
                    s.push(t, x, &mut out)?;
                }
            }
        }
        s.flush(&mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn p99(mut xs: Vec<Duration>) -> (f64, f64) {
    xs.sort_unstable();
    let at = |q: f64| {
        xs[((xs.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(xs.len() - 1)]
    };
    (at(0.5).as_secs_f64() * 1e3, at(0.99).as_secs_f64() * 1e3)
}

/// Series 0 of `year` (device 1, temperature, 525,600 points without gaps).
fn queries(dir: &Path) -> Res<()> {
    let t = open(dir)?;
    let store = t.store().clone();
    let (dev, key) = (DeviceId(1), KeyId(0));
    let start = YEAR_START;
    let end = YEAR_START + YEAR_POINTS * MIN - 1;
    let n = store.range(dev, key, start, end)?.len();
    if n != YEAR_POINTS as usize {
        return Err(format!("series 0 holds {n} points, expected {YEAR_POINTS}").into());
    }
    let time = |f: &mut dyn FnMut() -> Res<usize>, runs: usize| -> Res<(f64, f64, usize)> {
        let mut d = Vec::with_capacity(runs);
        let mut last = 0;
        for _ in 0..runs {
            let s = Instant::now();
            last = f()?;
            d.push(s.elapsed());
        }
        let (p50, p99) = p99(d);
        Ok((p50, p99, last))
    };
    let (daily_p50, daily_p99, days) = time(
        &mut || {
            Ok(store
                .range_aggregate(dev, key, start, end, DAY, Agg::Avg)?
                .len())
        },
        200,
    )?;
    let (raw_daily_p50, raw_daily_p99, _) = time(
        &mut || {
            Ok(store
                .range_aggregate_raw(dev, key, start, end, DAY, Agg::Avg)?
                .len())
        },
        5,
    )?;
    let (last24_p50, last24_p99, last24_n) = time(
        &mut || Ok(store.range(dev, key, end - DAY + 1, end)?.len()),
        1000,
    )?;
    // Full-year CSV (device,key,ts,value lines) into a 1 MiB buffer that is
    // "sent" (cleared) whenever full, as a streamed response body would be.
    let mut best = f64::MAX;
    let mut csv_bytes = 0usize;
    for _ in 0..3 {
        let s = Instant::now();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut total = 0usize;
        store.scan(dev, key, start, end, |ts, v| {
            let _ = match v {
                Value::Num(x) => writeln!(buf, "dev1,temperature,{ts},{x}"),
                other => writeln!(buf, "dev1,temperature,{ts},{}", other.to_text()),
            };
            if buf.len() >= 1 << 20 {
                total += buf.len();
                buf.clear();
            }
        })?;
        total += buf.len();
        csv_bytes = total;
        best = best.min(s.elapsed().as_secs_f64());
    }
    t.shutdown();
    println!(
        "RESULT points={n} daily_buckets={days} daily_rollup_p50_ms={daily_p50:.2} daily_rollup_p99_ms={daily_p99:.2} daily_raw_p50_ms={raw_daily_p50:.1} daily_raw_p99_ms={raw_daily_p99:.1} last24h_points={last24_n} last24h_p50_ms={last24_p50:.2} last24h_p99_ms={last24_p99:.2} csv_year_s={best:.3} csv_values_per_s={:.0} csv_bytes={csv_bytes}",
        n as f64 / best
    );
    Ok(())
}

/// Ingest load: `tasks` writers each sending jobs of `per_job` readings for their
/// own devices at "now", until `stop`; each records its ack latencies. With
/// `rate` (values/s, all tasks together) the jobs are paced; else as fast as acks come.
async fn load(
    t: Arc<Telemetry>,
    tasks: usize,
    per_job: usize,
    rate: Option<f64>,
    stop: Arc<AtomicBool>,
    done_values: Arc<AtomicU64>,
) -> Vec<Duration> {
    let key = t.store().keys.intern("load");
    let mut handles = Vec::new();
    for task in 0..tasks {
        let t = t.clone();
        let stop = stop.clone();
        let done_values = done_values.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let interval = rate.map(|r| Duration::from_secs_f64(per_job as f64 * tasks as f64 / r));
            let started = Instant::now();
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) {
                if let Some(iv) = interval {
                    let due = started + iv * sent;
                    let now = Instant::now();
                    if due > now {
                        tokio::time::sleep(due - now).await;
                    }
                }
                sent += 1;
                let now = cunlink_core::time::now_ms();
                let readings = (0..per_job)
                    .map(|i| Reading {
                        device: DeviceId(1_000_000 + (task * per_job + i) as i64),
                        key,
                        ts: now,
                        value: Value::Num(20.0 + (i % 7) as f64 * 0.1),
                    })
                    .collect();
                let s = Instant::now();
                if t.write(readings, Vec::new(), Admission::Wait).await.is_ok() {
                    lat.push(s.elapsed());
                    done_values.fetch_add(per_job as u64, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap_or_default());
    }
    all
}

fn file_bytes(db: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    std::fs::metadata(db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

/// A year of `n` series (one point per `step` minutes, sealed in 512-point chunks),
/// then: maximum ingest rate, ack latency at half of it, and the same while a
/// retention pass drops the whole year of those series.
async fn retention(dir: &Path, n: i64, step: i64) -> Res<()> {
    let t = open_default(dir)?;
    let key = t.store().keys.intern("temperature");
    let now = cunlink_core::time::now_ms();
    let first = now - 2 * DAY - 365 * DAY;
    let points = 365 * 1440 / step;
    let started = Instant::now();
    let mut k = 0;
    let mut rng = Rng(7);
    while k < points {
        let mut readings = Vec::with_capacity((PER_COMMIT * n) as usize);
        for d in 0..n {
            for j in k..(k + PER_COMMIT).min(points) {
                readings.push(Reading {
                    device: DeviceId(d + 1),
                    key,
                    ts: first + j * step * MIN,
                    value: Value::Num(((20.0 + rng.noise(2.0)) * 10.0).round() / 10.0),
                });
            }
        }
        t.write(readings, Vec::new(), Admission::Wait).await?;
        k += PER_COMMIT;
    }
    let load_s = started.elapsed().as_secs_f64();
    // A server compacts within seconds of sealing: so do we, before measuring.
    let c_started = Instant::now();
    let compacted = t
        .store()
        .maintain(&[], cunlink_core::time::now_ms())?
        .chunks_compacted;
    let compact_s = c_started.elapsed().as_secs_f64();
    // Let the checkpoint seal what is left, so the year is all in chunks.
    let db = dir.join("telemetry.db");
    let (chunks_before, year_chunk_bytes): (i64, i64) = rusqlite::Connection::open(&db)?
        .query_row(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM chunks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    let size_before = file_bytes(&db);

    // Maximum: 16 writers, 1,000 values per job, 5 s.
    let (tasks, per_job) = (16usize, 1000usize);
    let run = |rate: Option<f64>, secs: u64| {
        let t = t.clone();
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let done = Arc::new(AtomicU64::new(0));
            let h = tokio::spawn(load(t, tasks, per_job, rate, stop.clone(), done.clone()));
            tokio::time::sleep(Duration::from_secs(secs)).await;
            stop.store(true, Ordering::Relaxed);
            let lat = h.await.unwrap_or_default();
            (done.load(Ordering::Relaxed) as f64 / secs as f64, lat)
        }
    };
    let (max_rate, _) = run(None, 5).await;
    let half = max_rate / 2.0;
    let (base_rate, base_lat) = run(Some(half), 5).await;
    let (base_p50, base_p99) = p99(base_lat);

    // Retention of the whole year while the half-rate load runs.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let h = tokio::spawn(load(
        t.clone(),
        tasks,
        per_job,
        Some(half),
        stop.clone(),
        done.clone(),
    ));
    let store = t.store().clone();
    let policies: Vec<Policy> = (1..=n)
        .map(|d| Policy {
            device: DeviceId(d),
            retention_days: Some(1),
            rollup_retention_days: None,
        })
        .collect();
    let r_started = Instant::now();
    let report = tokio::task::spawn_blocking(move || {
        store.maintain(&policies, cunlink_core::time::now_ms())
    })
    .await??;
    let r_secs = r_started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let lat = h.await.unwrap_or_default();
    let during_rate = done.load(Ordering::Relaxed) as f64 / r_secs;
    let (during_p50, during_p99) = p99(lat);
    // The pages ingest freed meanwhile (its truncated log) go back at the next pass.
    t.store().maintain(&[], cunlink_core::time::now_ms())?;
    let c = rusqlite::Connection::open(&db)?;
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let left: i64 = c.query_row(
        &format!("SELECT count(*) FROM chunks WHERE series IN (SELECT id FROM series WHERE device <= {n}) AND t1 < {}", now - DAY),
        [],
        |r| r.get(0),
    )?;
    let size_after = file_bytes(&db);
    t.shutdown();
    println!(
        "RESULT series={n} points_per_series={points} year_values={} load_s={load_s:.1} compact_s={compact_s:.1} compacted={compacted} chunks={chunks_before} max_values_per_s={max_rate:.0} half_rate_values_per_s={base_rate:.0} half_p50_ms={base_p50:.1} half_p99_ms={base_p99:.1} retention_s={r_secs:.1} chunks_dropped={} chunks_left={left} pages_freed={} during_values_per_s={during_rate:.0} during_p50_ms={during_p50:.1} during_p99_ms={during_p99:.1} file_before={size_before} file_after={size_after} year_chunk_bytes={year_chunk_bytes}",
        points * n,
        report.chunks_dropped,
        report.pages_freed,
    );
    Ok(())
}
