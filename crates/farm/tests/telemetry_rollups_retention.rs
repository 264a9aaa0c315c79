//! Rollups answer like raw aggregation; old (version 1, not rolled up) chunks are
//! rolled up and recompressed by the maintenance pass; retention drops whole chunks,
//! leaves no orphan rows and gives the space back to the file system.

use std::path::{Path, PathBuf};

use cunlink_core::config::IngestConfig;
use cunlink_farm::telemetry::codec;
use cunlink_farm::telemetry::maint::Policy;
use cunlink_farm::telemetry::query::Agg;
use cunlink_farm::telemetry::rollup::{DAY, HOUR};
use cunlink_farm::telemetry::{Admission, DeviceId, KeyId, Reading, Telemetry, Value};

mod support;
use support::{TempDir, open, runtime};

fn write(
    rt: &tokio::runtime::Runtime,
    t: &Telemetry,
    device: DeviceId,
    key: KeyId,
    pts: &[(i64, Value)],
    batch: usize,
) {
    for part in pts.chunks(batch) {
        let readings = part
            .iter()
            .map(|(ts, v)| Reading {
                device,
                key,
                ts: *ts,
                value: v.clone(),
            })
            .collect();
        rt.block_on(t.write(readings, Vec::new(), Admission::Wait))
            .expect("committed");
    }
}

/// A noisy, 0.1-quantised daily cycle every minute from `t0`, `n` points.
fn sensor(t0: i64, n: i64, seed: u64) -> Vec<(i64, Value)> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((s >> 33) as f64) / ((1u64 << 31) as f64);
            let x = 18.0 + 6.0 * ((i % 1440) as f64 / 1440.0 * std::f64::consts::TAU).sin() + noise;
            (t0 + i * 60_000, Value::Num((x * 10.0).round() / 10.0))
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

fn assert_same(t: &Telemetry, dev: DeviceId, key: KeyId, start: i64, end: i64, interval: i64) {
    for agg in [Agg::Count, Agg::Min, Agg::Max, Agg::Sum, Agg::Avg] {
        let fast = t
            .store()
            .range_aggregate(dev, key, start, end, interval, agg)
            .unwrap();
        let raw = t
            .store()
            .range_aggregate_raw(dev, key, start, end, interval, agg)
            .unwrap();
        assert_eq!(
            fast.len(),
            raw.len(),
            "{agg:?} interval {interval}: bucket count"
        );
        for ((tf, vf), (tr, vr)) in fast.iter().zip(&raw) {
            let (a, b) = (vf.as_f64().unwrap(), vr.as_f64().unwrap());
            assert_eq!(tf, tr);
            match agg {
                // Equal as numbers (SQLite keeps -0.0 as 0.0).
                Agg::Count | Agg::Min | Agg::Max => assert_eq!(a, b, "{agg:?} at {tf}"),
                _ => assert!(close(a, b), "{agg:?} at {tf}: rollups {a} raw {b}"),
            }
        }
    }
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = support::conn(db);
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The one-byte blob 0x02, as the store's backend spells it.
fn byte_02() -> &'static str {
    if std::env::var_os("CUNLINK_TEST_DATABASE_URL").is_some() {
        "'\\x02'::bytea"
    } else {
        "x'02'"
    }
}

/// `count` in the SQLite file itself (the retention test's store is always one).
fn count_file(db: &Path, sql: &str) -> i64 {
    let c = cunlink_core::sql::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

const DEV: DeviceId = DeviceId(1);
const T0: i64 = 1_700_006_400_000; // a UTC midnight

#[test]
fn rollups_equal_raw_aggregation_with_late_and_rewritten_data() {
    let dir = TempDir::new("equal");
    let rt = runtime();
    let t = open(&dir.db());
    let key = t.store().keys.intern("temperature");
    // Three days, sealed in 512-point chunks, plus an unsealed tail.
    let pts = sensor(T0, 3 * 1440 + 100, 7);
    write(&rt, &t, DEV, key, &pts, 600);
    // Late data: an earlier hour gets points between the minutes, and some of its
    // minutes rewritten with other values (the last written wins), sealed as a
    // chunk overlapping older ones.
    let mut late: Vec<(i64, Value)> = (0..300)
        .map(|i| (T0 + 3_600_000 + i * 30_000 + 7, Value::Num(i as f64 * 0.5)))
        .collect();
    late.extend((0..300).map(|i| (T0 + 5 * 3_600_000 + i * 60_000, Value::Num(-(i as f64)))));
    late.push((T0 + 7_200_000, Value::Bool(true)));
    late.push((T0 + 7_260_000, Value::Text("offline".into())));
    write(&rt, &t, DEV, key, &late, 600);
    assert!(
        count(
            &dir.db(),
            "SELECT count(*) FROM rollups WHERE res = 3600000"
        ) >= 72
    );
    let end = T0 + 3 * DAY + 100 * 60_000;
    for interval in [HOUR, 3 * HOUR, DAY, 2 * DAY] {
        assert_same(&t, DEV, key, T0, end, interval);
        assert_same(&t, DEV, key, T0 + HOUR, end - 1234, interval);
    }
    // Not whole hours: answered from raw points, same answer by construction.
    assert_same(&t, DEV, key, T0 + 1, end, HOUR);

    // Compaction merges neighbours into format-2 chunks and changes no answer:
    // the overlapping (late) chunk and the ones it overlaps are rewritten alone.
    let before = t.store().range(DEV, key, 0, i64::MAX / 4).unwrap();
    let chunks_before = count(&dir.db(), "SELECT count(*) FROM chunks");
    let r = t
        .store()
        .maintain(&[], cunlink_core::time::now_ms())
        .unwrap();
    assert!(r.chunks_compacted as i64 >= chunks_before - 1, "{r:?}");
    assert_eq!(
        count(
            &dir.db(),
            &format!(
                "SELECT count(*) FROM chunks WHERE fmt <> 2 OR substr(data, 1, 1) <> {}",
                byte_02()
            )
        ),
        0
    );
    assert!(count(&dir.db(), "SELECT count(*) FROM chunks") < chunks_before);
    let after = t.store().range(DEV, key, 0, i64::MAX / 4).unwrap();
    assert_eq!(after.len(), before.len());
    for ((ta, va), (tb, vb)) in after.iter().zip(&before) {
        assert_eq!(ta, tb);
        match (va, vb) {
            (Value::Num(a), Value::Num(b)) => assert_eq!(a.to_bits(), b.to_bits(), "at {ta}"),
            (a, b) => assert_eq!(a, b),
        }
    }
    for interval in [HOUR, DAY] {
        assert_same(&t, DEV, key, T0, end, interval);
    }
    // A second pass has nothing left to do.
    let r = t
        .store()
        .maintain(&[], cunlink_core::time::now_ms())
        .unwrap();
    assert_eq!(r.chunks_compacted, 0, "{r:?}");
    t.shutdown();
}

#[test]
fn old_chunks_are_recompressed_and_rolled_up_in_the_background() {
    let dir = TempDir::new("old");
    let rt = runtime();
    let key;
    {
        let t = open(&dir.db());
        key = t.store().keys.intern("temperature");
        write(&rt, &t, DEV, key, &sensor(T0, 10, 1), 10);
        t.shutdown();
    }
    // What an older version left behind: version-1 chunks, not rolled up.
    let old = sensor(T0 + DAY, 2048, 3);
    {
        let c = support::conn(&dir.db());
        let sid: i64 = c
            .query_row("SELECT id FROM series", [], |r| r.get(0))
            .unwrap();
        for part in old.chunks(512) {
            let ts: Vec<i64> = part.iter().map(|p| p.0).collect();
            let vs: Vec<Value> = part.iter().map(|p| p.1.clone()).collect();
            let data = codec::encode_chunk_v1(&ts, &vs);
            c.execute(
                "INSERT INTO chunks (series, t0, t1, n, data, rolled) VALUES ($1, $2, $3, $4, $5, 0)",
                cunlink_core::sql::params![sid, ts[0], ts[ts.len() - 1], ts.len() as i64, data],
            )
            .unwrap();
        }
    }
    let t = open(&dir.db());
    let before = count(
        &dir.db(),
        "SELECT sum(length(data)) FROM chunks WHERE rolled = 0",
    );
    let r = t
        .store()
        .maintain(&[], cunlink_core::time::now_ms())
        .unwrap();
    assert_eq!(r.chunks_rolled_up, 4);
    assert_eq!(
        count(&dir.db(), "SELECT count(*) FROM chunks WHERE rolled <> 1"),
        0
    );
    assert_eq!(
        count(
            &dir.db(),
            &format!(
                "SELECT count(*) FROM chunks WHERE substr(data, 1, 1) <> {}",
                byte_02()
            )
        ),
        0
    );
    let after = count(
        &dir.db(),
        "SELECT sum(length(data)) FROM chunks WHERE t0 >= 1700092800000",
    );
    assert!(after * 2 < before, "recompressed {before} → {after} bytes");
    let raw = t.store().range(DEV, key, T0 + DAY, T0 + 3 * DAY).unwrap();
    assert_eq!(raw.len(), 2048);
    for ((ta, va), (tb, vb)) in raw.iter().zip(&old) {
        assert_eq!((ta, va), (tb, vb));
    }
    assert_same(&t, DEV, key, T0, T0 + 3 * DAY, HOUR);
    assert_same(&t, DEV, key, T0, T0 + 3 * DAY, DAY);
    t.shutdown();
}

#[test]
fn retention_drops_whole_chunks_frees_space_and_leaves_no_orphans() {
    let dir = TempDir::new("retention");
    let rt = runtime();
    // Truncate the log at every commit, so that the file holds chunks, not log rows.
    let cfg = IngestConfig {
        checkpoint_secs: 0,
        ..IngestConfig::default()
    };
    // Always the SQLite file: this test is about giving file space back
    // (incremental vacuum), which PostgreSQL's autovacuum does instead.
    let t = Telemetry::open(&dir.db(), &cfg).expect("open");
    let now = cunlink_core::time::now_ms();
    let (old_dev, kept_dev) = (DeviceId(10), DeviceId(11));
    let keys: Vec<KeyId> = ["temperature", "humidity", "battery"]
        .iter()
        .map(|k| t.store().keys.intern(k))
        .collect();
    // 200 days ago, 40 days of minute data for three keys: ~170,000 points.
    let start = rollup_floor(now - 200 * DAY);
    for (i, &k) in keys.iter().enumerate() {
        write(
            &rt,
            &t,
            old_dev,
            k,
            &sensor(start, 40 * 1440, i as u64),
            8192,
        );
    }
    write(
        &rt,
        &t,
        kept_dev,
        keys[0],
        &sensor(start, 5 * 1440, 99),
        8192,
    );
    // Recent data of the retained device stays.
    write(
        &rt,
        &t,
        old_dev,
        keys[0],
        &sensor(rollup_floor(now - 2 * DAY), 1440, 5),
        8192,
    );
    let db = dir.db();
    let file_bytes = |db: &Path| -> u64 {
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        std::fs::metadata(db).unwrap().len() + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    };
    let c = cunlink_core::sql::Connection::open(&db).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    assert_eq!(
        count_file(&db, "PRAGMA auto_vacuum"),
        2,
        "incremental auto-vacuum on a new store"
    );
    let size_before = file_bytes(&db);
    let doomed = count_file(
        &db,
        &format!(
            "SELECT sum(length(data)) FROM chunks WHERE t1 < {}",
            now - 30 * DAY
        ),
    );
    let rollups_before = count_file(&db, "SELECT count(*) FROM rollups");
    let policy = Policy {
        device: old_dev,
        retention_days: Some(30),
        rollup_retention_days: None,
    };
    let r = t.store().maintain(&[policy], now).unwrap();
    assert!(r.chunks_dropped >= 20, "{r:?}");
    assert!(r.pages_freed > 0, "{r:?}");
    let cutoff = now - 30 * DAY;
    let old_sids: Vec<u32> = t.store().series_of(old_dev);
    let list = old_sids
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        count_file(
            &db,
            &format!("SELECT count(*) FROM chunks WHERE series IN ({list}) AND t1 < {cutoff}")
        ),
        0
    );
    // The recent day of the retained device and the other device are untouched.
    assert_eq!(
        t.store()
            .range(old_dev, keys[0], now - 3 * DAY, now)
            .unwrap()
            .len(),
        1440
    );
    assert_eq!(
        t.store().range(kept_dev, keys[0], 0, now).unwrap().len(),
        5 * 1440
    );
    // No orphans: every chunk and rollup belongs to a series; the file is sound.
    assert_eq!(
        count_file(
            &db,
            "SELECT count(*) FROM chunks WHERE series NOT IN (SELECT id FROM series)"
        ),
        0
    );
    assert_eq!(
        count_file(
            &db,
            "SELECT count(*) FROM rollups WHERE series NOT IN (SELECT id FROM series)"
        ),
        0
    );
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    assert_eq!(count_file(&db, "PRAGMA freelist_count"), 0);
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let size_after = file_bytes(&db);
    // Whole pages come back: at least most of the dropped chunks' bytes.
    assert!(
        size_before - size_after >= doomed as u64 * 3 / 4,
        "file {size_before} → {size_after} bytes, {doomed} chunk bytes dropped"
    );
    // Rollups outlive raw data: the dropped days still aggregate.
    assert_eq!(
        count_file(&db, "SELECT count(*) FROM rollups"),
        rollups_before
    );
    let daily = t
        .store()
        .range_aggregate(
            old_dev,
            keys[1],
            start,
            start + 10 * DAY - 1,
            DAY,
            Agg::Count,
        )
        .unwrap();
    assert_eq!(daily.len(), 10);
    assert!(daily.iter().all(|(_, v)| v.as_f64() == Some(1440.0)));
    // Then the rollups' own retention.
    let policy = Policy {
        device: old_dev,
        retention_days: Some(30),
        rollup_retention_days: Some(100),
    };
    let r = t.store().maintain(&[policy], now).unwrap();
    assert!(r.rollups_dropped > 0);
    assert_eq!(
        count_file(
            &db,
            &format!(
                "SELECT count(*) FROM rollups WHERE series IN ({list}) AND bucket < {}",
                now - 100 * DAY
            )
        ),
        0
    );
    t.shutdown();
}

fn rollup_floor(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}
