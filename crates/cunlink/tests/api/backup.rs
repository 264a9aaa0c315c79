//! `cunlink backup` while readings and orders keep arriving, then `cunlink
//! restore` into a new directory and a server started on it: every reading
//! acknowledged and every order placed before the backup started is there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

/// `cunlink ARGS` on SQLite whatever the suite's backend: backup and restore
/// copy SQLite files (on PostgreSQL they refuse; see the last test).
async fn cunlink(args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(crate::common::cunlink_bin())
        .args(args)
        .env_remove("CUNLINK_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run cunlink");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}
use crate::common::{TempDir, request, spawn_app_with, test_config};
use cunlink_core::auth::Role;

#[tokio::test]
async fn a_backup_taken_under_ingest_restores_every_acknowledged_reading_and_order() {
    // `cunlink backup`/`restore` are SQLite's (one data directory holds everything);
    // a PostgreSQL deployment is backed up with pg_dump or a replica, and the CLI
    // refuses (see the next test). So this one always runs on SQLite, also when
    // CUNLINK_TEST_DATABASE_URL is set.
    let app = spawn_app_with(|c| c.database_url = None).await;
    let device = app
        .device(json!({ "name": "probe", "type": "air-probe", "asset": "龙井茶园", "village": "茶香村" }))
        .await;
    let admin = app.admin_token.clone();
    let (s, v) = app
        .post_json(
            "/api/market/stations",
            &admin,
            json!({"village": "县城", "name": "东街驿站"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let station = v["id"].as_i64().unwrap();
    let farmer = app.user("farmer", Role::Farmer, Some("茶香村")).await;
    let buyer = app.user("buyer", Role::Buyer, Some("县城")).await;
    let (s, v) = app
        .post_json(
            "/api/market/products",
            &farmer,
            json!({"name": "龙井茶", "unit": "500g", "price_fen": 12800, "stock": 1_000_000}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let product = v["id"].as_i64().unwrap();

    // Writers that record what the server acknowledged, in order.
    let stop = Arc::new(AtomicBool::new(false));
    let readings: Arc<Mutex<Vec<i64>>> = Arc::default();
    let orders: Arc<Mutex<Vec<i64>>> = Arc::default();
    let base = cunlink_core::time::now_ms() - 3_600_000;
    let ingest = {
        let (stop, acked, http) = (stop.clone(), readings.clone(), app.http);
        let url = format!("/api/v1/{device}/telemetry");
        tokio::spawn(async move {
            let mut seq = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"ts": base + seq, "values": {"seq": seq}}).to_string();
                let r = request(
                    http,
                    "POST",
                    &url,
                    &[("content-type", "application/json")],
                    body.into_bytes(),
                )
                .await;
                if r.status == 200 {
                    acked.lock().unwrap().push(seq);
                }
                seq += 1;
            }
        })
    };
    let shop = {
        let (stop, placed, http) = (stop.clone(), orders.clone(), app.http);
        let auth = format!("Bearer {buyer}");
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"items": [{"product_id": product, "quantity": 1}], "pickup_station_id": station}).to_string();
                let r = request(
                    http,
                    "POST",
                    "/api/market/orders",
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/json"),
                    ],
                    body.into_bytes(),
                )
                .await;
                if r.status == 201 {
                    placed
                        .lock()
                        .unwrap()
                        .push(r.json()["id"].as_i64().unwrap());
                }
            }
        })
    };
    // Watermark: both writers have been acknowledged a few times.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while readings.lock().unwrap().len() < 50 || orders.lock().unwrap().len() < 5 {
        assert!(
            std::time::Instant::now() < until,
            "writers made no progress"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let readings_before = readings.lock().unwrap().clone();
    let orders_before = orders.lock().unwrap().clone();

    let out = TempDir::new("backup");
    let file = out.0.join("cunlink.backup");
    let (dir, file_s) = (app.dir.0.to_str().unwrap(), file.to_str().unwrap());
    let (ok, err) = cunlink(&["backup", "--data-dir", dir, "--to", file_s]).await;
    assert!(ok, "{err}");
    let during = readings.lock().unwrap().len() - readings_before.len();
    stop.store(true, Ordering::Relaxed);
    ingest.await.unwrap();
    shop.await.unwrap();
    assert!(
        during > 0,
        "ingest kept being acknowledged while the backup ran"
    );

    // Restore refuses a non-empty directory, then fills an empty one.
    let (ok, err) = cunlink(&["restore", "--from", file_s, "--data-dir", dir]).await;
    assert!(!ok && err.contains("not empty"), "{err}");
    let restored = TempDir::new("restored");
    let target = restored.0.join("data");
    let (ok, err) = cunlink(&[
        "restore",
        "--from",
        file_s,
        "--data-dir",
        target.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "{err}");
    let (ok, err) = cunlink(&["backup", "--data-dir", dir, "--to", file_s]).await;
    assert!(!ok && err.contains("exists already"), "{err}");
    let inside = app.dir.0.join("b.tar");
    let (ok, err) = cunlink(&[
        "backup",
        "--data-dir",
        dir,
        "--to",
        inside.to_str().unwrap(),
    ])
    .await;
    assert!(!ok && err.contains("inside the data directory"), "{err}");

    let mut restored = test_config(&target);
    restored.database_url = None;
    let server = cunlink::app::start(restored)
        .await
        .expect("serve the restored dir");
    let http = server.http_addr;
    let auth = format!("Bearer {admin}");
    let r = request(
        http,
        "GET",
        &format!(
            "/api/devices/probe/telemetry?keys=seq&start={base}&end={}&limit=100000",
            base + 10_000_000
        ),
        &[("authorization", &auth)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got: std::collections::HashSet<i64> = r.json()["seq"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["value"].as_i64()).collect())
        .unwrap_or_default();
    let lost: Vec<_> = readings_before
        .iter()
        .filter(|s| !got.contains(s))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged readings lost: {lost:?}",
        lost.len(),
        readings_before.len()
    );
    for id in &orders_before {
        let r = request(
            http,
            "GET",
            &format!("/api/market/orders/{id}"),
            &[("authorization", &auth)],
            vec![],
        )
        .await;
        assert_eq!(r.status, 200, "order {id}: {}", r.text());
    }
    server.shutdown().await;
}

#[tokio::test]
async fn backup_refuses_a_postgresql_deployment_and_names_pg_dump() {
    let dir = TempDir::new("pg-backup");
    let to = TempDir::new("pg-backup-out");
    let file = to.0.join("cunlink.backup");
    // The refusal comes before any connection: any URL shows it, and with
    // CUNLINK_TEST_DATABASE_URL set the test's own database is used.
    let url = crate::common::test_database_url(&dir.0)
        .unwrap_or_else(|| "postgres://cunlink@127.0.0.1:1/cunlink".into());
    let (ok, err) = crate::accounts_cli::cunlink(&[
        "backup",
        "--data-dir",
        dir.0.to_str().unwrap(),
        "--database-url",
        &url,
        "--to",
        file.to_str().unwrap(),
    ])
    .await;
    assert!(!ok, "backup of a PostgreSQL deployment must fail: {err}");
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!file.exists(), "no backup file is written");
}
