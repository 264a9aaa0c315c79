//! Market look-ups scoped to the caller: Idempotency-Key per user, farm assets
//! per village when a harvest batch names one.

use serde_json::json;

use crate::common::spawn_app;
use crate::market::{get_json, list_tea, post_key, world};
use cunlink_core::auth::Role;

#[tokio::test]
async fn an_idempotency_key_reused_by_another_user_replays_nothing_to_them() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let tea = list_tea(&app, &w, 10).await;
    let other = app.user("buyer2", Role::Buyer, Some("县城")).await;
    let order =
        json!({"items": [{"product_id": tea, "quantity": 1}], "pickup_station_id": w.town_station});
    let (s, first, replayed) = post_key(
        &app,
        "/api/market/orders",
        &w.buyer,
        Some("shared-key"),
        &order,
    )
    .await;
    assert_eq!((s, replayed), (201, false), "{first}");
    let (s, second, replayed) = post_key(
        &app,
        "/api/market/orders",
        &other,
        Some("shared-key"),
        &order,
    )
    .await;
    assert_eq!((s, replayed), (201, false), "{second}");
    assert_ne!(first["id"], second["id"]);
    // The second user's order is theirs, and the first user's is not shown to them.
    let mine = get_json(&app, "/api/market/orders", &other).await;
    let ids: Vec<_> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(ids, vec![second["id"].clone()]);
    let r = app
        .get(&format!("/api/market/orders/{}", first["id"]), &other)
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    // A different body under that key is not a conflict for the other user either.
    let bigger =
        json!({"items": [{"product_id": tea, "quantity": 2}], "pickup_station_id": w.town_station});
    let (s, _, _) = post_key(
        &app,
        "/api/market/orders",
        &w.farmer,
        Some("shared-key"),
        &bigger,
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        get_json(&app, &format!("/api/market/products/{tea}"), &w.buyer).await["stock"],
        6
    );

    // The same on the generic creating routes (here: products).
    let farmer2 = app.user("farmer2", Role::Farmer, Some("李家村")).await;
    let product = json!({"name": "李家梨", "unit": "kg", "price_fen": 500, "stock": 3});
    let (s, p1, _) = post_key(
        &app,
        "/api/market/products",
        &w.farmer,
        Some("p-key"),
        &product,
    )
    .await;
    assert_eq!(s, 201, "{p1}");
    let (s, p2, replayed) = post_key(
        &app,
        "/api/market/products",
        &farmer2,
        Some("p-key"),
        &product,
    )
    .await;
    assert_eq!((s, replayed), (201, false), "{p2}");
    assert_ne!(p1["id"], p2["id"]);
    assert_eq!(p2["village"], "李家村");
    app.stop().await;
}

#[tokio::test]
async fn a_batch_names_only_an_asset_of_the_farmers_own_village() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    app.device(
        json!({"name": "茶园探头", "type": "air-probe", "asset": "龙井茶园", "village": "茶香村"}),
    )
    .await;
    // A county-level device's asset (no village): its readings are not a farmer's to publish.
    app.device(json!({"name": "县气象站", "type": "air-probe", "asset": "县气象站点"}))
        .await;
    let li_farmer = app.user("li-farmer", Role::Farmer, Some("李家村")).await;
    let now = cunlink_core::time::now_ms();
    let batch =
        |asset: &str| json!({"asset": asset, "grown_from": now - 86_400_000, "harvested_at": now});
    let (s, e) = app
        .post_json("/api/market/batches", &li_farmer, batch("龙井茶园"))
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("asset")), "{e}");
    let (s, e) = app
        .post_json("/api/market/batches", &w.farmer, batch("县气象站点"))
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("asset")), "{e}");
    let (s, b) = app
        .post_json("/api/market/batches", &w.farmer, batch("龙井茶园"))
        .await;
    assert_eq!(s, 201, "{b}");
    // By id: another village's asset is as unknown as a missing one.
    let asset_id = b["asset_id"].as_i64().unwrap();
    let (s, e) = app
        .post_json(
            "/api/market/batches",
            &li_farmer,
            json!({"asset_id": asset_id, "grown_from": now - 86_400_000, "harvested_at": now}),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("asset_id")), "{e}");
    app.stop().await;
}
