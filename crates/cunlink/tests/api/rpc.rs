//! Device commands (ThingsBoard server-side RPC) with real clients: rumqttc for
//! a device and for a gateway, plain HTTP long-poll for an HTTP device.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

use crate::common::{TestApp, enc, request, spawn_app};

fn client(app: &TestApp, id: &str, token: &str) -> (AsyncClient, EventLoop) {
    let mut opts = MqttOptions::new(id, app.mqtt.ip().to_string(), app.mqtt.port());
    opts.set_credentials(token, "");
    opts.set_keep_alive(Duration::from_secs(30));
    AsyncClient::new(opts, 100)
}

/// Poll the event loop until a PUBLISH on a topic starting with `prefix` arrives.
async fn next_publish(events: &mut EventLoop, prefix: &str) -> (String, Value) {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(until, events.poll())
            .await
            .expect("a command arrives in time")
            .expect("mqtt ok");
        if let Event::Incoming(Packet::Publish(p)) = ev {
            if p.topic.starts_with(prefix) {
                return (
                    p.topic.clone(),
                    serde_json::from_slice(&p.payload).expect("json"),
                );
            }
        }
    }
}

/// Drive the event loop until SUBACK (so the subscription is in place).
async fn until_suback(events: &mut EventLoop) {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("suback in time")
            .expect("mqtt ok");
        if let Event::Incoming(Packet::SubAck(_)) = ev {
            return;
        }
    }
}

async fn send(app: &TestApp, device: &str, body: Value, wait: bool) -> (u16, Value) {
    let admin = app.admin_token.clone();
    let q = if wait { "?wait=true" } else { "" };
    app.post_json(
        &format!("/api/devices/{}/rpc{q}", enc(device)),
        &admin,
        body,
    )
    .await
}

#[tokio::test]
async fn an_mqtt_device_receives_a_command_and_replies() {
    let app = spawn_app().await;
    let token = app
        .device(json!({ "name": "灌溉阀-1", "type": "default" }))
        .await;
    let (dev, mut events) = client(&app, "valve-1", &token);
    dev.subscribe("v1/devices/me/rpc/request/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    until_suback(&mut events).await;

    let app_http = app.http;
    let admin = app.admin_token.clone();
    let caller = tokio::spawn(async move {
        let auth = format!("Bearer {admin}");
        request(
            app_http,
            "POST",
            &format!("/api/devices/{}/rpc?wait=true", enc("灌溉阀-1")),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            json!({ "method": "setValve", "params": { "open": true }, "timeout_ms": 5000 })
                .to_string()
                .into_bytes(),
        )
        .await
    });
    let (topic, req) = next_publish(&mut events, "v1/devices/me/rpc/request/").await;
    let id = req["id"].as_i64().expect("id in the request");
    assert_eq!(topic, format!("v1/devices/me/rpc/request/{id}"));
    assert_eq!(req["method"], "setValve");
    assert_eq!(req["params"]["open"], true);
    dev.publish(
        format!("v1/devices/me/rpc/response/{id}"),
        QoS::AtLeastOnce,
        false,
        json!({ "open": true, "flow_lpm": 12 }).to_string(),
    )
    .await
    .unwrap();
    // Keep the event loop turning so the reply leaves.
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let r = caller.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let cmd = r.json();
    assert_eq!(cmd["state"], "replied", "{cmd}");
    assert_eq!(cmd["response"]["flow_lpm"], 12);
    let list = app
        .query(&format!("/api/devices/{}/rpc", enc("灌溉阀-1")))
        .await;
    assert_eq!(list[0]["state"], "replied");
    pump.abort();
}

#[tokio::test]
async fn a_device_behind_a_gateway_gets_commands_through_it() {
    let app = spawn_app().await;
    let gw = app
        .device(json!({ "name": "大棚网关", "gateway": true, "asset": "一号大棚", "asset_kind": "greenhouse" }))
        .await;
    let (gateway, mut events) = client(&app, "gw-1", &gw);
    gateway
        .publish(
            "v1/gateway/connect",
            QoS::AtLeastOnce,
            false,
            json!({ "device": "卷帘机", "type": "default" }).to_string(),
        )
        .await
        .unwrap();
    gateway
        .subscribe("v1/gateway/rpc", QoS::AtLeastOnce)
        .await
        .unwrap();
    until_suback(&mut events).await;
    // The child exists once its connect is acknowledged.
    for _ in 0..100 {
        if app
            .get(&format!("/api/devices/{}", enc("卷帘机")), &app.admin_token)
            .await
            .status
            == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, cmd) = send(
        &app,
        "卷帘机",
        json!({ "method": "roll", "params": { "to": "up" } }),
        false,
    )
    .await;
    assert_eq!(s, 201, "{cmd}");
    let id = cmd["id"].as_i64().unwrap();
    let (topic, req) = next_publish(&mut events, "v1/gateway/rpc").await;
    assert_eq!(topic, "v1/gateway/rpc");
    assert_eq!(req["device"], "卷帘机");
    assert_eq!(req["data"]["id"], id);
    assert_eq!(req["data"]["method"], "roll");
    gateway
        .publish(
            "v1/gateway/rpc",
            QoS::AtLeastOnce,
            false,
            json!({ "device": "卷帘机", "id": id, "data": { "position": "up" } }).to_string(),
        )
        .await
        .unwrap();
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let path = format!("/api/devices/{}/rpc/{id}", enc("卷帘机"));
    let mut last = Value::Null;
    for _ in 0..100 {
        last = app.query(&path).await;
        if last["state"] == "replied" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last["state"], "replied", "{last}");
    assert_eq!(last["response"]["position"], "up");
    pump.abort();
}

#[tokio::test]
async fn an_http_device_long_polls_for_commands() {
    let app = spawn_app().await;
    let token = app
        .device(json!({ "name": "水泵", "type": "default" }))
        .await;
    // Nothing waiting: 408 after the poll's timeout.
    let r = request(
        app.http,
        "GET",
        &format!("/api/v1/{token}/rpc?timeout=200"),
        &[],
        vec![],
    )
    .await;
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.json()["error"], "no_command");

    let http = app.http;
    let t2 = token.clone();
    let poll = tokio::spawn(async move {
        request(
            http,
            "GET",
            &format!("/api/v1/{t2}/rpc?timeout=5000"),
            &[],
            vec![],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, cmd) = send(
        &app,
        "水泵",
        json!({ "method": "start", "params": { "minutes": 20 } }),
        false,
    )
    .await;
    assert_eq!(s, 201, "{cmd}");
    let got = poll.await.unwrap();
    assert_eq!(got.status, 200, "{}", got.text());
    let req = got.json();
    assert_eq!(req["method"], "start");
    let id = req["id"].as_i64().unwrap();
    let r = request(
        app.http,
        "POST",
        &format!("/api/v1/{token}/rpc/{id}"),
        &[("content-type", "application/json")],
        br#"{"running":true}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c = app
        .query(&format!("/api/devices/{}/rpc/{id}", enc("水泵")))
        .await;
    assert_eq!(c["state"], "replied");
    assert_eq!(c["response"]["running"], true);
    // A reply to a command that is not waiting is refused.
    let r = request(
        app.http,
        "POST",
        &format!("/api/v1/{token}/rpc/{id}"),
        &[],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn commands_wait_for_offline_devices_and_time_out() {
    let app = spawn_app().await;
    let token = app
        .device(json!({ "name": "风机", "type": "default" }))
        .await;
    let (s, slow) = send(
        &app,
        "风机",
        json!({ "method": "stop", "timeout_ms": 300 }),
        false,
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(slow["state"], "queued");
    let (s, queued) = send(
        &app,
        "风机",
        json!({ "method": "start", "oneway": true, "timeout_ms": 30000 }),
        false,
    )
    .await;
    assert_eq!(s, 201);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let slow = app
        .query(&format!("/api/devices/{}/rpc/{}", enc("风机"), slow["id"]))
        .await;
    assert_eq!(slow["state"], "timed_out");

    // The device comes online and subscribes: the waiting one-way command is delivered.
    let (dev, mut events) = client(&app, "fan", &token);
    dev.subscribe("v1/devices/me/rpc/request/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (_, req) = next_publish(&mut events, "v1/devices/me/rpc/request/").await;
    assert_eq!(req["method"], "start");
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let path = format!("/api/devices/{}/rpc/{}", enc("风机"), queued["id"]);
    let mut c = Value::Null;
    for _ in 0..100 {
        c = app.query(&path).await;
        if c["state"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c["state"], "delivered", "PUBACK marks it delivered: {c}");
    let (s, e) = send(&app, "风机", json!({ "method": "" }), false).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("method")));
    pump.abort();
}

#[tokio::test]
async fn a_rule_opens_the_valve_when_the_soil_is_dry() {
    let app = spawn_app().await;
    let token = app
        .device(json!({ "name": "土壤阀控", "type": "soil-probe", "asset": "北茶园", "asset_kind": "field" }))
        .await;
    let (dev, mut events) = client(&app, "soil-valve", &token);
    dev.subscribe("v1/devices/me/rpc/request/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    until_suback(&mut events).await;
    let admin = app.admin_token.clone();
    let (s, rule) = app
        .create_rule(&admin,
            json!({ "name": "干旱自动灌溉", "severity": "minor", "target": { "device": "土壤阀控" },
                    "condition": { "type": "threshold", "conditions": [{ "key": "soil_moisture", "op": "<", "value": 20 }] },
                    "action": { "rpc": { "method": "openValve", "params": { "minutes": 15 } } } }),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    dev.publish(
        "v1/devices/me/telemetry",
        QoS::AtLeastOnce,
        false,
        r#"{"soil_moisture":12}"#,
    )
    .await
    .unwrap();
    let (_, req) = next_publish(&mut events, "v1/devices/me/rpc/request/").await;
    assert_eq!(req["method"], "openValve");
    assert_eq!(req["params"]["minutes"], 15);
}
