//! The market over real HTTP: listing, ordering with retries, packing, the
//! parcel's last mile and pickup code, traceability from real telemetry,
//! concurrency on stock, pinyin search, bad input, and the CLI contract.

use serde_json::{Value, json};

use crate::common::{TestApp, request, spawn_app};
use cunlink_core::auth::Role;

pub(crate) async fn post_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value, bool) {
    let auth = format!("Bearer {token}");
    let mut h = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(k) = key {
        h.push(("idempotency-key", k));
    }
    let r = request(app.http, "POST", path, &h, body.to_string().into_bytes()).await;
    let replayed = r
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (r.status, r.json(), replayed)
}

pub(crate) async fn get_json(app: &TestApp, path: &str, token: &str) -> Value {
    let r = app.get(path, token).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

pub(crate) struct World {
    pub farmer: String,
    pub buyer: String,
    pub tea_op: String,
    pub town_op: String,
    pub tea_station: i64,
    pub town_station: i64,
}

pub(crate) async fn world(app: &TestApp) -> World {
    let admin = app.admin_token.clone();
    let (s, v) = app
        .post_json(
            "/api/market/stations",
            &admin,
            json!({"village": "茶香村", "name": "茶香村服务站"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let tea_station = v["id"].as_i64().unwrap();
    let (s, v) = app
        .post_json(
            "/api/market/stations",
            &admin,
            json!({"village": "县城", "name": "东街驿站"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    World {
        tea_station,
        town_station: v["id"].as_i64().unwrap(),
        farmer: app.user("farmer", Role::Farmer, Some("茶香村")).await,
        buyer: app.user("buyer", Role::Buyer, Some("县城")).await,
        tea_op: app
            .user("tea-op", Role::StationOperator, Some("茶香村"))
            .await,
        town_op: app
            .user("town-op", Role::StationOperator, Some("县城"))
            .await,
    }
}

pub(crate) async fn list_tea(app: &TestApp, w: &World, stock: i64) -> i64 {
    let (s, v) = app
        .post_json(
            "/api/market/products",
            &w.farmer,
            json!({"name": "龙井茶", "unit": "500g", "price_fen": 12800, "stock": stock}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_i64().unwrap()
}

#[tokio::test]
async fn tea_from_garden_to_buyer_with_pickup_code_and_trace_page() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    // The tea garden's probe reports through the farm's HTTP ingest.
    let token = app.device(json!({"name": "茶园探头", "type": "air-probe", "asset": "龙井茶园", "village": "茶香村"})).await;
    let now = cunlink_core::time::now_ms();
    for (i, t) in [11.5, 14.0, 18.5].iter().enumerate() {
        let body = json!({"ts": now - 3_600_000 * (3 - i as i64), "values": {"temperature": t}})
            .to_string();
        let r = app.telemetry(&token, body).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let tea = list_tea(&app, &w, 1000).await;
    let (s, batch) = app
        .post_json("/api/market/batches", &w.farmer, json!({"asset": "龙井茶园", "grown_from": now - 86_400_000, "harvested_at": now, "product_id": tea}))
        .await;
    assert_eq!(s, 201, "{batch}");

    // A city buyer orders; the retry with the same key does not duplicate.
    let order =
        json!({"items": [{"product_id": tea, "quantity": 2}], "pickup_station_id": w.town_station});
    let (s1, o1, r1) = post_key(&app, "/api/market/orders", &w.buyer, Some("k-1"), &order).await;
    assert_eq!((s1, r1), (201, false), "{o1}");
    assert_eq!(o1["status"], "placed");
    let (s2, o2, r2) = post_key(&app, "/api/market/orders", &w.buyer, Some("k-1"), &order).await;
    assert_eq!((s2, r2), (201, true));
    assert_eq!(o1, o2);
    let other =
        json!({"items": [{"product_id": tea, "quantity": 3}], "pickup_station_id": w.town_station});
    let (s3, e3, _) = post_key(&app, "/api/market/orders", &w.buyer, Some("k-1"), &other).await;
    assert_eq!(s3, 422, "{e3}");
    assert_eq!(
        get_json(&app, &format!("/api/market/products/{tea}"), &w.buyer).await["stock"],
        998
    );
    let id = o1["id"].as_i64().unwrap();

    // Only the tea village's station packs; the town operator may not.
    let status = |s: &str| json!({"status": s});
    let (s, _) = app
        .post_json(
            &format!("/api/market/orders/{id}/status"),
            &w.town_op,
            status("packed"),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .post_json(
            &format!("/api/market/orders/{id}/status"),
            &w.tea_op,
            status("packed"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .post_json(
            &format!("/api/market/orders/{id}/status"),
            &w.tea_op,
            status("shipped"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let parcel = v["parcel_id"].as_i64().unwrap();

    // The origin station picks it up; the county hub's staff scan its arrival there.
    let county = app.user("county", Role::CountyStaff, None).await;
    for (who, st) in [(&w.tea_op, "picked_up"), (&county, "at_county_hub")] {
        let (s, v) = app
            .post_json(
                &format!("/api/market/parcels/{parcel}/scan"),
                who,
                json!({"status": st, "place": "县物流中心"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    // Arrival at the buyer's station is scanned by that station only.
    let (s, _) = app
        .post_json(
            &format!("/api/market/parcels/{parcel}/scan"),
            &w.tea_op,
            json!({"status": "at_village_station"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, p) = app
        .post_json(
            &format!("/api/market/parcels/{parcel}/scan"),
            &w.town_op,
            json!({"status": "at_village_station"}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    let code = p["pickup_code"].as_str().unwrap().to_string();
    let parts: Vec<&str> = code.split('-').collect();
    assert_eq!(parts.len(), 3, "{code}");
    assert!(parts.iter().all(|x| x.parse::<u32>().is_ok()), "{code}");
    // The buyer sees the code in the app.
    assert_eq!(
        get_json(&app, &format!("/api/market/parcels/{parcel}"), &w.buyer).await["pickup_code"],
        code.as_str()
    );

    let (s, e) = app
        .post_json(
            &format!("/api/market/parcels/{parcel}/collect"),
            &w.town_op,
            json!({"code": "1-1-0000"}),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"], "wrong_pickup_code");
    assert_eq!(
        get_json(&app, &format!("/api/market/parcels/{parcel}"), &w.buyer).await["status"],
        "at_village_station"
    );
    let (s, p) = app
        .post_json(
            &format!("/api/market/parcels/{parcel}/collect"),
            &w.town_op,
            json!({"code": code}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["status"], "collected");
    let o = get_json(&app, &format!("/api/market/orders/{id}"), &w.buyer).await;
    assert_eq!(o["status"], "collected");
    let events: Vec<&str> = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "created",
            "picked_up",
            "at_county_hub",
            "at_village_station",
            "collected"
        ]
    );

    // The order line's QR page shows the tea garden's real readings.
    let url = o["items"][0]["trace_url"].as_str().unwrap().to_string();
    let r = request(app.http, "GET", &url, &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains("龙井茶") && page.contains("茶香村") && page.contains("龙井茶园"),
        "{page}"
    );
    assert!(
        page.contains("气温")
            && page.contains("11.5")
            && page.contains("18.5")
            && page.contains("<svg"),
        "{page}"
    );
    let r = request(app.http, "GET", &format!("{url}/qr.svg"), &[], Vec::new()).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<svg"));
    let batch_url = batch["url"].as_str().unwrap();
    assert_eq!(
        request(app.http, "GET", batch_url, &[], Vec::new())
            .await
            .status,
        200
    );
    assert_eq!(
        request(app.http, "GET", "/t/not-a-code", &[], Vec::new())
            .await
            .status,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_orders_never_oversell_and_cancel_returns_stock() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let tea = list_tea(&app, &w, 50).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (http, buyer, st) = (app.http, w.buyer.clone(), w.town_station);
        tasks.push(tokio::spawn(async move {
            let body = json!({"items": [{"product_id": tea, "quantity": 1 + i % 2}], "pickup_station_id": st}).to_string();
            let auth = format!("Bearer {buyer}");
            let r = request(http, "POST", "/api/market/orders", &[("authorization", &auth), ("content-type", "application/json")], body.into_bytes()).await;
            (r.status, r.json())
        }));
    }
    let (mut sold, mut refused) = (0, 0);
    let mut first = None;
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            201 => {
                sold += v["items"][0]["quantity"].as_i64().unwrap();
                first.get_or_insert(v["id"].as_i64().unwrap());
            }
            409 => {
                assert_eq!(v["error"], "out_of_stock");
                refused += 1;
            }
            _ => panic!("unexpected {s}: {v}"),
        }
    }
    let stock = get_json(&app, &format!("/api/market/products/{tea}"), &w.buyer).await["stock"]
        .as_i64()
        .unwrap();
    assert!(
        sold <= 50 && sold + stock == 50 && refused > 0,
        "sold {sold}, left {stock}"
    );
    let id = first.unwrap();
    let (s, v) = app
        .post_json(
            &format!("/api/market/orders/{id}/status"),
            &w.buyer,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let q = v["items"][0]["quantity"].as_i64().unwrap();
    assert_eq!(
        get_json(&app, &format!("/api/market/products/{tea}"), &w.buyer).await["stock"]
            .as_i64()
            .unwrap(),
        stock + q
    );
    app.stop().await;
}

#[tokio::test]
async fn flash_sale_sells_exactly_the_session_stock() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let tea = list_tea(&app, &w, 5000).await;
    let (s, live) = app
        .post_json(
            "/api/market/live",
            &w.farmer,
            json!({"title": "明前龙井直播", "stream_url": "https://live.douyin.com/123456",
            "items": [{"product_id": tea, "session_price_fen": 9900, "session_stock": 100}]}),
        )
        .await;
    assert_eq!(s, 201, "{live}");
    let (sid, item) = (
        live["id"].as_i64().unwrap(),
        live["items"][0]["id"].as_i64().unwrap(),
    );
    let buyers: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..10 {
            v.push(app.user(&format!("fan{i}"), Role::Buyer, None).await);
        }
        v
    };
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let (http, buyer, st) = (app.http, buyers[i % buyers.len()].clone(), w.town_station);
        tasks.push(tokio::spawn(async move {
            let body = json!({"item_id": item, "quantity": 1, "pickup_station_id": st}).to_string();
            let auth = format!("Bearer {buyer}");
            request(
                http,
                "POST",
                &format!("/api/market/live/{sid}/orders"),
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                body.into_bytes(),
            )
            .await
            .status
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => ok += 1,
            409 => {}
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(ok, 100);
    let v = get_json(&app, &format!("/api/market/live/{sid}"), &w.buyer).await;
    assert_eq!(v["items"][0]["remaining"], 0);
    let (s, v) = app
        .post_json(&format!("/api/market/live/{sid}/end"), &w.farmer, json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        get_json(&app, &format!("/api/market/products/{tea}"), &w.buyer).await["stock"],
        4900
    );
    app.stop().await;
}

#[tokio::test]
async fn price_board_finds_by_chinese_pinyin_and_initials() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let (s, v) = app
        .post_json(
            "/api/market/prices",
            &w.tea_op,
            json!({"commodity": "苹果", "price_fen": 850, "unit": "kg"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, _) = app
        .post_json(
            "/api/market/prices",
            &w.tea_op,
            json!({"commodity": "梨", "price_fen": 600, "unit": "kg"}),
        )
        .await;
    assert_eq!(s, 201);
    for q in ["苹果", "pingguo", "pg", "ping%20guo", "PingGuo"] {
        let v = get_json(
            &app,
            &format!(
                "/api/market/prices?q={}",
                if q.is_ascii() {
                    q.to_string()
                } else {
                    crate::common::enc(q)
                }
            ),
            &w.buyer,
        )
        .await;
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), 1, "{q}: {v}");
        assert_eq!(rows[0]["commodity"], "苹果");
        assert_eq!(rows[0]["market"], "茶香村");
        assert_eq!(rows[0]["price_fen"], 850);
        assert_eq!(rows[0]["unit"], "kg");
        assert!(rows[0]["date"].as_str().unwrap().len() == 10);
    }
    let t = get_json(
        &app,
        &format!(
            "/api/market/prices/trend?commodity={}&days=7",
            crate::common::enc("苹果")
        ),
        &w.buyer,
    )
    .await;
    assert_eq!(t["points"].as_array().unwrap().len(), 1, "{t}");
    // Bad input: fractions of a fen, an operator reporting for another station, a buyer reporting.
    let (s, e) = app
        .post_json(
            "/api/market/prices",
            &w.tea_op,
            json!({"commodity": "苹果", "price_fen": 850.5, "unit": "kg"}),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("price_fen")), "{e}");
    let (s, _) = app
        .post_json(
            "/api/market/prices",
            &w.tea_op,
            json!({"commodity": "苹果", "price_fen": 900, "station_id": w.town_station}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .post_json(
            "/api/market/prices",
            &w.buyer,
            json!({"commodity": "苹果", "price_fen": 900}),
        )
        .await;
    assert_eq!(s, 403);
    let v = get_json(&app, "/api/market/prices?q=pg", &w.buyer).await;
    assert_eq!(v[0]["price_fen"], 850);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_by_name_and_changes_nothing() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let tea = list_tea(&app, &w, 5).await;
    let (s, e) = app
        .post_json(
            "/api/market/products",
            &w.farmer,
            json!({"name": "茶", "unit": "kg", "price_fen": 12.5, "stock": 1}),
        )
        .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("fractional_fen")),
        "{e}"
    );
    let (s, _) = app
        .post_json(
            "/api/market/products",
            &w.buyer,
            json!({"name": "茶", "unit": "kg", "price_fen": 100, "stock": 1}),
        )
        .await;
    assert_eq!(s, 403);
    let order = |pid: i64, q: i64, st: i64| json!({"items": [{"product_id": pid, "quantity": q}], "pickup_station_id": st});
    for (body, status, code) in [
        (order(tea, 0, w.town_station), 400, "bad_quantity"),
        (order(tea, -3, w.town_station), 400, "bad_quantity"),
        (order(999, 1, w.town_station), 400, "unknown_product"),
        (order(tea, 6, w.town_station), 409, "out_of_stock"),
        (order(tea, 1, 999), 400, "unknown_station"),
    ] {
        let (s, e) = app.place_order(&w.buyer, body.clone()).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (status, Some(code)),
            "{body}: {e}"
        );
    }
    // An operator orders for a villager only at their own station.
    let (s, _) = app.place_order(&w.tea_op, json!({"items": [{"product_id": tea, "quantity": 1}], "pickup_station_id": w.town_station, "for_name": "王大妈"})).await;
    assert_eq!(s, 403);
    let (s, v) = app.place_order(&w.tea_op, json!({"items": [{"product_id": tea, "quantity": 1}], "pickup_station_id": w.tea_station, "for_name": "王大妈"})).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, _) = app
        .post_json(
            &format!("/api/market/orders/{id}/payment"),
            &w.town_op,
            json!({"state": "paid_at_station", "method": "cash"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .post_json(
            &format!("/api/market/orders/{id}/payment"),
            &w.tea_op,
            json!({"state": "paid_at_station", "method": "qr"}),
        )
        .await;
    assert_eq!(
        (s, v["payment"].as_str()),
        (200, Some("paid_at_station")),
        "{v}"
    );
    // Delisted products cannot be ordered.
    let r = request(
        app.http,
        "PATCH",
        &format!("/api/market/products/{tea}"),
        &[
            ("authorization", &format!("Bearer {}", w.farmer)),
            ("content-type", "application/json"),
        ],
        br#"{"listed":false}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (s, e) = app
        .place_order(&w.buyer, order(tea, 1, w.town_station))
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("product_delisted")));
    assert_eq!(
        get_json(&app, &format!("/api/market/products/{tea}"), &w.buyer).await["stock"],
        4
    );
    app.stop().await;
}

#[tokio::test]
async fn station_create_cli_prints_the_id_last() {
    let dir = crate::common::TempDir::new("station-cli");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cunlink"))
            .args(args)
            .output()
            .unwrap()
    };
    let d = dir.0.to_str().unwrap();
    let out = run(&[
        "station",
        "create",
        "--data-dir",
        d,
        "--village",
        "茶香村",
        "--name",
        "茶香村服务站",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(last.parse::<i64>().unwrap(), 1);
    let out = run(&[
        "station",
        "create",
        "--data-dir",
        d,
        "--village",
        "茶香村",
        "--name",
        "茶香村服务站",
    ]);
    assert!(!out.status.success());
}
