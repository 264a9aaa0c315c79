//! Browser tests of the alert pages (`tests/browser/alerts.mjs`): a fever alarm
//! arrives live on the inbox and leaves the open list when acknowledged on the
//! page; a rule made through its form fires; the board and the overview show
//! open alarms; page weight, 360 px checks and screenshots. Readings go over
//! real MQTT. Needs `npm ci` in tests/browser and Debian's chromium (`.ci/run`).

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "support/browser.rs"]
mod support;

use cunlink_core::time::now_ms;

use common::spawn_app;
use support::{mqtt_reading, run_script};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_pages_work_in_a_real_browser() {
    support::tools();
    let app = spawn_app().await;
    let probe = app
        .device(serde_json::json!({"name": "棚内探头", "type": "air-probe", "asset": "一号大棚", "asset_kind": "greenhouse", "village": "茶香村"}))
        .await;
    let tag = app
        .device(serde_json::json!({"name": "耳标 0601", "type": "ear-tag", "asset": "三号猪舍", "asset_kind": "barn", "village": "茶香村"}))
        .await;
    // Both report once, so their keys are offered on the rule form.
    let now = now_ms();
    for (token, body) in [
        (
            &probe,
            serde_json::json!({"ts": now, "values": {"temperature": 22.5, "humidity": 70}}),
        ),
        (
            &tag,
            serde_json::json!({"ts": now, "values": {"temperature": 38.0, "activity": 40}}),
        ),
    ] {
        let r = app
            .post(&format!("/api/v1/{token}/telemetry"), body.to_string())
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // A fever rule made over the API, firing at once.
    let (st, rule) = app
        .post_json(
            "/api/rules",
            &app.admin_token.clone(),
            serde_json::json!({
                "name": "耳标高温", "severity": "critical", "target": {"device": "耳标 0601"},
                "condition": {"type": "threshold", "conditions": [{"key": "temperature", "op": ">", "value": 39.5}], "for_s": 0}
            }),
        )
        .await;
    assert_eq!(st, 201, "{rule}");
    let server = app.server.as_ref().unwrap();
    let board = server
        .boards
        .create(cunlink_board::NewBoard {
            name: "大棚看板".into(),
            assets: vec!["一号大棚".into()],
            keys: vec![],
            rotate_secs: 10,
            line_width: 32,
            line_count: 6,
        })
        .await
        .unwrap();

    let envs = [
        ("BASE", format!("http://{}", app.http)),
        ("BOARD", format!("/board/{}", board.slug)),
        ("USERNAME", "admin".to_string()),
        ("PASSWORD", "admin-password".to_string()),
    ];
    run_script("alerts.mjs", &envs, |what| {
        // "fever": the ear tag runs hot; "hot": the greenhouse does.
        let (token, body) = match what.as_str() {
            "fever" => (
                &tag,
                serde_json::json!({"temperature": 40.2, "activity": 12}),
            ),
            _ => (
                &probe,
                serde_json::json!({"temperature": 36.5, "humidity": 40}),
            ),
        };
        mqtt_reading(app.mqtt, token, body)
    })
    .await;
}
