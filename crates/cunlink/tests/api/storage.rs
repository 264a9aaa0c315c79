//! Durability: what was acknowledged is there after a restart, a checkpoint, a
//! `kill -9`, or a SIGTERM in the middle of a burst.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::common::{RawMqtt, TempDir, request, spawn_app_with, spawn_binary, test_config};

const T0: i64 = 1_790_000_000_000;

#[tokio::test]
async fn everything_acked_is_read_back_after_checkpoints_and_restart() {
    // Checkpoint on every commit: buffers are sealed or carried and old log rows
    // dropped constantly, the path a long-running server takes once a minute.
    let mut app = spawn_app_with(|c| c.ingest.checkpoint_secs = 0).await;
    let token = app.device(json!({ "name": "many" })).await;
    let url = format!("/api/v1/{token}/telemetry");
    let mut expected = Vec::new();
    for batch in 0..30 {
        // 40 points per request per key: "fast" crosses the seal size, "slow" is carried.
        let mut body = Vec::new();
        for i in 0..40 {
            let n = batch * 40 + i;
            body.push(json!({ "ts": T0 + n * 1000, "values": { "fast": n } }));
            expected.push(n);
        }
        if batch % 10 == 0 {
            body.push(json!({ "ts": T0 + batch * 1000, "values": { "slow": batch } }));
        }
        assert_eq!(app.post(&url, json!(body).to_string()).await.status, 200);
    }
    // A rewrite of an old timestamp wins over the first value.
    assert_eq!(
        app.post(
            &url,
            json!({ "ts": T0, "values": { "fast": -1 } }).to_string()
        )
        .await
        .status,
        200
    );
    expected[0] = -1;
    let path = format!(
        "/api/devices/many/telemetry?keys=fast,slow&start={T0}&end={}&limit=100000",
        T0 + 10_000_000
    );
    let before = app.query(&path).await;
    let fast: Vec<i64> = before["fast"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_i64().unwrap())
        .collect();
    assert_eq!(fast, expected);
    assert_eq!(before["slow"].as_array().unwrap().len(), 3);

    app.stop().await;
    let server = cunlink::app::start(test_config(&app.dir.0)).await.unwrap();
    app.http = server.http_addr;
    app.server = Some(server);
    assert_eq!(app.query(&path).await, before, "same answer after restart");
    let latest = app.query("/api/devices/many/latest").await;
    assert_eq!(latest["fast"][0]["value"], 1199);
}

/// The last stdout line of a successful CLI run (the contract: tokens come last).
fn last_line(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn create_device(dir: &std::path::Path, name: &str) -> String {
    let out = crate::common::cunlink_cmd(dir)
        .args([
            "device",
            "create",
            "--data-dir",
            dir.to_str().unwrap(),
            "--name",
            name,
        ])
        .output()
        .unwrap();
    last_line(out)
}

fn create_admin(dir: &std::path::Path) -> String {
    use std::io::Write;
    let mut child = crate::common::cunlink_cmd(dir)
        .args([
            "user",
            "create",
            "--data-dir",
            dir.to_str().unwrap(),
            "--username",
            "root",
            "--role",
            "admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    last_line(child.wait_with_output().unwrap())
}

async fn count(http: &str, admin: &str, device: &str, key: &str) -> usize {
    let auth = format!("Bearer {admin}");
    let path = format!(
        "/api/devices/{device}/telemetry?keys={key}&start=0&end=1900000000000&limit=100000"
    );
    let r = request(
        http.parse().unwrap(),
        "GET",
        &path,
        &[("authorization", &auth)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()[key].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn acked_reading_survives_kill() {
    let dir = TempDir::new("kill");
    let token = create_device(&dir.0, "sensor");
    let admin = create_admin(&dir.0);
    let (mut child, http, _) = spawn_binary(&dir.0, None).await;
    for i in 0..200 {
        let body = format!(r#"{{"ts":{},"values":{{"v":{i}}}}}"#, T0 + i);
        let r = request(
            http.parse().unwrap(),
            "POST",
            &format!("/api/v1/{token}/telemetry"),
            &[],
            body.into_bytes(),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let (_child, http, _) = spawn_binary(&dir.0, None).await;
    assert_eq!(
        count(&http, &admin, "sensor", "v").await,
        200,
        "every 200 survives kill -9"
    );
}

#[tokio::test]
async fn sigterm_mid_burst_acks_only_what_it_committed() {
    let dir = TempDir::new("term");
    let token = create_device(&dir.0, "burst");
    let admin = create_admin(&dir.0);
    let (mut child, _, mqtt) = spawn_binary(&dir.0, None).await;
    let addr = mqtt.parse().unwrap();
    let mut clients = Vec::new();
    for c in 0..4u16 {
        let token = token.clone();
        clients.push(tokio::spawn(async move {
            let (mut m, _) = RawMqtt::connect(addr, false, &token).await;
            let mut acked = 0;
            let mut sent = 0u16;
            // Publish in windows of 50 until the server goes away; count PUBACKs.
            'outer: for w in 0..400u16 {
                for i in 0..50u16 {
                    let id = w * 50 + i + 1;
                    let body = format!(
                        r#"{{"ts":{},"values":{{"n":{id}}}}}"#,
                        T0 + (c as i64) * 1_000_000 + id as i64
                    );
                    // The server may close mid-window; what it acked is what counts.
                    if m.try_publish(false, "v1/devices/me/telemetry", body.as_bytes(), 1, id)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    sent += 1;
                }
                for _ in 0..50 {
                    match m.read_packet().await {
                        Some(p) if p[0] == 0x40 => acked += 1,
                        Some(_) => {}
                        None => break 'outer,
                    }
                }
            }
            (acked, sent)
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = child.id().unwrap() as i32;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let mut acked = 0;
    for c in clients {
        acked += c.await.unwrap().0;
    }
    assert!(acked > 0, "some messages were acked before shutdown");
    let (_child, http, _) = spawn_binary(&dir.0, None).await;
    let stored = count(&http, &admin, "burst", "n").await;
    assert!(
        stored >= acked,
        "stored {stored} < acked {acked}: an acked message was lost"
    );
}
