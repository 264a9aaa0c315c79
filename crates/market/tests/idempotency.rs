//! `Idempotency-Key` without HTTP: the same key and body replay the first
//! answer without doing the work again; the same key with another body is
//! refused and changes nothing; keys are per user.

mod support;

use serde_json::json;

use cunlink_core::auth::Role;
use cunlink_market::{MarketError, catalog, idem};
use support::{Shop, VILLAGE, obj, one_line};

#[tokio::test]
async fn an_order_retried_with_its_key_replays_and_takes_stock_once() {
    let shop = Shop::open("idem-order");
    let farmer = shop.user("farmer", Role::Farmer, Some(VILLAGE));
    let buyer = shop.user("buyer", Role::Buyer, Some(VILLAGE));
    let station = shop.station(VILLAGE, "服务站");
    let product = shop.product(&farmer, 12800, 10);

    let first = shop
        .order(&buyer, Some("k-1"), one_line(station, product, 2))
        .await
        .expect("order");
    assert!(!first.replayed);
    // Same body, keys in another order: the same request.
    let body =
        json!({"items": [{"quantity": 2, "product_id": product}], "pickup_station_id": station});
    let again = shop.order(&buyer, Some("k-1"), body).await.expect("replay");
    assert!(again.replayed);
    assert_eq!(
        (again.status, again.body.as_str()),
        (first.status, first.body.as_str())
    );
    assert_eq!(shop.stock(product), 8);
    assert_eq!(shop.count("market_orders"), 1);

    let e = shop
        .order(&buyer, Some("k-1"), one_line(station, product, 3))
        .await
        .expect_err("another body under the same key");
    assert!(
        matches!(e, MarketError::IdempotencyMismatch(ref k) if k == "k-1"),
        "{e}"
    );
    assert_eq!(shop.stock(product), 8);
    assert_eq!(shop.count("market_orders"), 1);

    // Another user's key of the same name is theirs: a new order, not a replay.
    let other = shop.user("other", Role::Buyer, Some(VILLAGE));
    let theirs = shop
        .order(&other, Some("k-1"), one_line(station, product, 2))
        .await
        .expect("other user's order");
    assert!(!theirs.replayed);
    assert_ne!(theirs.body, first.body);
    assert_eq!(shop.stock(product), 6);
}

#[tokio::test]
async fn a_creating_request_replays_and_a_refusal_is_not_stored() {
    let shop = Shop::open("idem-create");
    let farmer = shop.user("farmer", Role::Farmer, Some(VILLAGE));
    let create = |body: serde_json::Value| {
        let f = farmer.clone();
        idem::create(
            &shop.market.db,
            farmer.id,
            Some("p-1".into()),
            "products",
            obj(body),
            move |c, b| catalog::create_product(c, &f, b),
        )
    };
    // A refusal (price 0) stores nothing: the key stays free for the fixed request.
    let bad = json!({"name": "春笋", "unit": "kg", "price_fen": 0, "stock": 5});
    let e = create(bad).await.expect_err("price 0");
    assert!(matches!(e, MarketError::Invalid { .. }), "{e}");
    assert_eq!(shop.count("market_idempotency"), 0);

    let good = json!({"name": "春笋", "unit": "kg", "price_fen": 1200, "stock": 5});
    let first = create(good.clone()).await.expect("create");
    let again = create(good).await.expect("replay");
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.body, again.body);
    assert_eq!(shop.count("market_products"), 1);

    let other = json!({"name": "春笋", "unit": "kg", "price_fen": 1300, "stock": 5});
    let e = create(other).await.expect_err("same key, other body");
    assert!(matches!(e, MarketError::IdempotencyMismatch(_)), "{e}");
    assert_eq!(shop.count("market_products"), 1);
}

#[test]
fn the_fingerprint_ignores_key_order_but_not_the_route() {
    let a = obj(json!({"a": 1, "b": [1, 2]}));
    let b = obj(json!({"b": [1, 2], "a": 1}));
    assert_eq!(
        idem::request_hash("orders", &a),
        idem::request_hash("orders", &b)
    );
    assert_ne!(
        idem::request_hash("orders", &a),
        idem::request_hash("products", &a)
    );
    let c = obj(json!({"a": 1, "b": [2, 1]}));
    assert_ne!(
        idem::request_hash("orders", &a),
        idem::request_hash("orders", &c)
    );
}
