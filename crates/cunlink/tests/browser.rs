//! Browser tests: the real server with data sent over real MQTT and HTTP, driven
//! by Playwright in Debian's Chromium (`tests/browser/pages.mjs`). Run
//! `npm ci` in tests/browser and install `chromium` first (`.ci/run` does both).

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "support/browser.rs"]
mod support;

use cunlink_core::time::now_ms;

use common::{request, spawn_app};
use support::{mqtt_reading, run_script};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_work_in_a_real_browser() {
    support::tools();
    let app = spawn_app().await;
    // A greenhouse probe with a day of history (HTTP) and a pen of ear tags.
    let probe = app
        .device(serde_json::json!({"name": "棚内探头", "type": "air-probe", "asset": "一号大棚", "asset_kind": "greenhouse", "village": "茶香村"}))
        .await;
    let now = now_ms();
    let history: Vec<_> = (0..96)
        .map(|i| serde_json::json!({"ts": now - 86_400_000 + i * 900_000, "values": {"temperature": 20.0 + (i % 10) as f64 * 0.5, "humidity": 70}}))
        .collect();
    let r = app
        .post(
            &format!("/api/v1/{probe}/telemetry"),
            serde_json::to_vec(&history).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "history: {}", r.text());
    for i in 0..6 {
        let tag = app
            .device(serde_json::json!({"name": format!("耳标 {:04}", 501 + i), "type": "ear-tag", "asset": "二号猪舍", "asset_kind": "barn", "village": "茶香村"}))
            .await;
        let pts: Vec<_> = (0..4 * 24 * 4)
            .map(|k| serde_json::json!({"ts": now - 4 * 86_400_000 + k * 900_000, "values": {"temperature": 37.5 + (i as f64) * 0.05}}))
            .chain(std::iter::once(serde_json::json!({"ts": now, "values": {"temperature": if i == 0 { 39.0 } else { 37.6 }, "activity": 40, "battery": 90}})))
            .collect();
        let r = app
            .post(
                &format!("/api/v1/{tag}/telemetry"),
                serde_json::to_vec(&pts).unwrap(),
            )
            .await;
        assert_eq!(r.status, 200, "ear tag: {}", r.text());
    }
    let server = app.server.as_ref().unwrap();
    let probe_dev = server
        .farm
        .registry
        .by_name("棚内探头")
        .await
        .unwrap()
        .unwrap();
    let board = server
        .boards
        .create(cunlink_board::NewBoard {
            name: "大棚看板".into(),
            assets: vec!["一号大棚".into()],
            keys: vec![],
            rotate_secs: 10,
            line_width: 24,
            line_count: 4,
        })
        .await
        .unwrap();
    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("BOARD", format!("/board/{}", board.slug)),
        ("ASSET_ID", probe_dev.asset_id.unwrap().to_string()),
        ("PROBE_ID", probe_dev.id.0.to_string()),
        ("ANIMAL", "耳标 0501".to_string()),
        ("DEVICE", "棚内探头".to_string()),
        ("USERNAME", "admin".to_string()),
        ("PASSWORD", "admin-password".to_string()),
    ];
    run_script("pages.mjs", &envs, |what| {
        let temp = if what == "board" { 24.9 } else { 23.7 };
        mqtt_reading(
            app.mqtt,
            &probe,
            serde_json::json!({"temperature": temp, "humidity": 66}),
        )
    })
    .await;
}

/// The market's whole path in the browser (`tests/browser/market.mjs`): a farmer
/// lists tea through the form, a buyer orders it, the station packs, ships and
/// scans arrival, the buyer sees the pickup code, the operator hands over with
/// it, and the trace page shows the tea garden's real readings; plus page weight,
/// 360 px checks and screenshots of the market pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_path_in_a_real_browser() {
    support::tools();
    let app = spawn_app().await;
    // The tea garden with two weeks of readings between 11.5 and 18.5 °C.
    let probe = app
        .device(serde_json::json!({"name": "茶园探头", "type": "air-probe", "asset": "龙井茶园", "asset_kind": "field", "village": "茶香村"}))
        .await;
    let now = now_ms();
    let pts: Vec<_> = (0..14 * 24)
        .map(|h| serde_json::json!({"ts": now - 14 * 86_400_000 + h * 3_600_000, "values": {"temperature": 11.5 + (h % 8) as f64, "humidity": 70}}))
        .collect();
    let r = app
        .post(
            &format!("/api/v1/{probe}/telemetry"),
            serde_json::to_vec(&pts).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "garden history: {}", r.text());
    let server = app.server.as_ref().unwrap();
    server
        .market
        .db
        .call(|c| cunlink_market::access::create_station(c, "茶香村", "茶香村服务站"))
        .await
        .unwrap();
    app.user("farmer", cunlink_core::auth::Role::Farmer, Some("茶香村"))
        .await;
    app.user("buyer", cunlink_core::auth::Role::Buyer, None)
        .await;
    app.user(
        "operator",
        cunlink_core::auth::Role::StationOperator,
        Some("茶香村"),
    )
    .await;
    let op = app
        .user(
            "reporter",
            cunlink_core::auth::Role::StationOperator,
            Some("茶香村"),
        )
        .await;
    for (c, p) in [("苹果", 850), ("龙井茶", 25600), ("大米", 420)] {
        let body = serde_json::json!({"commodity": c, "price_fen": p, "unit": "kg"}).to_string();
        let r = request(
            app.http,
            "POST",
            "/api/market/prices",
            &[
                ("authorization", &format!("Bearer {op}")),
                ("content-type", "application/json"),
            ],
            body.into_bytes(),
        )
        .await;
        assert_eq!(r.status, 201, "price: {}", r.text());
    }
    let garden = server
        .farm
        .registry
        .by_name("茶园探头")
        .await
        .unwrap()
        .unwrap();
    let board = server
        .boards
        .create(cunlink_board::NewBoard {
            name: "茶园看板".into(),
            assets: vec!["龙井茶园".into()],
            keys: vec![],
            rotate_secs: 10,
            line_width: 24,
            line_count: 6,
        })
        .await
        .unwrap();
    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("PASSWORD", "a-password".to_string()),
        ("GARDEN", "龙井茶园".to_string()),
        ("GARDEN_ID", garden.asset_id.unwrap().to_string()),
        ("BOARD", format!("/board/{}", board.slug)),
    ];
    run_script("market.mjs", &envs, |_| async {}).await;
}
