//! Browser tests of the alert pages (`tests/browser/alerts.mjs`): a fever alarm
//! arrives live on the inbox and leaves the open list when acknowledged on the
//! page; a rule made through its form fires; the board and the overview show
//! open alarms; page weight, 360 px checks and screenshots. Readings go over
//! real MQTT. Needs `npm ci` in tests/browser and Debian's chromium (`.ci/run`).

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use cunlink_core::time::now_ms;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use common::{RawMqtt, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_pages_work_in_a_real_browser() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run `npm ci` in tests/browser (bash .ci/run does it)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(std::path::Path::new(&chromium).exists(), "{chromium} is missing: `apt-get install chromium`");

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
        (&probe, serde_json::json!({"ts": now, "values": {"temperature": 22.5, "humidity": 70}})),
        (&tag, serde_json::json!({"ts": now, "values": {"temperature": 38.0, "activity": 40}})),
    ] {
        let r = app.post(&format!("/api/v1/{token}/telemetry"), body.to_string()).await;
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

    let mut child = tokio::process::Command::new("node")
        .arg("alerts.mjs")
        .current_dir(&dir)
        .env("BASE", format!("http://{}", app.http))
        .env("BOARD", format!("/board/{}", board.slug))
        .env("USERNAME", "admin")
        .env("PASSWORD", "admin-password")
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (install nodejs)");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = String::new();
    let run = async {
        while let Some(line) = out.next_line().await.unwrap() {
            println!("{line}");
            log.push_str(&line);
            log.push('\n');
            if let Some(what) = line.strip_prefix("SEND ") {
                // "fever": the ear tag runs hot; "hot": the greenhouse does.
                let (token, body) = match what {
                    "fever" => (&tag, serde_json::json!({"temperature": 40.2, "activity": 12})),
                    _ => (&probe, serde_json::json!({"temperature": 36.5, "humidity": 40})),
                };
                let (mut m, _) = RawMqtt::connect(app.mqtt, false, token).await;
                m.publish(false, "v1/devices/me/telemetry", body.to_string().as_bytes(), 1, 1).await;
                let ack = m.read_packet().await.expect("puback");
                assert_eq!(ack[0] >> 4, 4, "PUBACK");
                stdin.write_all(b"sent\n").await.unwrap();
            }
        }
        child.wait().await.unwrap()
    };
    let status = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("browser tests finish within 4 minutes");
    assert!(status.success(), "browser tests failed:\n{log}");
}
