//! Several `cunlink serve` on one PostgreSQL behave as one market (issue 14):
//! an Idempotency-Key holds across nodes, and buyers racing on several nodes
//! never oversell. On SQLite (one process owns the database) the same checks
//! run against one instance.

use serde_json::{Value, json};

use std::net::SocketAddr;

use crate::common::{TestApp, request, spawn_app};
use crate::market::{get_json, list_tea, post_key, world};
use cunlink_core::auth::Role;

/// The app and up to `n - 1` peers on its database (none on SQLite).
async fn nodes(app: &TestApp, n: usize) -> Vec<TestApp> {
    let mut peers = Vec::new();
    for _ in 1..n {
        match app.spawn_peer().await {
            Some(p) => peers.push(p),
            None => break,
        }
    }
    peers
}

/// `POST /api/market/orders` at node `http` with an Idempotency-Key:
/// (status, body, replayed).
async fn order_at(http: SocketAddr, token: &str, key: &str, body: &Value) -> (u16, Value, bool) {
    let auth = format!("Bearer {token}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("idempotency-key", key),
    ];
    let r = request(
        http,
        "POST",
        "/api/market/orders",
        &h,
        body.to_string().into_bytes(),
    )
    .await;
    let replayed = r
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (r.status, r.json(), replayed)
}

/// Orders of product `product` in the database (whatever node wrote them).
fn orders_of(app: &TestApp, product: i64) -> i64 {
    app.db_conn()
        .query_row(
            "SELECT COUNT(DISTINCT order_id) FROM market_order_items WHERE product_id = $1",
            [product],
            |r| r.get(0),
        )
        .unwrap()
}

#[tokio::test]
async fn a_retry_through_another_node_replays_the_first_order() {
    let mut app = spawn_app().await;
    let mut peers = nodes(&app, 2).await;
    let w = world(&app).await;
    let tea = list_tea(&app, &w, 10).await;
    let body =
        json!({"items": [{"product_id": tea, "quantity": 2}], "pickup_station_id": w.town_station});

    // The same request with the same key, sent at once through both nodes
    // (the client timed out on one and retried on the other).
    let mut tasks = Vec::new();
    for i in 0..8 {
        let node = if i % 2 == 1 && !peers.is_empty() {
            &peers[0]
        } else {
            &app
        };
        let (http, buyer, body) = (node.http, w.buyer.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            order_at(http, &buyer, "order-77", &body).await
        }));
    }
    let mut ids = Vec::new();
    let mut fresh = 0;
    for t in tasks {
        let (s, v, replayed) = t.await.unwrap();
        assert_eq!(s, 201, "{v}");
        ids.push(v["id"].as_i64().unwrap());
        if !replayed {
            fresh += 1;
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order, answered everywhere: {ids:?}");
    assert_eq!(fresh, 1, "exactly one answer is the original");
    assert_eq!(orders_of(&app, tea), 1);
    let stock =
        get_json(&app, &format!("/api/market/products/{tea}"), &w.buyer).await["stock"].as_i64();
    assert_eq!(stock, Some(8));

    // A later retry through the other node: the same answer, replayed.
    let other = peers.first().unwrap_or(&app);
    let (s, v, replayed) = post_key(
        other,
        "/api/market/orders",
        &w.buyer,
        Some("order-77"),
        &body,
    )
    .await;
    assert_eq!((s, replayed), (201, true), "{v}");
    assert_eq!(v["id"].as_i64(), Some(ids[0]));
    // The key with another body is refused on any node.
    let other_body =
        json!({"items": [{"product_id": tea, "quantity": 3}], "pickup_station_id": w.town_station});
    let (s, v, _) = post_key(
        other,
        "/api/market/orders",
        &w.buyer,
        Some("order-77"),
        &other_body,
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(orders_of(&app, tea), 1);

    for p in &mut peers {
        p.stop().await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_hundred_buyers_on_three_nodes_race_for_fifty_units() {
    let mut app = spawn_app().await;
    let mut peers = nodes(&app, 3).await;
    let w = world(&app).await;
    let tea = list_tea(&app, &w, 50).await;
    let mut makers = Vec::new();
    for i in 0..100 {
        let (auth, name) = (
            app.server.as_ref().unwrap().auth.clone(),
            format!("racer-{i}"),
        );
        makers.push(tokio::task::spawn_blocking(move || {
            let u = auth
                .create_user_blocking(&name, "a-password", Role::Buyer, Some("县城"))
                .unwrap();
            auth.create_api_token_blocking(u.id).unwrap()
        }));
    }
    let mut buyers = Vec::new();
    for m in makers {
        buyers.push(m.await.unwrap());
    }
    let addrs: Vec<_> = std::iter::once(app.http)
        .chain(peers.iter().map(|p| p.http))
        .collect();
    let mut tasks = Vec::new();
    for (i, buyer) in buyers.into_iter().enumerate() {
        let http = addrs[i % addrs.len()];
        let body = json!({"items": [{"product_id": tea, "quantity": 1}], "pickup_station_id": w.town_station});
        let key = format!("race-{i}");
        tasks.push(tokio::spawn(async move {
            order_at(http, &buyer, &key, &body).await
        }));
    }
    let (mut sold, mut refused) = (0, 0);
    for t in tasks {
        let (s, v, _): (u16, Value, bool) = t.await.unwrap();
        match s {
            201 => sold += 1,
            409 => {
                assert_eq!(v["error"], "out_of_stock", "{v}");
                refused += 1;
            }
            _ => panic!("unexpected {s}: {v}"),
        }
    }
    assert_eq!((sold, refused), (50, 50));
    assert_eq!(orders_of(&app, tea), 50);
    let stock =
        get_json(&app, &format!("/api/market/products/{tea}"), &w.buyer).await["stock"].as_i64();
    assert_eq!(stock, Some(0));
    for p in &mut peers {
        p.stop().await;
    }
    app.stop().await;
}
