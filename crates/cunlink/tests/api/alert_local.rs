//! The local channel (`notify/local.rs` in the alert crate): an open page's
//! `GET /api/me/notifications/live` carries the user's alarms and notices as
//! Web Push payloads, with no push subscription and no push service (a village
//! node offline, a phone without Google services).

use std::time::Duration;

use cunlink_core::auth::Role;
use cunlink_core::notify::UserNotice;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::spawn_app;

async fn open(app: &crate::common::TestApp, token: &str) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(app.http).await.unwrap();
    let req = format!(
        "GET /api/me/notifications/live HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// Read the stream until `needle` shows up; returns what was read.
async fn read_until(s: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "stream closed; saw {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if seen.contains(needle) {
                return;
            }
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "no {needle:?} on the live stream; saw {seen}"
    );
    seen
}

#[tokio::test]
async fn alarms_and_notices_reach_an_open_page_without_a_push_service() {
    let app = spawn_app().await;
    let village = "茶香村";
    let li = app.user("li", Role::Farmer, Some(village)).await;
    let buyer = app.user("buyer-wu", Role::Buyer, None).await;
    let tag = app
        .device(json!({ "name": "耳标 0701", "type": "ear-tag", "village": village }))
        .await;
    let (s, r) = app
        .post_json(
            "/api/rules",
            &app.admin_token.clone(),
            json!({ "name": "耳标高温", "severity": "critical", "village": village,
                "target": { "device": "耳标 0701" },
                "condition": { "type": "threshold", "conditions": [{ "key": "temperature", "op": ">", "value": 39.5 }], "for_s": 0 } }),
        )
        .await;
    assert_eq!(s, 201, "{r}");

    let mut mine = open(&app, &li).await;
    let head = read_until(&mut mine, "event: hello").await;
    assert!(head.contains("text/event-stream"), "{head}");
    let mut theirs = open(&app, &buyer).await;
    read_until(&mut theirs, "event: hello").await;

    // The farmer has no push subscription: the alarm still reaches the page.
    let r = app
        .post(
            &format!("/api/v1/{tag}/telemetry"),
            json!({ "temperature": 40.4 }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = read_until(&mut mine, "耳标高温").await;
    assert!(got.contains("event: notify"), "{got}");
    assert!(
        got.contains("\"tag\":\"alarm-"),
        "the push's own tag: {got}"
    );

    // A notice of another domain, once its transaction committed.
    let li_id: i64 = app
        .db_conn()
        .query_row("SELECT id FROM users WHERE username = $1", ["li"], |r| {
            r.get(0)
        })
        .unwrap();
    let notify = app.server.as_ref().unwrap().alerts.notify_users();
    let n = notify.clone();
    let conn = app.db_conn();
    tokio::task::spawn_blocking(move || {
        n.enqueue(
            &conn,
            &UserNotice {
                user_ids: vec![li_id],
                source: "affairs",
                title: "明天停水".into(),
                body: "上午八点到十二点".into(),
                url: "/affairs".into(),
                urgent: false,
            },
        )
        .unwrap();
    })
    .await
    .unwrap();
    notify.wake();
    let got = read_until(&mut mine, "明天停水").await;
    assert!(got.contains("\"tag\":\"feed-"), "{got}");

    // Nobody else hears them: the buyer's stream has only its keep-alives.
    // (Watermark: a notice for the buyer arrives on its stream, and nothing
    // before it names the farmer's.)
    let buyer_id: i64 = app
        .db_conn()
        .query_row(
            "SELECT id FROM users WHERE username = $1",
            ["buyer-wu"],
            |r| r.get(0),
        )
        .unwrap();
    let n = notify.clone();
    let conn = app.db_conn();
    tokio::task::spawn_blocking(move || {
        n.enqueue(
            &conn,
            &UserNotice {
                user_ids: vec![buyer_id],
                source: "market",
                title: "包裹到站".into(),
                body: "".into(),
                url: "/market".into(),
                urgent: true,
            },
        )
        .unwrap();
    })
    .await
    .unwrap();
    notify.wake();
    let seen = read_until(&mut theirs, "包裹到站").await;
    assert!(
        !seen.contains("耳标高温") && !seen.contains("明天停水"),
        "another user's notifications leaked: {seen}"
    );

    // Signed out, there is no stream.
    let r = crate::common::request(
        app.http,
        "GET",
        "/api/me/notifications/live",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
}
