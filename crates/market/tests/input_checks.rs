//! Input checks without HTTP: every refusal names its field, and a refused
//! request changes nothing.

mod support;

use serde_json::{Value, json};

use cunlink_core::auth::Role;
use cunlink_market::{MarketError, catalog, input, orders};
use support::{Shop, VILLAGE, code, field, obj, one_line};

#[test]
fn order_bodies_are_refused_by_field() {
    let shop = Shop::open("input-order");
    let buyer = shop.user("buyer", Role::Buyer, Some(VILLAGE));
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"items": [{"product_id": 1, "quantity": 1}]}),
            "pickup_station_id",
            "missing_field",
        ),
        (
            json!({"pickup_station_id": "one", "items": []}),
            "pickup_station_id",
            "not_an_integer",
        ),
        (json!({"pickup_station_id": 1}), "items", "missing_field"),
        (
            json!({"pickup_station_id": 1, "items": []}),
            "items",
            "bad_items",
        ),
        (
            json!({"pickup_station_id": 1, "items": [{"quantity": 1}]}),
            "items[0].product_id",
            "missing_field",
        ),
        (
            json!({"pickup_station_id": 1, "items": [{"product_id": 1, "quantity": 0}]}),
            "items[0].quantity",
            "bad_quantity",
        ),
        (
            json!({"pickup_station_id": 1, "items": [{"product_id": 1, "quantity": 100_001}]}),
            "items[0].quantity",
            "bad_quantity",
        ),
        (
            json!({"pickup_station_id": 1, "items": [{"product_id": 1, "quantity": 1.5}]}),
            "items[0].quantity",
            "not_an_integer",
        ),
        (
            json!({"pickup_station_id": 1, "items": [{"product_id": 1, "quantity": 1}, 7]}),
            "items[1]",
            "not_an_object",
        ),
    ];
    for (body, want_field, want_code) in cases {
        let e = orders::place::parse(&buyer, &obj(body.clone())).expect_err(&body.to_string());
        assert_eq!(field(&e), Some(want_field), "{body}: {e}");
        assert_eq!(code(&e), Some(want_code), "{body}: {e}");
    }
    // Only an operator orders for a villager.
    let body = obj(
        json!({"pickup_station_id": 1, "for_name": "王奶奶", "items": [{"product_id": 1, "quantity": 1}]}),
    );
    let e = orders::place::parse(&buyer, &body).expect_err("for_name by a buyer");
    assert!(matches!(e, MarketError::Forbidden(_)), "{e}");
}

#[tokio::test]
async fn orders_for_what_does_not_exist_change_nothing() {
    let shop = Shop::open("input-unknown");
    let farmer = shop.user("farmer", Role::Farmer, Some(VILLAGE));
    let buyer = shop.user("buyer", Role::Buyer, Some(VILLAGE));
    let station = shop.station(VILLAGE, "服务站");
    let product = shop.product(&farmer, 100, 3);

    let e = shop
        .order(&buyer, None, one_line(station + 100, product, 1))
        .await
        .expect_err("unknown station");
    assert_eq!(field(&e), Some("pickup_station_id"), "{e}");
    let e = shop
        .order(&buyer, None, one_line(station, product + 100, 1))
        .await
        .expect_err("unknown product");
    assert_eq!(field(&e), Some("items[0].product_id"), "{e}");
    assert_eq!(shop.stock(product), 3);
    assert_eq!(shop.count("market_orders"), 0);
}

#[test]
fn product_bodies_are_refused_by_field_and_change_nothing() {
    let shop = Shop::open("input-product");
    let farmer = shop.user("farmer", Role::Farmer, Some(VILLAGE));
    let buyer = shop.user("buyer", Role::Buyer, Some(VILLAGE));
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"unit": "kg", "price_fen": 100, "stock": 1}),
            "name",
            "missing_field",
        ),
        (
            json!({"name": "笋", "price_fen": 100, "stock": 1}),
            "unit",
            "missing_field",
        ),
        (
            json!({"name": "笋", "unit": "kg", "price_fen": 12.5, "stock": 1}),
            "price_fen",
            "fractional_fen",
        ),
        (
            json!({"name": "笋", "unit": "kg", "price_fen": -1, "stock": 1}),
            "price_fen",
            "bad_price",
        ),
        (
            json!({"name": "笋", "unit": "kg", "price_fen": 100, "stock": -1}),
            "stock",
            "bad_stock",
        ),
        (
            json!({"name": "笋", "unit": "kg", "price_fen": 100, "stock": catalog::MAX_STOCK + 1}),
            "stock",
            "bad_stock",
        ),
        (
            json!({"name": "笋", "variants": []}),
            "variants",
            "missing_field",
        ),
        (
            json!({"name": "笋", "variants": [{"unit": "kg", "price_fen": 100}]}),
            "variants[0].stock",
            "missing_field",
        ),
    ];
    for (body, want_field, want_code) in cases {
        let f = farmer.clone();
        let b = obj(body.clone());
        let e = shop
            .market
            .db
            .call_blocking(move |c| catalog::create_product(c, &f, &b))
            .expect_err(&body.to_string());
        assert_eq!(field(&e), Some(want_field), "{body}: {e}");
        assert_eq!(code(&e), Some(want_code), "{body}: {e}");
    }
    // A buyer does not sell.
    let b = obj(json!({"name": "笋", "unit": "kg", "price_fen": 100, "stock": 1}));
    let e = shop
        .market
        .db
        .call_blocking(move |c| catalog::create_product(c, &buyer, &b))
        .expect_err("a buyer selling");
    assert!(matches!(e, MarketError::Forbidden(_)), "{e}");
    assert_eq!(shop.count("market_products"), 0);
    assert_eq!(shop.count("market_variants"), 0);
}

#[test]
fn bodies_must_be_json_objects() {
    assert!(input::object(br#"{"a": 1}"#).is_ok());
    for raw in [&b"[1, 2]"[..], b"\"text\"", b"{", b""] {
        let e = input::object(raw).expect_err("not an object");
        assert!(matches!(e, MarketError::Invalid { field: None, .. }), "{e}");
    }
}
