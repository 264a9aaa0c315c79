//! The order writer without HTTP: stock is never oversold however orders
//! interleave, and a cancellation gives the stock back.

mod support;

use serde_json::{Value, json};

use cunlink_core::auth::Role;
use cunlink_market::{MarketError, orders};
use support::{Shop, VILLAGE, code, field, obj, one_line, place};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_never_oversell() {
    let shop = Shop::open("oversell");
    let farmer = shop.user("farmer", Role::Farmer, Some(VILLAGE));
    let station = shop.station(VILLAGE, "服务站");
    let product = shop.product(&farmer, 12800, 10);
    let buyers: Vec<_> = (0..4)
        .map(|i| shop.user(&format!("buyer{i}"), Role::Buyer, Some(VILLAGE)))
        .collect();

    // 40 orders of one unit (a few of two) race for 10 units.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let market = shop.market.clone();
        let buyer = buyers[i % buyers.len()].clone();
        let quantity = if i % 7 == 0 { 2 } else { 1 };
        tasks.push(tokio::spawn(async move {
            let r = place(&market, &buyer, None, one_line(station, product, quantity)).await;
            (quantity, r)
        }));
    }
    let mut sold = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.expect("task") {
            (q, Ok(a)) => {
                assert_eq!(a.status, 201);
                sold += q;
            }
            (_, Err(e)) => {
                assert_eq!(code(&e), Some("out_of_stock"), "{e}");
                assert_eq!(field(&e), Some("items[0].quantity"));
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "40 orders cannot all fit in 10 units");
    assert_eq!(shop.stock(product), 10 - sold);
    // What was answered is what was committed, and no more than the stock.
    let committed: i64 = shop
        .market
        .db
        .call_blocking(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(quantity), 0) FROM market_order_items",
                [],
                |r| r.get(0),
            )
        })
        .expect("sum");
    assert_eq!(committed, sold);
    // 34 single-unit orders outnumber the 10 units, so the last unit sells too.
    assert_eq!(sold, 10);
}

#[tokio::test]
async fn cancelling_returns_the_stock_and_only_once() {
    let shop = Shop::open("cancel");
    let farmer = shop.user("farmer", Role::Farmer, Some(VILLAGE));
    let buyer = shop.user("buyer", Role::Buyer, Some(VILLAGE));
    let station = shop.station(VILLAGE, "服务站");
    let product = shop.product(&farmer, 3500, 5);

    let a = shop
        .order(&buyer, None, one_line(station, product, 3))
        .await
        .expect("order");
    let order: Value = serde_json::from_str(&a.body).expect("json");
    let id = order["id"].as_i64().expect("order id");
    assert_eq!(shop.stock(product), 2);

    let cancel = obj(json!({"status": "cancelled"}));
    let b = buyer.clone();
    let (v, _live_changes) = shop
        .market
        .db
        .call_blocking(move |c| orders::transition(c, &b, id, &cancel))
        .expect("cancel");
    assert_eq!(v["status"], "cancelled");
    assert_eq!(shop.stock(product), 5);

    // A second cancellation is refused and returns nothing more.
    let again = obj(json!({"status": "cancelled"}));
    let b = buyer.clone();
    let e = shop
        .market
        .db
        .call_blocking(move |c| orders::transition(c, &b, id, &again))
        .expect_err("cancelled twice");
    assert!(matches!(e, MarketError::Conflict { .. }), "{e}");
    assert_eq!(shop.stock(product), 5);
}

#[tokio::test]
async fn a_refused_line_leaves_no_trace_of_its_order() {
    let shop = Shop::open("refused");
    let farmer = shop.user("farmer", Role::Farmer, Some(VILLAGE));
    let buyer = shop.user("buyer", Role::Buyer, Some(VILLAGE));
    let station = shop.station(VILLAGE, "服务站");
    let tea = shop.product(&farmer, 12800, 5);
    let eggs = shop.product(&farmer, 4500, 1);
    let body = json!({
        "pickup_station_id": station,
        "items": [{"product_id": tea, "quantity": 2}, {"product_id": eggs, "quantity": 2}]
    });
    let e = shop
        .order(&buyer, None, body)
        .await
        .expect_err("eggs run out");
    assert_eq!(field(&e), Some("items[1].quantity"));
    assert_eq!((shop.stock(tea), shop.stock(eggs)), (5, 1));
    assert_eq!(shop.count("market_orders"), 0);
    assert_eq!(shop.count("market_order_items"), 0);
}

#[tokio::test]
async fn an_operator_orders_only_for_pickup_at_their_own_village() {
    let shop = Shop::open("operator");
    let farmer = shop.user("farmer", Role::Farmer, Some(VILLAGE));
    let operator = shop.user("operator", Role::StationOperator, Some(VILLAGE));
    let own = shop.station(VILLAGE, "服务站");
    let other = shop.station("县城", "县城东街驿站");
    let product = shop.product(&farmer, 100, 5);
    let body = |station| {
        json!({"pickup_station_id": station, "for_name": "王奶奶",
               "items": [{"product_id": product, "quantity": 1}]})
    };
    let e = shop
        .order(&operator, None, body(other))
        .await
        .expect_err("another village's station");
    match &e {
        MarketError::Forbidden(m) => assert!(m.contains("县城"), "{m}"),
        other => panic!("expected forbidden, got {other}"),
    }
    assert_eq!(shop.stock(product), 5);
    let a = shop
        .order(&operator, None, body(own))
        .await
        .expect("own station");
    let v: Value = serde_json::from_str(&a.body).expect("json");
    assert_eq!(
        (v["pickup_station_id"].as_i64(), v["for_name"].as_str()),
        (Some(own), Some("王奶奶"))
    );
    assert_eq!(shop.stock(product), 4);
}
