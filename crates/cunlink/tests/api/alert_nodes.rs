//! Two `cunlink serve` on one PostgreSQL (issue 14): every node scans the
//! outbox and runs the escalation pass, yet each notification leaves once.
//! On SQLite (one process owns the database) the same run has one node.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::post;
use serde_json::json;

use crate::common::TestApp;
use crate::notify::spawn_local_receivers_app;

/// A receiver that takes 2 s to answer (so another node's outbox scan sees the
/// delivery still pending while it is in flight); counts calls per path.
async fn slow_receiver() -> (String, Arc<[AtomicUsize; 2]>) {
    let calls: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let (a, b) = (calls.clone(), calls.clone());
    let app = axum::Router::new()
        .route(
            "/admin",
            post(move || async move {
                a[0].fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(2)).await;
                "ok"
            }),
        )
        .route(
            "/vet",
            post(move || async move {
                b[1].fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(2)).await;
                "ok"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), calls)
}

/// (outbox rows, rows sent) in the shared database.
fn outbox(app: &TestApp) -> (i64, i64) {
    app.db_conn()
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) FROM alert_outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[tokio::test]
async fn an_alarm_and_its_escalation_are_delivered_once_by_two_nodes() {
    let mut app = spawn_local_receivers_app().await;
    let mut peer = app.spawn_peer_with(|c| c.notify.allow_private = true).await;
    let (base, calls) = slow_receiver().await;
    let admin = app.admin_token.clone();
    let vet = app
        .user("vet-li", cunlink_core::auth::Role::Doctor, Some("茶香村"))
        .await;
    for (token, path) in [(&admin, "admin"), (&vet, "vet")] {
        let (s, w) = app
            .post_json(
                "/api/webhooks",
                token,
                json!({ "url": format!("{base}/{path}") }),
            )
            .await;
        assert_eq!(s, 201, "{w}");
    }
    let device = app
        .device(json!({ "name": "土壤-两节点", "type": "soil-probe", "village": "茶香村" }))
        .await;
    let (s, r) = app
        .create_rule(&admin,
            json!({ "name": "过干", "severity": "critical", "target": { "device": "土壤-两节点" },
                    "escalate": { "after_s": 1, "to": ["vet-li"] },
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let r = app.telemetry(&device, r#"{"soil_moisture":5}"#).await;
    assert_eq!(r.status, 200);

    // Watermark: the alarm's delivery and the escalation's are both recorded
    // sent. A row is claimed before it is sent and never claimed again once
    // sent, so any second delivery would have been made by then.
    let until = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (rows, sent) = outbox(&app);
        if rows >= 2 && sent == rows {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "deliveries not all sent: {rows} rows, {sent} sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox(&app), (2, 2), "one alarm delivery, one escalation");
    assert_eq!(
        (
            calls[0].load(Ordering::SeqCst),
            calls[1].load(Ordering::SeqCst)
        ),
        (1, 1),
        "each notification arrived once (two nodes: {})",
        peer.is_some()
    );
    assert_eq!(app.alarms("status=all").await.len(), 1);
    if let Some(p) = &mut peer {
        p.stop().await;
    }
    app.stop().await;
}
