//! The telemetry store driven through its own API, without HTTP: readings
//! written by the group-commit writer into a temp directory, then read back by
//! range, newest-N and per-interval aggregate, before and after a reopen (log
//! replay plus sealed chunks).

use std::sync::atomic::Ordering::Relaxed;

use cunlink_farm::telemetry::query::Agg;
use cunlink_farm::telemetry::writer::SEAL_POINTS;
use cunlink_farm::telemetry::{Admission, DeviceId, KeyId, Reading, Telemetry, Value};

mod support;
use support::{TempDir, open, runtime};

const DEV: DeviceId = DeviceId(1);
const OTHER: DeviceId = DeviceId(2);

/// Write `points` of (ts, value) for `device`/`key`, in batches of `batch`, each
/// committed before the next (so full buffers get sealed into chunks).
fn write(
    rt: &tokio::runtime::Runtime,
    t: &Telemetry,
    device: DeviceId,
    key: KeyId,
    points: &[(i64, f64)],
    batch: usize,
) {
    for part in points.chunks(batch) {
        let readings = part
            .iter()
            .map(|&(ts, v)| Reading {
                device,
                key,
                ts,
                value: Value::Num(v),
            })
            .collect();
        rt.block_on(t.write(readings, Vec::new(), Admission::Wait))
            .expect("committed");
    }
}

fn nums(points: &[(i64, Value)]) -> Vec<(i64, f64)> {
    points
        .iter()
        .map(|(t, v)| (*t, v.as_f64().expect("a number")))
        .collect()
}

/// 2,000 points a second apart, value = ts / 1000: enough to seal chunks.
fn series() -> Vec<(i64, f64)> {
    (0..2000).map(|i| (i * 1000, i as f64)).collect()
}

#[test]
fn range_newest_and_aggregate_read_chunks_and_buffer() {
    let dir = TempDir::new("reads");
    let rt = runtime();
    let t = open(&dir.db());
    let key = t.store().keys.intern("temperature");
    let pts = series();
    write(&rt, &t, DEV, key, &pts, 300);
    // Another device's series never leaks into this one's answers.
    write(&rt, &t, OTHER, key, &[(5000, -1.0)], 1);
    let store = t.store();
    assert!(
        store.stats.chunks_sealed.load(Relaxed) > 0,
        "{} points should seal chunks of {SEAL_POINTS}",
        pts.len()
    );

    // Range: inclusive bounds, ascending, across chunk and buffer boundaries.
    let got = nums(&store.range(DEV, key, 100_000, 1_899_000).expect("range"));
    assert_eq!(got, pts[100..=1899].to_vec());
    assert!(
        store
            .range(DEV, key, 3_000_000, 4_000_000)
            .expect("range")
            .is_empty()
    );
    assert!(
        store
            .range(DeviceId(9), key, 0, i64::MAX)
            .expect("range")
            .is_empty()
    );

    // Newest N: the last N of the range, still ascending.
    let got = nums(
        &store
            .range_newest(DEV, key, 0, 1_000_000, 5)
            .expect("newest"),
    );
    assert_eq!(got, pts[996..=1000].to_vec());
    let got = nums(
        &store
            .range_newest(DEV, key, 0, i64::MAX, 700)
            .expect("newest"),
    );
    assert_eq!(got, pts[1300..].to_vec());
    assert!(
        store
            .range_newest(DEV, key, 0, i64::MAX, 0)
            .expect("newest")
            .is_empty()
    );

    // Aggregates per 100 s bucket (100 points each).
    let avg = nums(
        &store
            .range_aggregate(DEV, key, 0, 1_999_000, 100_000, Agg::Avg)
            .expect("agg"),
    );
    assert_eq!(avg.len(), 20);
    assert_eq!(avg[0], (0, 49.5));
    assert_eq!(avg[19], (1_900_000, 1949.5));
    let count = nums(
        &store
            .range_aggregate(DEV, key, 0, 1_999_000, 1_000_000, Agg::Count)
            .expect("agg"),
    );
    assert_eq!(count, vec![(0, 1000.0), (1_000_000, 1000.0)]);
    let max = nums(
        &store
            .range_aggregate(DEV, key, 0, i64::MAX / 2, i64::MAX / 2, Agg::Max)
            .expect("agg"),
    );
    assert_eq!(max, vec![(0, 1999.0)]);
    let other = nums(&store.range(OTHER, key, 0, i64::MAX).expect("range"));
    assert_eq!(other, vec![(5000, -1.0)]);
    t.shutdown();
}

#[test]
fn the_last_write_of_a_timestamp_wins_and_survives_a_reopen() {
    let dir = TempDir::new("reopen");
    let rt = runtime();
    let pts = series();
    {
        let t = open(&dir.db());
        let key = t.store().keys.intern("temperature");
        write(&rt, &t, DEV, key, &pts, 400);
        // Rewrite two timestamps, one long sealed in a chunk and one still buffered.
        write(&rt, &t, DEV, key, &[(10_000, 99.0), (1_999_000, 42.0)], 2);
        let got = nums(&t.store().range(DEV, key, 9_000, 11_000).expect("range"));
        assert_eq!(got, vec![(9_000, 9.0), (10_000, 99.0), (11_000, 11.0)]);
        t.shutdown();
    }
    let t = open(&dir.db());
    let key = t.store().keys.intern("temperature");
    assert_eq!(key, KeyId(0), "key ids persist");
    let got = nums(&t.store().range(DEV, key, 0, i64::MAX).expect("range"));
    assert_eq!(got.len(), pts.len());
    assert_eq!(got[10], (10_000, 99.0));
    assert_eq!(got[1999], (1_999_000, 42.0));
    assert_eq!(got[1500], (1_500_000, 1500.0));
    let latest = t.store().latest(DEV);
    assert_eq!(latest.len(), 1);
    assert_eq!(
        (latest[0].0.as_ref(), latest[0].1),
        ("temperature", 1_999_000)
    );
    t.shutdown();
}
