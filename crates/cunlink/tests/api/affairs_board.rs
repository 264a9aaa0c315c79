//! Notices on display boards: the board page and the LED controllers' text
//! feed show the village's current notices, urgent ones marked; another
//! village's board does not; attached photos are checked by their bytes.

use cunlink_core::auth::Role;
use serde_json::json;

use crate::common::{request, spawn_app};

#[tokio::test]
async fn boards_and_the_led_feed_show_the_villages_notices() {
    let app = spawn_app().await;
    for (dev, asset, village) in [
        ("探头-东", "东山茶园", "东山村"),
        ("探头-西", "西山茶园", "西山村"),
    ] {
        let token = app
            .device(json!({ "name": dev, "type": "air-probe", "asset": asset, "village": village }))
            .await;
        assert_eq!(
            app.telemetry(&token, r#"{"temperature":20}"#).await.status,
            200
        );
    }
    let off = app
        .user("zhuren", Role::VillageOfficial, Some("东山村"))
        .await;
    let li = app.user("li", Role::Villager, Some("东山村")).await;
    let xi = app.user("xi", Role::Villager, Some("西山村")).await;
    let (s, n) = app
        .post_json(
            "/api/affairs/notices",
            &off,
            json!({"title": "紧急停水", "body": "下午停水", "category": "urgent"}),
        )
        .await;
    assert_eq!(s, 201, "{n}");
    let id = n["id"].as_i64().unwrap();
    let boards = app.server.as_ref().unwrap().boards.clone();
    let mut slugs = Vec::new();
    for asset in ["东山茶园", "西山茶园"] {
        let b = boards
            .create(cunlink_board::NewBoard {
                name: format!("{asset}看板"),
                assets: vec![asset.into()],
                keys: vec![],
                rotate_secs: 10,
                line_width: 32,
                line_count: 8,
            })
            .await
            .unwrap();
        slugs.push(b.slug);
    }
    let txt = request(
        app.http,
        "GET",
        &format!("/board/{}.txt?page=0", slugs[0]),
        &[],
        vec![],
    )
    .await
    .text();
    assert!(txt.contains("【紧急】紧急停水"), "{txt}");
    let html = request(
        app.http,
        "GET",
        &format!("/board/{}", slugs[0]),
        &[],
        vec![],
    )
    .await
    .text();
    assert!(html.contains("紧急停水"), "the board page shows it");
    let other = request(
        app.http,
        "GET",
        &format!("/board/{}.txt?page=0", slugs[1]),
        &[],
        vec![],
    )
    .await
    .text();
    assert!(!other.contains("停水"), "another village's board: {other}");

    // Photos: the bytes decide what a file is.
    let photo = |body: Vec<u8>| {
        let (app, off) = (&app, off.clone());
        async move {
            request(
                app.http,
                "POST",
                &format!("/api/affairs/notices/{id}/photos"),
                &[
                    ("authorization", &format!("Bearer {off}")),
                    ("content-type", "image/jpeg"),
                ],
                body,
            )
            .await
        }
    };
    let r = photo(b"not a photo at all".to_vec()).await;
    assert_eq!((r.status, r.json()["field"].as_str()), (400, Some("body")));
    let r = photo(b"\x89PNG\r\n\x1a\n0000 a tiny png".to_vec()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let url = r.json()["url"].as_str().unwrap().to_string();
    assert_eq!(app.get(&url, &li).await.status, 200);
    assert_eq!(
        app.get(&url, &li).await.headers["content-type"],
        "image/png"
    );
    assert_eq!(app.get(&url, &xi).await.status, 404);
}
