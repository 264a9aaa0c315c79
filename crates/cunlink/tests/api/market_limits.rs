//! Client numbers meeting arithmetic in the market (issue 9, items 1 and 9):
//! overflowing quantities, prices, stock, limits, days and dates are a 400
//! naming the field, and nothing changes.

use serde_json::{Value, json};

use crate::common::{TestApp, request, spawn_app};
use crate::market::{get_json, list_tea, world};

const BIG: i64 = i64::MAX;

fn field(e: &Value) -> Option<&str> {
    e["field"].as_str()
}

async fn stock(app: &TestApp, product: i64, token: &str) -> i64 {
    get_json(app, &format!("/api/market/products/{product}"), token).await["stock"]
        .as_i64()
        .unwrap()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: &str) -> (u16, Value) {
    let r = request(
        app.http,
        "PATCH",
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

#[tokio::test]
async fn overflowing_quantities_prices_and_stock_are_refused_by_name() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let tea = list_tea(&app, &w, 50).await;
    let st = w.town_station;

    // Orders: quantity i64::MAX, beyond i64 (u64::MAX), beyond u32.
    for q in [
        BIG.to_string(),
        u64::MAX.to_string(),
        (u64::from(u32::MAX) + 1).to_string(),
        "1e30".to_string(),
    ] {
        let body = format!(
            r#"{{"items":[{{"product_id":{tea},"quantity":{q}}}],"pickup_station_id":{st}}}"#
        );
        let r = request(
            app.http,
            "POST",
            "/api/market/orders",
            &[
                ("authorization", &format!("Bearer {}", w.buyer)),
                ("content-type", "application/json"),
            ],
            body.into_bytes(),
        )
        .await;
        let e = r.json();
        assert_eq!(
            (r.status, field(&e)),
            (400, Some("items[0].quantity")),
            "{q}: {e}"
        );
    }
    assert_eq!(stock(&app, tea, &w.buyer).await, 50);

    // Products: a price near i64::MAX (times any quantity would overflow) and huge stock.
    for (body, f) in [
        (
            json!({"name": "茶", "unit": "kg", "price_fen": BIG - 1, "stock": 1}),
            "price_fen",
        ),
        (
            json!({"name": "茶", "unit": "kg", "price_fen": 100, "stock": BIG}),
            "stock",
        ),
        (
            json!({"name": "茶", "unit": "kg", "price_fen": 100, "stock": -1}),
            "stock",
        ),
        (
            json!({"name": "茶", "variants": [{"unit": "kg", "price_fen": 100, "stock": 1, "weight_g": BIG}]}),
            "variants[0].weight_g",
        ),
    ] {
        let (s, e) = app
            .post_json("/api/market/products", &w.farmer, body.clone())
            .await;
        assert_eq!((s, field(&e)), (400, Some(f)), "{body}: {e}");
    }
    let path = format!("/api/market/products/{tea}");
    for (body, f) in [
        (format!(r#"{{"stock":{BIG}}}"#), "stock"),
        (r#"{"stock":-5}"#.to_string(), "stock"),
        (format!(r#"{{"price_fen":{}}}"#, BIG - 1), "price_fen"),
        (format!(r#"{{"stock":1,"variant_id":{BIG}}}"#), "variant_id"),
        (r#"{"stock":18446744073709551615}"#.to_string(), "stock"),
    ] {
        let (s, e) = patch(&app, &path, &w.farmer, &body).await;
        assert_eq!((s, field(&e)), (400, Some(f)), "{body}: {e}");
    }
    let p = get_json(&app, &path, &w.buyer).await;
    assert_eq!(
        (p["stock"].as_i64(), p["price_fen"].as_i64()),
        (Some(50), Some(12800))
    );

    // Live sales: session stock and price beyond bounds, live order quantity.
    for (item, f) in [
        (
            json!({"product_id": tea, "session_price_fen": 100, "session_stock": BIG}),
            "items[0].session_stock",
        ),
        (
            json!({"product_id": tea, "session_price_fen": BIG, "session_stock": 1}),
            "items[0].session_price_fen",
        ),
    ] {
        let (s, e) = app
            .post_json(
                "/api/market/live",
                &w.farmer,
                json!({"title": "直播", "stream_url": "https://live.douyin.com/1", "items": [item]}),
            )
            .await;
        assert_eq!((s, field(&e)), (400, Some(f)), "{e}");
    }
    assert_eq!(stock(&app, tea, &w.buyer).await, 50);
    let (s, live) = app
        .post_json(
            "/api/market/live",
            &w.farmer,
            json!({"title": "直播", "stream_url": "https://live.douyin.com/1",
                   "items": [{"product_id": tea, "session_price_fen": 100, "session_stock": 5}]}),
        )
        .await;
    assert_eq!(s, 201, "{live}");
    let (sid, item) = (
        live["id"].as_i64().unwrap(),
        live["items"][0]["id"].as_i64().unwrap(),
    );
    let (s, e) = app
        .post_json(
            &format!("/api/market/live/{sid}/orders"),
            &w.buyer,
            json!({"item_id": item, "quantity": BIG, "pickup_station_id": st}),
        )
        .await;
    assert_eq!((s, field(&e)), (400, Some("quantity")), "{e}");
    let v = get_json(&app, &format!("/api/market/live/{sid}"), &w.buyer).await;
    assert_eq!(v["items"][0]["remaining"], 5);
    assert_eq!(stock(&app, tea, &w.buyer).await, 45);
    app.stop().await;
}

#[tokio::test]
async fn hostile_query_numbers_are_a_400_naming_the_parameter() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let county = app
        .user("county", cunlink_core::auth::Role::CountyStaff, None)
        .await;
    for (path, f) in [
        ("/api/market/prices?q=pg&limit=-1", "limit"),
        ("/api/market/prices?limit=0", "limit"),
        ("/api/market/prices?limit=99999999999999999999", "limit"),
        ("/api/market/prices?limit=1000000", "limit"),
        (
            "/api/market/prices/trend?commodity=x&days=-9223372036854775808",
            "days",
        ),
        (
            "/api/market/prices/trend?commodity=x&days=9999999999999999999",
            "days",
        ),
        ("/api/market/products?village_id=abc", "village_id"),
        ("/api/market/products?village_id=-1", "village_id"),
        ("/api/market/parcels/reminders?days=-1", "days"),
        (
            "/api/market/parcels/reminders?days=9223372036854775807",
            "days",
        ),
        ("/api/market/parcels/reminders?days=366", "days"),
    ] {
        let started = std::time::Instant::now();
        let r = app.get(path, &county).await;
        let e = r.json();
        assert_eq!(
            (r.status, field(&e)),
            (400, Some(f)),
            "{path}: {}",
            r.text()
        );
        assert!(
            started.elapsed().as_millis() < 1000,
            "{path} took {:?}",
            started.elapsed()
        );
    }
    // The public price page shows the 7-day trend for a days it cannot use.
    let r = request(
        app.http,
        "GET",
        "/prices?c=x&days=99999999999999999999",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // In range still works.
    let v = get_json(&app, "/api/market/parcels/reminders?days=365", &county).await;
    assert!(v.is_array());
    let v = get_json(&app, "/api/market/prices?limit=1000", &w.buyer).await;
    assert!(v.is_array());

    // Price report dates: far past and far future are refused by name.
    for d in ["0001-01-01", "9999-12-31", "2026-02-30", "99999-1-1"] {
        let (s, e) = app
            .post_json(
                "/api/market/prices",
                &w.tea_op,
                json!({"commodity": "苹果", "price_fen": 850, "date": d}),
            )
            .await;
        assert_eq!((s, field(&e)), (400, Some("date")), "{d}: {e}");
    }
    let v = get_json(&app, "/api/market/prices?q=pg", &w.buyer).await;
    assert_eq!(v, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn harvest_batches_refuse_unbounded_growing_periods() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    app.device(
        json!({"name": "茶园探头", "type": "air-probe", "asset": "龙井茶园", "village": "茶香村"}),
    )
    .await;
    let now = cunlink_core::time::now_ms();
    let batch = |from: Value, to: Value| json!({"asset": "龙井茶园", "grown_from": from, "harvested_at": to});
    for (body, f) in [
        (batch(json!("1990-03-01"), json!(now)), "grown_from"),
        (batch(json!(i64::MIN), json!(now)), "grown_from"),
        (batch(json!(0), json!(now)), "grown_from"),
        (
            batch(json!("9223372036854775807-01-01"), json!(now)),
            "grown_from",
        ),
        (
            batch(json!(now - 86_400_000), json!(i64::MAX)),
            "harvested_at",
        ),
        (
            batch(json!(now - 86_400_000), json!("9999-12-31")),
            "harvested_at",
        ),
        (batch(json!(i64::MIN), json!(i64::MIN + 1)), "harvested_at"),
    ] {
        let (s, e) = app
            .post_json("/api/market/batches", &w.farmer, body.clone())
            .await;
        assert_eq!((s, field(&e)), (400, Some(f)), "{body}: {e}");
    }
    let (s, b) = app
        .post_json(
            "/api/market/batches",
            &w.farmer,
            batch(json!(now - 300 * 86_400_000), json!(now)),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    app.stop().await;
}

/// A batch stored before the bound (grown_from in 1970) still gets a page that
/// reads only the last year before the harvest.
#[tokio::test]
async fn an_old_unbounded_batch_reads_only_the_last_year() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let token = app
        .device(json!({"name": "茶园探头", "type": "air-probe", "asset": "龙井茶园", "village": "茶香村"}))
        .await;
    let now = cunlink_core::time::now_ms();
    let year = 365 * 86_400_000i64;
    for (ts, t) in [
        (now - 3 * year, 40.0),
        (now - 2 * year, 35.5),
        (now - 3_600_000, 12.5),
    ] {
        let r = app
            .telemetry(
                &token,
                json!({"ts": ts, "values": {"temperature": t}}).to_string(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (s, b) = app
        .post_json(
            "/api/market/batches",
            &w.farmer,
            json!({"asset": "龙井茶园", "grown_from": now - 86_400_000, "harvested_at": now}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let code = b["code"].as_str().unwrap().to_string();
    // Widen it the way an old server would have stored it.
    let db = app.db_conn();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE market_batches SET grown_from = 0 WHERE code = $1",
        [&code],
    )
    .unwrap();
    let started = std::time::Instant::now();
    let r = request(app.http, "GET", &format!("/t/{code}"), &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    let page = r.text();
    assert!(page.contains("12.5"), "{page}");
    assert!(
        !page.contains("40.0") && !page.contains("35.5") && page.contains("1 条读数"),
        "read beyond the last year: {page}"
    );
    assert!(
        page.contains("显示 "),
        "the page says what it shows: {page}"
    );
    app.stop().await;
}
