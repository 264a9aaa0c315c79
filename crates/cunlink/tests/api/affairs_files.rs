//! Affairs files are each village's own: two villages uploading the same
//! bytes each read their copy, and neither reads a file only the other holds
//! (regression: files were keyed by hash alone, so the second village's
//! residents got 404 on their own photo while the first village's read it).

use cunlink_core::auth::Role;
use serde_json::json;

use crate::common::{TestApp, request};

async fn notice(app: &TestApp, off: &str) -> i64 {
    let (s, n) = app
        .post_json(
            "/api/affairs/notices",
            off,
            json!({"title": "修路", "body": "周三修路", "category": "notice"}),
        )
        .await;
    assert_eq!(s, 201, "{n}");
    n["id"].as_i64().unwrap()
}

async fn photo(app: &TestApp, off: &str, id: i64, body: &[u8]) -> String {
    let r = request(
        app.http,
        "POST",
        &format!("/api/affairs/notices/{id}/photos"),
        &[
            ("authorization", &format!("Bearer {off}")),
            ("content-type", "image/png"),
        ],
        body.to_vec(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["url"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn two_villages_uploading_the_same_bytes_each_own_their_file() {
    let app = crate::common::spawn_app().await;
    let off_a = app
        .user("off_a", Role::VillageOfficial, Some("东山村"))
        .await;
    let off_b = app
        .user("off_b", Role::VillageOfficial, Some("西山村"))
        .await;
    let res_a = app.user("res_a", Role::Villager, Some("东山村")).await;
    let res_b = app.user("res_b", Role::Farmer, Some("西山村")).await;
    let county = app.user("county", Role::CountyStaff, None).await;
    let shared = b"\x89PNG\r\n\x1a\n the same tiny png in both villages";

    let (na, nb) = (notice(&app, &off_a).await, notice(&app, &off_b).await);
    let url_a = photo(&app, &off_a, na, shared).await;
    // Before village B uploads them, B's residents cannot read A's bytes.
    assert_eq!(app.get(&url_a, &res_b).await.status, 404);
    let url_b = photo(&app, &off_b, nb, shared).await;
    assert_eq!(url_a, url_b, "named by content hash");
    for t in [&res_a, &res_b, &off_a, &off_b, &county] {
        let r = app.get(&url_a, t).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body, shared.to_vec());
    }
    // B's notice lists its photo and B's resident reads it.
    let r = app.get(&format!("/api/affairs/notices/{nb}"), &res_b).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // A file only village A holds stays A's.
    let only_a = photo(&app, &off_a, na, b"\x89PNG\r\n\x1a\n only in the east").await;
    assert_eq!(app.get(&only_a, &res_a).await.status, 200);
    assert_eq!(app.get(&only_a, &res_b).await.status, 404);
    assert_eq!(app.get(&only_a, &off_b).await.status, 404);
    assert_eq!(app.get(&only_a, &county).await.status, 200);
    // And one only B holds stays B's.
    let only_b = photo(&app, &off_b, nb, b"\x89PNG\r\n\x1a\n only in the west").await;
    assert_eq!(app.get(&only_b, &res_b).await.status, 200);
    assert_eq!(app.get(&only_b, &res_a).await.status, 404);
}
