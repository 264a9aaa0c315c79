//! PostgreSQL restarts under ingest (issue 14): while the database is down,
//! ingest answers 503 (never a false ack); when it is back the telemetry writer
//! reconnects by itself, and every reading acknowledged before, during and after
//! the outage is stored. Runs a throwaway PostgreSQL of its own (tests/pg.sh),
//! since it stops it; on either suite run (it tests the PostgreSQL backend only).

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{TempDir, request, spawn_binary_on};

fn pg_sh(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/pg.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("run tests/pg.sh");
    assert!(
        out.status.success(),
        "tests/pg.sh {args:?} failed (PostgreSQL installed? apt-get install postgresql): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stops the throwaway PostgreSQL however the test ends.
struct Pg(String);
impl Drop for Pg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/pg.sh"))
            .args(["stop", &self.0])
            .output();
    }
}

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
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
    let pgdir = TempDir::new("pg-restart-db");
    let pgdir_s = pgdir.0.to_str().unwrap().to_string();
    let export = pg_sh(&["start", &pgdir_s]);
    let _pg = Pg(pgdir_s.clone());
    let base = export
        .trim()
        .strip_prefix("export CUNLINK_TEST_DATABASE_URL=")
        .expect("pg.sh prints the URL")
        .to_string();
    let admin_db = cunlink_core::sql::Connection::connect_postgres(&base).unwrap();
    admin_db.execute_batch("CREATE DATABASE restart").unwrap();
    drop(admin_db);
    let url = format!("{}/restart", base.rsplit_once('/').unwrap().0);

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
                format!(r#"{{"ts":{},"values":{{"seq":{v}}}}}"#, 1_700_000_000_000 + v).into_bytes(),
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
        assert!(tokio::time::Instant::now() < deadline, "ingest never recovered");
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
        .filter_map(|p| p["value"].as_f64().or_else(|| p[1].as_f64()).map(|x| x as i64))
        .collect();
    let missing: Vec<i64> = acked.iter().copied().filter(|a| !stored.contains(a)).collect();
    assert!(missing.is_empty(), "acknowledged but missing: {missing:?} (stored {body})");
}
