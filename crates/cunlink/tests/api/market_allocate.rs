//! `POST /api/market/variants/{id}/allocate` (issue 15, docs/market.md "Village
//! node"): the seller moves units of the hub's online stock to a village node.
//! Short stock is a 409 naming `quantity`, bad input a 4xx naming its field, and
//! neither changes the stock; releasing is the node's, refused on a hub.

use serde_json::{Value, json};

use crate::common::{TestApp, request, spawn_app};
use crate::market::{get_json, list_tea, world};
use cunlink_core::auth::Role;

async fn stock(app: &TestApp, product: i64, token: &str) -> i64 {
    get_json(app, &format!("/api/market/products/{product}"), token).await["stock"]
        .as_i64()
        .expect("stock")
}

async fn raw(app: &TestApp, path: &str, token: &str, body: &str) -> (u16, Value) {
    let r = request(
        app.http,
        "POST",
        path,
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        body.as_bytes().to_vec(),
    )
    .await;
    (r.status, r.json())
}

/// The hub learns that village `name` has a node (what `cunlink node join`
/// records on the hub).
fn join_node(app: &TestApp, name: &str) {
    let c = app.db_conn();
    let village: i64 = c
        .query_row("SELECT id FROM villages WHERE name = $1", [name], |r| {
            r.get(0)
        })
        .expect("village");
    c.execute(
        "INSERT INTO core_sync_nodes (node_id, village_id, credential_hash, created_at) VALUES ($1, $2, $3, 0)",
        cunlink_core::sql::params![format!("node-{village}"), village, format!("hash-{village}")],
    )
    .expect("node row");
}

#[tokio::test]
async fn allocating_moves_online_stock_to_a_village_node_or_says_why_not() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let product = list_tea(&app, &w, 30).await;
    let p = get_json(&app, &format!("/api/market/products/{product}"), &w.farmer).await;
    let variant = p["variants"][0]["id"].as_i64().expect("variant id");
    let path = format!("/api/market/variants/{variant}/allocate");

    // No node in the village yet: nothing could sell the units.
    let (s, e) = app
        .post_json(
            &path,
            &w.farmer,
            json!({"village": "茶香村", "quantity": 5}),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (409, Some("village")), "{e}");
    join_node(&app, "茶香村");

    // Bad input: 4xx naming the field.
    for (body, field) in [
        (json!({"village": "茶香村", "quantity": 0}), "quantity"),
        (json!({"village": "茶香村", "quantity": -3}), "quantity"),
        (json!({"village": "茶香村", "quantity": "5"}), "quantity"),
        (
            json!({"village": "茶香村", "quantity": i64::MAX}),
            "quantity",
        ),
        (json!({"village": "茶香村"}), "quantity"),
        (json!({"quantity": 5}), "village"),
        (json!({"village": "无此村", "quantity": 5}), "village"),
        // The tea is 茶香村's: it is not sold at another village's node.
        (json!({"village": "县城", "quantity": 5}), "village"),
    ] {
        let (s, e) = app.post_json(&path, &w.farmer, body.clone()).await;
        assert!((400..500).contains(&s), "{body}: {s} {e}");
        assert_eq!(e["field"].as_str(), Some(field), "{body}: {e}");
        assert!(e["error"].is_string() && e["message"].is_string(), "{e}");
    }
    let (s, e) = raw(&app, &path, &w.farmer, "{not json").await;
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].is_string(), "{e}");

    // More than the online stock: 409 naming quantity, nothing moved.
    let (s, e) = app
        .post_json(
            &path,
            &w.farmer,
            json!({"village": "茶香村", "quantity": 31}),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (409, Some("quantity")), "{e}");
    assert_eq!(e["error"], "out_of_stock", "{e}");
    assert_eq!(stock(&app, product, &w.farmer).await, 30);

    // Not the seller's: 403; no such variant: 404.
    let other = app.user("other-farmer", Role::Farmer, Some("茶香村")).await;
    let (s, _) = app
        .post_json(&path, &other, json!({"village": "茶香村", "quantity": 1}))
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .post_json(&path, &w.buyer, json!({"village": "茶香村", "quantity": 1}))
        .await;
    assert_eq!(s, 403);
    let (s, e) = app
        .post_json(
            "/api/market/variants/999999/allocate",
            &w.farmer,
            json!({"village": "茶香村", "quantity": 1}),
        )
        .await;
    assert_eq!(s, 404, "{e}");
    assert_eq!(stock(&app, product, &w.farmer).await, 30);

    // Twice 10: the village holds 20 granted units, 10 stay online, and online
    // buyers see and may buy only those.
    for granted in [10, 20] {
        let (s, v) = app
            .post_json(
                &path,
                &w.farmer,
                json!({"village": "茶香村", "quantity": 10}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["granted"], granted, "{v}");
    }
    assert_eq!(stock(&app, product, &w.farmer).await, 10);
    let order = json!({"pickup_station_id": w.town_station, "items": [{"product_id": product, "quantity": 11}]});
    let (s, e) = app.post_json("/api/market/orders", &w.buyer, order).await;
    assert_eq!((s, e["error"].as_str()), (409, Some("out_of_stock")), "{e}");

    // Giving units back is the node's: a hub refuses it, naming why.
    let (s, e) = app
        .post_json(
            &format!("/api/market/variants/{variant}/release"),
            &w.farmer,
            json!({"quantity": 1}),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("node_only")), "{e}");
    assert_eq!(stock(&app, product, &w.farmer).await, 10);
    app.stop().await;
}
