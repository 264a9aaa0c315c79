//! The ThingsBoard HTTP device API: every payload shape, the gateway API, and
//! every kind of bad input refused with a JSON error that changes nothing.

use serde_json::json;

use crate::common::{enc, spawn_app};

#[tokio::test]
async fn every_thingsboard_telemetry_shape_is_stored() {
    let app = spawn_app().await;
    let token = app
        .device(json!({ "name": "probe", "type": "air-probe", "asset": "龙井茶园" }))
        .await;
    let url = format!("/api/v1/{token}/telemetry");
    let now = cunlink_core::time::now_ms();
    for body in [
        json!({ "temperature": 21.5, "ok": true, "note": "晴" }),
        json!({ "ts": now - 3000, "values": { "temperature": 20.0 } }),
        json!([{ "ts": now - 2000, "values": { "temperature": 20.5 } }, { "humidity": 61 }]),
        json!([{ "ts": now - 1000, "values": { "temperature": 21.0 } }]),
    ] {
        let r = app.post(&url, body.to_string()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
    }
    let t = app
        .query(&format!(
            "/api/devices/probe/telemetry?keys=temperature,humidity,ok,note&start={}",
            now - 10_000
        ))
        .await;
    let temps: Vec<f64> = t["temperature"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(temps, vec![20.0, 20.5, 21.0, 21.5], "ascending by ts: {t}");
    assert_eq!(t["humidity"][0]["value"], 61);
    assert_eq!(t["ok"][0]["value"], true);
    assert_eq!(t["note"][0]["value"], "晴");
    let latest = app.query("/api/devices/probe/latest").await;
    assert_eq!(latest["temperature"][0]["value"], 21.5);
}

#[tokio::test]
async fn attributes_are_stored_as_latest_values() {
    let app = spawn_app().await;
    let token = app.device(json!({ "name": "tag" })).await;
    assert_eq!(
        app.post(
            &format!("/api/v1/{token}/attributes"),
            r#"{"firmware":"1.2.0","battery_type":"CR2032"}"#
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/{token}/attributes"),
            r#"{"firmware":"1.3.0"}"#
        )
        .await
        .status,
        200
    );
    let a = app.query("/api/devices/tag/attributes").await;
    assert_eq!(a["firmware"]["value"], "1.3.0");
    assert_eq!(a["battery_type"]["value"], "CR2032");
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.device(json!({ "name": "probe" })).await;
    let url = format!("/api/v1/{token}/telemetry");
    assert_eq!(app.post(&url, r#"{"temperature":1}"#).await.status, 200);
    let before = app
        .query("/api/devices/probe/telemetry?keys=temperature,humidity&start=0")
        .await;

    let future = cunlink_core::time::now_ms() + 2 * 86_400_000;
    let cases: Vec<(String, u16, &str, Option<&str>)> = vec![
        ("{\"temperature\":".into(), 400, "malformed_json", None),
        (
            r#"{"temperature":{"inner":1}}"#.into(),
            400,
            "nested_value",
            Some("temperature"),
        ),
        (
            r#"{"humidity":5,"temperature":[1,2]}"#.into(),
            400,
            "nested_value",
            Some("temperature"),
        ),
        (
            r#"{"temperature":null}"#.into(),
            400,
            "null_value",
            Some("temperature"),
        ),
        (
            format!(r#"{{"ts":{future},"values":{{"temperature":2}}}}"#),
            400,
            "future_timestamp",
            Some("ts"),
        ),
        (
            r#"[{"humidity":3},{"ts":"yesterday","values":{"temperature":2}}]"#.into(),
            400,
            "bad_timestamp",
            Some("ts"),
        ),
        ("\"just a string\"".into(), 400, "invalid_payload", None),
    ];
    for (body, status, code, field) in cases {
        let r = app.post(&url, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        let j = r.json();
        assert_eq!(j["error"], code, "{body}: {j}");
        assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
        if let Some(f) = field {
            assert_eq!(j["field"], f, "{body}: {j}");
        }
    }
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(1_100_000));
    let r = app.post(&url, big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"], "body_too_large");

    let r = app
        .post("/api/v1/not-a-token/telemetry", r#"{"temperature":1}"#)
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");

    let after = app
        .query("/api/devices/probe/telemetry?keys=temperature,humidity&start=0")
        .await;
    assert_eq!(before, after, "refused requests must not write anything");
}

#[tokio::test]
async fn gateway_creates_its_devices_on_first_sight() {
    let app = spawn_app().await;
    let gw = app
        .device(
            json!({ "name": "barn-gw", "gateway": true, "asset": "猪舍", "asset_kind": "barn" }),
        )
        .await;
    let now = cunlink_core::time::now_ms();
    let body = json!({
        "Ear tag 0412": [{ "ts": now - 1000, "values": { "temperature": 38.4 } }, { "ts": now, "values": { "temperature": 38.6 } }],
        "Ear tag 0413": { "temperature": 38.1, "activity": 12 },
        "Ear tag 0414": { "ts": now, "values": { "temperature": 37.9 } },
    });
    let r = app.gateway_telemetry(&gw, body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = app
        .query(&format!(
            "/api/devices/{}/telemetry?keys=temperature&start={}",
            enc("Ear tag 0412"),
            now - 5000
        ))
        .await;
    assert_eq!(t["temperature"].as_array().unwrap().len(), 2);
    let d = app
        .query(&format!("/api/devices/{}", enc("Ear tag 0413")))
        .await;
    assert_eq!(
        d["asset"], "猪舍",
        "children belong to the gateway's asset: {d}"
    );
    let l = app
        .query(&format!("/api/devices/{}/latest", enc("Ear tag 0414")))
        .await;
    assert_eq!(l["temperature"][0]["value"], 37.9);

    // A plain device may not speak for others.
    let plain = app.device(json!({ "name": "plain" })).await;
    let r = app.gateway_telemetry(&plain, body.to_string()).await;
    assert_eq!(r.status, 403);

    // Nor may a gateway write for a device it does not own.
    let r = app
        .gateway_telemetry(&gw, json!({ "plain": { "t": 1 } }).to_string())
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        app.query("/api/devices/plain/latest")
            .await
            .as_object()
            .unwrap()
            .is_empty()
    );

    // One bad device in a gateway body refuses the whole body.
    let bad = json!({ "Ear tag 0412": { "temperature": 39.0 }, "Ear tag 0415": { "temperature": { "x": 1 } } });
    let r = app.gateway_telemetry(&gw, bad.to_string()).await;
    assert_eq!(r.status, 400);
    let l = app
        .query(&format!("/api/devices/{}/latest", enc("Ear tag 0412")))
        .await;
    assert_eq!(l["temperature"][0]["value"], 38.6);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_drops_nothing_it_acked() {
    let app = crate::common::spawn_app_with(|c| c.ingest.queue_values = 1).await;
    let token = app.device(json!({ "name": "busy" })).await;
    let url = format!("/api/v1/{token}/telemetry");
    let (mut ok, mut busy) = (0, 0);
    // Rounds of concurrent requests until backpressure shows (a fast disk may need more than one).
    for round in 0..5i64 {
        let mut tasks = Vec::new();
        for i in 0..100i64 {
            let (http, url) = (app.http, url.clone());
            let n = round * 100 + i;
            tasks.push(tokio::spawn(async move {
                let body = format!(
                    r#"{{"ts":{},"values":{{"n":{n}}}}}"#,
                    1_700_000_000_000i64 + n
                );
                crate::common::request(http, "POST", &url, &[], body.into_bytes()).await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                200 => ok += 1,
                503 => {
                    busy += 1;
                    assert!(r.headers.contains_key("retry-after"));
                    assert_eq!(r.json()["error"], "overloaded");
                }
                s => panic!("unexpected status {s}: {}", r.text()),
            }
        }
        if busy > 0 {
            break;
        }
    }
    assert!(
        busy > 0,
        "concurrent requests against a 1-value queue should see backpressure"
    );
    let t = app
        .query("/api/devices/busy/telemetry?keys=n&start=0&end=1800000000000")
        .await;
    assert_eq!(
        t["n"].as_array().unwrap().len(),
        ok,
        "every 200 is stored, nothing else"
    );
}
