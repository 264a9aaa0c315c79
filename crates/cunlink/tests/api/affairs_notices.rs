//! Village notices through the real server: an urgent notice reaches a
//! villager's push endpoint and in-app feed, with a loudspeaker recording by
//! espeak-ng; read receipts count right; groups narrow who gets a notice;
//! another village sees none of it; bad input changes nothing.

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cunlink_core::auth::Role;
use p256::SecretKey;
use serde_json::{Value, json};

use crate::common::{TestApp, request};
use crate::notify::{browser_decrypt, receiver, spawn_local_receivers_app, uncompressed};

pub(crate) async fn post_raw(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let r = request(
        app.http,
        "POST",
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    (r.status, r.json())
}

pub(crate) async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let r = app.get(path, token).await;
    (r.status, r.json())
}

#[tokio::test]
async fn an_urgent_notice_reaches_every_household_and_receipts_count() {
    assert!(
        cunlink_affairs::files::can_speak(),
        "espeak-ng is needed for the loudspeaker recording: apt-get install espeak-ng (./test installs it)"
    );
    let app = spawn_local_receivers_app().await;
    let (base, mut pushes) = receiver(StatusCode::CREATED).await;
    let off = app
        .user("cun-zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let wang = app.user("wang", Role::Farmer, Some("东山村")).await;
    let zhao = app.user("zhao", Role::Villager, Some("西山村")).await;
    let xi_off = app
        .user("xi-zhuren", Role::VillageOfficial, Some("西山村"))
        .await;
    let buyer = app.user("buyer", Role::Buyer, None).await;
    let ua = SecretKey::from_slice(&[0x44; 32]).unwrap();
    let auth = [3u8; 16];
    let (s, sub) = app
        .post_json(
            "/api/push/subscriptions",
            &li,
            json!({ "endpoint": format!("{base}/push/li"), "keys": { "p256dh": B64.encode(uncompressed(&ua.public_key())), "auth": B64.encode(auth) } }),
        )
        .await;
    assert_eq!(s, 201, "{sub}");

    let (s, n) = app
        .post_json(
            "/api/affairs/notices",
            &off,
            json!({"title": "紧急停水", "body": "今天下午两点到五点停水，请提前储水。", "category": "紧急"}),
        )
        .await;
    assert_eq!(s, 201, "{n}");
    let id = n["id"].as_i64().unwrap();

    // The phone gets it, urgent.
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), pushes.recv())
        .await
        .expect("a push arrives")
        .unwrap();
    assert_eq!(headers["urgency"], "high");
    let msg: Value = serde_json::from_slice(&browser_decrypt(&ua, &auth, &body)).unwrap();
    assert!(msg["title"].as_str().unwrap().contains("紧急停水"), "{msg}");
    assert_eq!(msg["url"], format!("/affairs/notices/{id}"));
    // And the app's feed, for those without push too.
    for t in [&li, &wang] {
        let (_, feed) = get_json(&app, "/api/me/notifications/feed", t).await;
        assert_eq!(feed[0]["url"], format!("/affairs/notices/{id}"), "{feed}");
    }

    // The list as the contract says; three residents (the official too).
    let (s, list) = get_json(&app, "/api/affairs/notices", &off).await;
    assert_eq!(s, 200);
    let first = &list[0];
    for k in [
        "id",
        "title",
        "category",
        "created_at",
        "read_count",
        "recipients",
    ] {
        assert!(first.get(k).is_some(), "{k} in {first}");
    }
    assert_eq!(
        (
            first["category"].as_str(),
            first["recipients"].as_i64(),
            first["read_count"].as_i64()
        ),
        (Some("urgent"), Some(3), Some(0))
    );

    // Read receipts: li reads (twice counts once).
    for _ in 0..2 {
        let (s, r) = app
            .post_json(&format!("/api/affairs/notices/{id}/read"), &li, json!({}))
            .await;
        assert_eq!(s, 200, "{r}");
    }
    let (_, list) = get_json(&app, "/api/affairs/notices", &off).await;
    assert_eq!(list[0]["read_count"], 1);
    // Opening the notice's page (where the push leads) reads it too.
    let cookie = app.session("wang", "a-password").await;
    let r = request(
        app.http,
        "GET",
        &format!("/affairs/notices/{id}"),
        &[("cookie", &cookie)],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("紧急停水"));
    let (_, list) = get_json(&app, "/api/affairs/notices", &off).await;
    assert_eq!(list[0]["read_count"], 2);
    let (s, r) = get_json(&app, &format!("/api/affairs/notices/{id}/receipts"), &off).await;
    assert_eq!(s, 200, "{r}");
    let names = |k: &str| -> Vec<String> {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x["user"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("read"), ["li", "wang"]);
    assert_eq!(names("unread"), ["cun-zhuren"]);
    let (s, _) = get_json(&app, &format!("/api/affairs/notices/{id}/receipts"), &li).await;
    assert_eq!(s, 403, "receipts are for officials");

    // The loudspeaker's recording, spoken by espeak-ng.
    let r = app
        .get(&format!("/api/affairs/notices/{id}/audio"), &li)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.headers["content-type"], "audio/wav");
    assert!(
        r.body.starts_with(b"RIFF") && r.body.len() > 10_000,
        "a spoken WAV"
    );

    // Another village, and buyers, see none of it.
    let (_, theirs) = get_json(&app, "/api/affairs/notices", &zhao).await;
    assert_eq!(theirs, json!([]));
    for (t, want) in [(&zhao, 404), (&xi_off, 404), (&buyer, 403)] {
        assert_eq!(
            get_json(&app, &format!("/api/affairs/notices/{id}"), t)
                .await
                .0,
            want
        );
        let (s, _) = app
            .post_json(&format!("/api/affairs/notices/{id}/read"), t, json!({}))
            .await;
        assert_eq!(s, want);
        assert_eq!(
            get_json(&app, &format!("/api/affairs/notices/{id}/receipts"), t)
                .await
                .0,
            want
        );
    }
    let (_, feed) = get_json(&app, "/api/me/notifications/feed", &zhao).await;
    assert_eq!(feed, json!([]));
}

#[tokio::test]
async fn a_group_notice_reaches_only_the_group() {
    let app = crate::common::spawn_app().await;
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let wang = app.user("wang", Role::Farmer, Some("东山村")).await;
    let (s, g) = app
        .post_json(
            "/api/affairs/groups",
            &off,
            json!({"name": "养猪户", "members": ["wang"]}),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let (s, e) = app
        .post_json(
            "/api/affairs/groups",
            &off,
            json!({"name": "x", "members": ["nobody"]}),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("members")));
    let (s, n) = app
        .post_json(
            "/api/affairs/notices",
            &off,
            json!({"title": "生猪防疫", "body": "周三打疫苗", "category": "notice", "group": "养猪户", "expires_at": cunlink_core::time::now_ms() + 86_400_000}),
        )
        .await;
    assert_eq!(s, 201, "{n}");
    assert_eq!(
        get_json(&app, "/api/affairs/notices", &wang)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get_json(&app, "/api/affairs/notices", &li).await.1,
        json!([])
    );
    let (_, list) = get_json(&app, "/api/affairs/notices", &off).await;
    assert_eq!(list[0]["recipients"], 1);
    assert_eq!(list[0]["group"], "养猪户");
    // Past its expiry it leaves the residents' list (officials keep it).
    let affairs = app.server.as_ref().unwrap().affairs.clone();
    affairs.clock.advance(86_400_000 + 1);
    assert_eq!(
        get_json(&app, "/api/affairs/notices", &wang).await.1,
        json!([])
    );
    assert_eq!(
        get_json(&app, "/api/affairs/notices", &off)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_notices_are_refused_by_name_and_nothing_is_stored() {
    let app = crate::common::spawn_app().await;
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    // A 10 MB body: refused before it is parsed.
    let big =
        json!({"title": "t", "body": "水".repeat(3_500_000), "category": "notice"}).to_string();
    assert!(big.len() > 10_000_000);
    let (s, e) = post_raw(&app, "/api/affairs/notices", &off, big.into_bytes()).await;
    assert_eq!((s, e["field"].as_str()), (413, Some("body")), "{e}");
    let now = cunlink_core::time::now_ms();
    for (body, field) in [
        (json!({"body": "b", "category": "notice"}), "title"),
        (
            json!({"title": "  ", "body": "b", "category": "notice"}),
            "title",
        ),
        (
            json!({"title": "t", "body": "b".repeat(5001), "category": "notice"}),
            "body",
        ),
        (
            json!({"title": "t", "body": "b", "category": "news"}),
            "category",
        ),
        (
            json!({"title": "t", "body": "b", "category": "notice", "urgent": "yes"}),
            "urgent",
        ),
        (
            json!({"title": "t", "body": "b", "category": "notice", "expires_at": now - 1}),
            "expires_at",
        ),
        (
            json!({"title": "t", "body": "b", "category": "notice", "expires_at": 1e300}),
            "expires_at",
        ),
        (
            json!({"title": "t", "body": "b", "category": "notice", "group": "无此组"}),
            "group",
        ),
    ] {
        let (s, e) = app
            .post_json("/api/affairs/notices", &off, body.clone())
            .await;
        assert_eq!((s, e["field"].as_str()), (400, Some(field)), "{body}: {e}");
        assert!(e["error"].is_string() && e["message"].is_string());
    }
    let (s, _) = post_raw(&app, "/api/affairs/notices", &off, b"{not json".to_vec()).await;
    assert_eq!(s, 400);
    // Residents read notices; they do not post them.
    let (s, _) = app
        .post_json(
            "/api/affairs/notices",
            &li,
            json!({"title": "t", "body": "b", "category": "notice"}),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        get_json(&app, "/api/affairs/notices", &off).await.1,
        json!([])
    );
    assert_eq!(
        get_json(&app, "/api/me/notifications/feed", &li).await.1,
        json!([])
    );
}

/// Regression (review of issue 16): a disabled account is no recipient of a
/// village notice (nor a voter): `users_for_village` leaves it out.
#[tokio::test]
async fn disabled_accounts_are_sent_no_notice() {
    let app = crate::common::spawn_app().await;
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let gone = app.user("gone", Role::Villager, Some("东山村")).await;
    let auth = app.server.as_ref().unwrap().auth.clone();
    tokio::task::spawn_blocking(move || auth.set_disabled_blocking("gone", true, None).unwrap())
        .await
        .unwrap();
    let (s, n) = app
        .post_json(
            "/api/affairs/notices",
            &off,
            json!({"title": "开会", "body": "周五开会", "category": "notice"}),
        )
        .await;
    assert_eq!(s, 201, "{n}");
    let (_, list) = get_json(&app, "/api/affairs/notices", &off).await;
    // The official and li; not the disabled account.
    assert_eq!(list[0]["recipients"], 2, "{list}");
    assert_eq!(app.get("/api/affairs/notices", &gone).await.status, 401);
    assert_eq!(
        get_json(&app, "/api/affairs/notices", &li)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Regression (review of issue 16): read receipts list at most `limit`
/// recipients; the counts still cover them all; a bad limit is a named 400.
#[tokio::test]
async fn read_receipts_are_bounded_and_counts_stay_whole() {
    let app = crate::common::spawn_app().await;
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    app.user("wang", Role::Farmer, Some("东山村")).await;
    let (s, n) = app
        .post_json(
            "/api/affairs/notices",
            &off,
            json!({"title": "开会", "body": "周五开会", "category": "notice"}),
        )
        .await;
    assert_eq!(s, 201, "{n}");
    let id = n["id"].as_i64().unwrap();
    let (s, r) = app
        .post_json(&format!("/api/affairs/notices/{id}/read"), &li, json!({}))
        .await;
    assert!(s < 300, "{r}");
    let path = format!("/api/affairs/notices/{id}/receipts");
    let (s, all) = get_json(&app, &path, &off).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(
        (all["recipients"].as_i64(), all["read_count"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(all["truncated"], false);
    let (s, one) = get_json(&app, &format!("{path}?limit=1"), &off).await;
    assert_eq!(s, 200, "{one}");
    let listed = one["read"].as_array().unwrap().len() + one["unread"].as_array().unwrap().len();
    assert_eq!(listed, 1, "{one}");
    assert_eq!(
        (one["recipients"].as_i64(), one["read_count"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(one["truncated"], true);
    for bad in ["0", "5001", "x"] {
        let (s, e) = get_json(&app, &format!("{path}?limit={bad}"), &off).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("limit")), "{bad}: {e}");
    }
}
