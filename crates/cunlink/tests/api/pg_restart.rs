//! PostgreSQL restarts under ingest (issue 14): while the database is down,
//! ingest answers 503 (never a false ack); when it is back the telemetry writer
//! reconnects by itself, and every reading acknowledged before, during and after
//! the outage is stored. Runs a throwaway PostgreSQL of its own (tests/pg.sh),
//! since it stops it; on either suite run (it tests the PostgreSQL backend only).

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{TempDir, own_postgres, pg_sh, request, spawn_binary_on};

fn cli(dir: &Path, url: &str, args: &[&str], stdin: &[u8]) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cunlink"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("CUNLINK_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::test]
async fn postgres_restart_gives_503_meanwhile_then_reconnects_without_losing_acked_readings() {
    let (pgdir, _pg, url) = own_postgres("pg-restart-db");
    let pgdir_s = pgdir.0.to_str().unwrap().to_string();

    let dir = TempDir::new("pg-restart");
    let token = cli(
        &dir.0,
        &url,
        &["device", "create", "--name", "probe", "--county-level"],
        b"",
    );
    let admin = cli(
        &dir.0,
        &url,
        &["user", "create", "--username", "root", "--role", "admin"],
        b"correct horse\n",
    );
    let (_child, http, _) = spawn_binary_on(&dir.0, None, Some(url.clone())).await;
    let http: std::net::SocketAddr = http.parse().unwrap();
    let path = format!("/api/v1/{token}/telemetry");
    let post = |v: i64| {
        let path = path.clone();
        async move {
            request(
                http,
                "POST",
                &path,
                &[],
                format!(
                    r#"{{"ts":{},"values":{{"seq":{v}}}}}"#,
                    1_700_000_000_000 + v
                )
                .into_bytes(),
            )
            .await
            .status
        }
    };
    let mut acked: Vec<i64> = Vec::new();
    let mut v = 0i64;
    for _ in 0..50 {
        assert_eq!(post(v).await, 200);
        acked.push(v);
        v += 1;
    }

    // Down: every answer is a refusal, never an acknowledgement.
    pg_sh(&["stop", &pgdir_s]);
    let mut refused = 0;
    for _ in 0..20 {
        let status = post(v).await;
        assert_eq!(status, 503, "ingest while PostgreSQL is down");
        refused += 1;
        v += 1;
    }
    assert_eq!(refused, 20);

    // Back: the writer reconnects on its own; devices retrying get 200 again.
    pg_sh(&["resume", &pgdir_s]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = post(v).await;
        if status == 200 {
            acked.push(v);
            v += 1;
            break;
        }
        assert_eq!(status, 503, "while reconnecting");
        assert!(
            tokio::time::Instant::now() < deadline,
            "ingest never recovered"
        );
        v += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..50 {
        assert_eq!(post(v).await, 200);
        acked.push(v);
        v += 1;
    }

    // Every acknowledged reading is there (the refused ones may or may not be).
    let r = request(
        http,
        "GET",
        "/api/devices/probe/telemetry?keys=seq&start=0&end=1900000000000&limit=100000",
        &[("authorization", &format!("Bearer {admin}"))],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let stored: std::collections::HashSet<i64> = body["seq"]
        .as_array()
        .expect("seq series")
        .iter()
        .filter_map(|p| {
            p["value"]
                .as_f64()
                .or_else(|| p[1].as_f64())
                .map(|x| x as i64)
        })
        .collect();
    let missing: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|a| !stored.contains(a))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but missing: {missing:?} (stored {body})"
    );
}

/// Two writers (two nodes) on one PostgreSQL store: key and series ids come from
/// the database, so both give one (device, key) the same series whatever order
/// they met the names in; each truncates and replays only its own log rows; a
/// node reads the chunks the other sealed; `latest` never goes back in time.
#[tokio::test]
async fn two_writers_share_ids_and_keep_their_own_logs() {
    use cunlink_farm::telemetry::{Admission, DeviceId, Place, Reading, Telemetry, Value};
    let (_pgdir, _pg, url) = own_postgres("pg-two-writers");
    let cfg = cunlink_core::config::IngestConfig::default();
    let place = |w: &str| Place::Postgres {
        url: url.clone(),
        writer: w.into(),
    };
    let a = Telemetry::open_at(&place("node-a"), &cfg).unwrap();
    let b = Telemetry::open_at(&place("node-b"), &cfg).unwrap();
    // A second process with a writer id in use is refused (the file lock's part).
    assert!(Telemetry::open_at(&place("node-a"), &cfg).is_err());
    let dev = DeviceId(7);
    // Interned in different orders: local ids differ, stored ids must not.
    let (a_temp, a_hum) = (
        a.store().keys.intern("temperature"),
        a.store().keys.intern("humidity"),
    );
    let (b_hum, b_temp) = (
        b.store().keys.intern("humidity"),
        b.store().keys.intern("temperature"),
    );
    let batch = |key, from: i64, n: i64| -> Vec<Reading> {
        (from..from + n)
            .map(|i| Reading {
                device: dev,
                key,
                ts: 1_700_000_000_000 + i * 1000,
                value: Value::Num(i as f64),
            })
            .collect()
    };
    // A fills a whole chunk (sealed at the next commit) and more; B writes later points.
    a.write(batch(a_temp, 0, 600), Vec::new(), Admission::Wait)
        .await
        .unwrap();
    a.write(batch(a_hum, 0, 5), Vec::new(), Admission::Wait)
        .await
        .unwrap();
    b.write(batch(b_temp, 1000, 50), Vec::new(), Admission::Wait)
        .await
        .unwrap();
    b.write(batch(b_hum, 1000, 5), Vec::new(), Admission::Wait)
        .await
        .unwrap();
    assert_eq!(
        a.store().series_id(dev, a_temp),
        b.store().series_id(dev, b_temp)
    );
    assert_eq!(
        a.store().series_id(dev, a_hum),
        b.store().series_id(dev, b_hum)
    );
    assert_ne!(
        a.store().series_id(dev, a_temp),
        a.store().series_id(dev, a_hum)
    );
    let db = cunlink_core::sql::Connection::connect_postgres(&url).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM telemetry.keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2, "one stored id per name");
    let n: i64 = db
        .query_row("SELECT count(*) FROM telemetry.series", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2, "one series per (device, key) across writers");
    let writers: i64 = db
        .query_row(
            "SELECT count(DISTINCT writer) FROM telemetry.log",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(writers, 2);

    // B restarts: it replays its own log rows only, and reads what A sealed.
    b.shutdown();
    drop(b);
    // Its writer lock is a PostgreSQL session lock: it goes when the server has
    // seen the old connection close, which a loaded machine may take a moment to.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let b = loop {
        match Telemetry::open_at(&place("node-b"), &cfg) {
            Ok(t) => break t,
            Err(cunlink_farm::telemetry::TelemetryStoreError::InUse(w))
                if std::time::Instant::now() < until =>
            {
                let _ = w;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("B reopens: {e}"),
        }
    };
    let b_temp = b
        .store()
        .keys
        .lookup("temperature")
        .expect("loaded from the database");
    let pts = b.store().range(dev, b_temp, 0, i64::MAX / 4).unwrap();
    let own = pts
        .iter()
        .filter(|(t, _)| *t >= 1_700_000_000_000 + 1000 * 1000)
        .count();
    assert_eq!(own, 50, "B's unsealed points come back from B's log");
    let sealed_by_a = pts
        .iter()
        .filter(|(t, _)| *t < 1_700_000_000_000 + 1000 * 1000)
        .count();
    assert!(
        sealed_by_a >= 512,
        "A's sealed chunk is readable on B: {sealed_by_a}"
    );
    // A series only A ever wrote (B never met the key name): B finds it by name
    // and reads what A sealed.
    let a_press = a.store().keys.intern("pressure");
    let other = DeviceId(8);
    let press: Vec<Reading> = (0..520)
        .map(|i| Reading {
            device: other,
            key: a_press,
            ts: 1_700_000_000_000 + i * 1000,
            value: Value::Num(1.0),
        })
        .collect();
    a.write(press, Vec::new(), Admission::Wait).await.unwrap();
    a.write(batch(a_hum, 10, 1), Vec::new(), Admission::Wait)
        .await
        .unwrap(); // seals it
    let b_press = b.store().keys.intern("pressure");
    assert_eq!(
        b.store()
            .range(other, b_press, 0, i64::MAX / 4)
            .unwrap()
            .len(),
        520
    );
    let latest = b.store().latest(dev);
    assert!(
        latest
            .iter()
            .any(|(k, ts, _)| &**k == "temperature" && *ts == 1_700_000_000_000 + 1049 * 1000)
    );
    // What a cross-node bus does with A's readings on B: latest follows, by name,
    // and an older reading never replaces a newer one.
    let t = 1_700_000_000_000 + 5_000_000;
    assert!(b.store().note_peer_latest(other, "pressure", t, &Value::Num(3.0)));
    assert!(!b.store().note_peer_latest(other, "pressure", t - 1, &Value::Num(4.0)));
    let l = b.store().latest(other);
    assert!(l.iter().any(|(k, ts, v)| &**k == "pressure" && *ts == t && *v == Value::Num(3.0)), "{l:?}");
    a.shutdown();
    b.shutdown();
}
