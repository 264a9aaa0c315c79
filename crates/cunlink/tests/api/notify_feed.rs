//! The `NotifyUsers` port (alert's implementation): a notice enqueued inside a
//! domain's transaction reaches the user's in-app feed at once and a local
//! Web Push service after the commit; urgent notices ignore quiet hours, the
//! others wait for them to end. The notices here are enqueued the way a
//! domain does it (on the server's own database connection, in a transaction,
//! then `wake`), with the server and its dispatcher running.

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cunlink_core::auth::Role;
use cunlink_core::notify::UserNotice;
use p256::SecretKey;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::notify::{browser_decrypt, receiver, spawn_local_receivers_app, uncompressed};

/// Enqueue `notice` in a transaction on the server's database and wake the
/// dispatcher after the commit, as a domain does.
async fn send(app: &TestApp, notice: UserNotice) -> usize {
    let alerts = app.server.as_ref().unwrap().alerts.clone();
    let port = alerts.notify_users();
    let p2 = port.clone();
    let n = alerts
        .db
        .call(move |c| {
            let tx = c.transaction()?;
            let n = p2.enqueue(&tx, &notice)?;
            tx.commit()?;
            Ok::<_, cunlink_core::DbError>(n)
        })
        .await
        .unwrap();
    port.wake();
    n
}

fn user_id(app: &TestApp, name: &str) -> i64 {
    app.server
        .as_ref()
        .unwrap()
        .auth
        .user_by_name_blocking(name)
        .unwrap()
        .id
}

#[tokio::test]
async fn a_notice_reaches_the_feed_and_the_phone() {
    let app = spawn_local_receivers_app().await;
    let (base, mut pushes) = receiver(StatusCode::CREATED).await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let wang = app.user("wang", Role::Villager, Some("东山村")).await;
    let ua = SecretKey::from_slice(&[0x43; 32]).unwrap();
    let auth = [7u8; 16];
    let (s, sub) = app
        .post_json(
            "/api/push/subscriptions",
            &li,
            json!({ "endpoint": format!("{base}/push/li"), "keys": { "p256dh": B64.encode(uncompressed(&ua.public_key())), "auth": B64.encode(auth) } }),
        )
        .await;
    assert_eq!(s, 201, "{sub}");
    // Quiet hours around now (UTC): only urgent notices may leave.
    let minute = (cunlink_core::time::now_ms() / 60_000).rem_euclid(1440);
    let hhmm = |m: i64| format!("{:02}:{:02}", m.rem_euclid(1440) / 60, m.rem_euclid(60));
    let r = app
        .put_json(
            "/api/me/notifications",
            &li,
            json!({ "quiet_hours": { "start": hhmm(minute - 60), "end": hhmm(minute + 60) }, "utc_offset_min": 0 }),
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);

    let li_id = user_id(&app, "li");
    let wang_id = user_id(&app, "wang");
    let queued = send(
        &app,
        UserNotice {
            user_ids: vec![li_id, wang_id, li_id],
            source: "affairs",
            title: "村民大会".into(),
            body: "周六上午九点在村委会开会".into(),
            url: "/affairs/notices/1".into(),
            urgent: false,
        },
    )
    .await;
    // Two feed entries (li once) and li's one push.
    assert_eq!(queued, 3);
    let queued = send(
        &app,
        UserNotice {
            user_ids: vec![li_id],
            source: "affairs",
            title: "紧急停水".into(),
            body: "今天下午两点到五点停水".into(),
            url: "/affairs/notices/2".into(),
            urgent: true,
        },
    )
    .await;
    assert_eq!(queued, 2);

    // The urgent one reaches the phone despite the quiet hours.
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), pushes.recv())
        .await
        .expect("a push arrives")
        .unwrap();
    assert_eq!(headers["urgency"], "high");
    let msg: Value = serde_json::from_slice(&browser_decrypt(&ua, &auth, &body)).unwrap();
    assert_eq!(msg["title"], "紧急停水", "{msg}");
    assert_eq!(msg["url"], "/affairs/notices/2");
    // The other is still held for the end of the quiet hours (it was due no
    // earlier than the urgent one, which has been sent).
    let held: (String, i64) = app
        .server
        .as_ref()
        .unwrap()
        .alerts
        .db
        .call(|c| {
            c.query_row(
                "SELECT o.status, o.next_at FROM alert_outbox o JOIN alert_feed f ON f.id = o.feed_id WHERE f.title = '村民大会'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(cunlink_core::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(held.0, "pending");
    assert!(
        held.1 > cunlink_core::time::now_ms(),
        "held until the quiet hours end"
    );

    // Both are in li's feed, newest first; wang has his one.
    let feed = app.get("/api/me/notifications/feed", &li).await;
    assert_eq!(feed.status, 200, "{}", feed.text());
    let feed = feed.json();
    let titles: Vec<&str> = feed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["紧急停水", "村民大会"]);
    let first = &feed[0];
    for key in ["id", "source", "title", "body", "url", "created_at", "read"] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }
    assert_eq!(first["source"], "affairs");
    assert_eq!(first["read"], false);
    let w = app.get("/api/me/notifications/feed", &wang).await.json();
    assert_eq!(w.as_array().unwrap().len(), 1);

    // Reading: one's own entry only.
    let id = first["id"].as_i64().unwrap();
    let (s, e) = app
        .post_json(
            &format!("/api/me/notifications/{id}/read"),
            &wang,
            json!({}),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (404, Some("id")));
    let (s, _) = app
        .post_json(&format!("/api/me/notifications/{id}/read"), &li, json!({}))
        .await;
    assert_eq!(s, 204);
    let feed = app
        .get("/api/me/notifications/feed?limit=1", &li)
        .await
        .json();
    assert_eq!(feed.as_array().unwrap().len(), 1);
    assert_eq!(feed[0]["read"], true);

    // The list is bounded.
    for bad in ["0", "201", "-1", "x"] {
        let r = app
            .get(&format!("/api/me/notifications/feed?limit={bad}"), &li)
            .await;
        assert_eq!(r.status, 400, "limit={bad}");
        assert_eq!(r.json()["field"], "limit");
    }
}
