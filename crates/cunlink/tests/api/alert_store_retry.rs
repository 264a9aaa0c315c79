//! An alarm whose database write fails is retried until it is stored, stored
//! once, and nobody is told of it before its row is committed.

use std::path::PathBuf;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::{db_conn_at, spawn_app_with};
use crate::settled::{alerts_settled, metric};

/// A webhook receiver that, the moment a delivery arrives and before it
/// answers, looks the alarm up in the database through its own connection
/// (which sees committed rows only): (alarm id, its row exists). `db` is the
/// app's data directory (its SQLite file or PostgreSQL database).
async fn checking_receiver(db: PathBuf) -> (String, mpsc::UnboundedReceiver<(i64, bool)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State((tx, db)): State<(mpsc::UnboundedSender<(i64, bool)>, PathBuf)>,
                 body: axum::body::Bytes| async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let id = v["alarm"]["id"].as_i64().unwrap_or(-1);
                    let exists = tokio::task::spawn_blocking(move || {
                        let c = db_conn_at(&db);
                        c.busy_timeout(Duration::from_secs(5)).unwrap();
                        c.query_row(
                            "SELECT EXISTS(SELECT 1 FROM alert_alarms WHERE id = $1)",
                            [id],
                            |r| r.get::<_, bool>(0),
                        )
                        .unwrap()
                    })
                    .await
                    .unwrap();
                    let _ = tx.send((id, exists));
                    StatusCode::OK
                },
            ),
        )
        .with_state((tx, db));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

#[tokio::test]
async fn an_alarm_whose_commit_fails_is_retried_stored_once_and_announced_after_commit() {
    // The receiver listens on 127.0.0.1.
    let app = spawn_app_with(|c| c.notify.allow_private = true).await;
    let (url, mut calls) = checking_receiver(app.dir.0.clone()).await;
    let admin = app.admin_token.clone();
    let (s, w) = app
        .post_json("/api/webhooks", &admin, json!({ "url": url }))
        .await;
    assert_eq!(s, 201, "{w}");
    let token = app
        .device(json!({ "name": "土壤-重试", "type": "soil-probe", "village": "茶香村" }))
        .await;
    let (s, r) = app
        .create_rule(&admin,
            json!({ "name": "干旱", "severity": "critical", "target": { "device": "土壤-重试" },
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");

    // The next two commits of a new alarm fail and roll back (a busy or failing disk).
    app.server
        .as_ref()
        .unwrap()
        .alerts
        .alarms
        .fail_next_commits(2);
    let r = app.telemetry(&token, r#"{"soil_moisture":9}"#).await;
    assert_eq!(r.status, 200);

    let (id, committed) = tokio::time::timeout(Duration::from_secs(20), calls.recv())
        .await
        .expect("the alarm is announced once stored")
        .unwrap();
    assert!(
        committed,
        "alarm {id} was announced before its row was committed"
    );

    alerts_settled(&app).await;
    let all = app.alarms("status=all").await;
    assert_eq!(all.len(), 1, "stored exactly once: {all:?}");
    assert_eq!(all[0]["id"].as_i64(), Some(id));
    assert_eq!(all[0]["count"], 1);
    assert_eq!(metric(&app, "cunlink_alert_store_retries_total").await, 2);
    // The failed attempts' deliveries were rolled back with them: one delivery.
    let server = app.server.as_ref().unwrap();
    let deliveries: i64 = server
        .alerts
        .db
        .call(|c| {
            c.query_row("SELECT COUNT(*) FROM alert_outbox", [], |r| r.get(0))
                .map_err(cunlink_core::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(deliveries, 1);
}

#[tokio::test]
async fn an_alarm_written_while_another_process_holds_the_database_is_stored_once_it_is_free() {
    let app = spawn_app_with(|c| c.notify.allow_private = true).await;
    let admin = app.admin_token.clone();
    let token = app
        .device(json!({ "name": "土壤-锁", "type": "soil-probe", "village": "茶香村" }))
        .await;
    let (s, r) = app
        .create_rule(&admin,
            json!({ "name": "干旱", "severity": "critical", "target": { "device": "土壤-锁" },
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");

    // Another connection (a backup tool, an admin's sqlite3 shell) takes the
    // write lock of cunlink.db and keeps it. On PostgreSQL: another session
    // holds the deployment-wide write lock (core::sql::WRITE_LOCK).
    let dir = app.dir.0.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<bool>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let c = db_conn_at(&dir);
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        if c.is_postgres() {
            c.execute_batch("BEGIN").unwrap();
            c.query_row(
                "SELECT pg_advisory_xact_lock($1)",
                [cunlink_core::sql::WRITE_LOCK],
                |_| Ok(()),
            )
            .unwrap();
        } else {
            c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        }
        locked_tx.send(c.is_postgres()).unwrap();
        let _ = release_rx.recv();
        c.execute_batch("ROLLBACK").unwrap();
    });
    let postgres = locked_rx.recv().unwrap();

    // Readings go to telemetry.db and are acknowledged; the alarm cannot be written.
    let r = app.telemetry(&token, r#"{"soil_moisture":9}"#).await;
    assert_eq!(r.status, 200);
    let until = std::time::Instant::now() + Duration::from_secs(60);
    if postgres {
        // PostgreSQL has the writer wait for the lock (no busy error to
        // retry on): wait until a session is seen waiting for it.
        let watcher = app.db_conn();
        loop {
            let waiting: bool = watcher
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            if waiting {
                break;
            }
            assert!(std::time::Instant::now() < until, "the write never waited");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        while metric(&app, "cunlink_alert_store_retries_total").await == 0 {
            assert!(std::time::Instant::now() < until, "the write never failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    release_tx.send(()).unwrap();
    holder.join().unwrap();

    alerts_settled(&app).await;
    let all = app.alarms("status=all").await;
    assert_eq!(
        all.len(),
        1,
        "stored once the lock is gone, and once: {all:?}"
    );
    assert_eq!(all[0]["device"], "土壤-锁");
}
