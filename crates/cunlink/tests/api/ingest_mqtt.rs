//! MQTT device API with real clients: rumqttc (a second MQTT library),
//! Debian's mosquitto_pub, and a raw client for exact reason codes.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;

use crate::common::{RawMqtt, enc, spawn_app};

/// Wait until `path` answers JSON for which `done` holds (commits are asynchronous to queries only by microseconds, but MQTT QoS 0 has no ack to wait for).
async fn eventually(
    app: &crate::common::TestApp,
    path: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..100 {
        let v = app.query(path).await;
        if done(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{path} never satisfied the condition: {}",
        app.query(path).await
    );
}

#[tokio::test]
async fn rumqttc_qos1_publishes_are_acked_after_commit() {
    let app = spawn_app().await;
    let token = app
        .device(json!({ "name": "soil-1", "type": "soil-probe" }))
        .await;
    let mut opts = MqttOptions::new("soil-1", app.mqtt.ip().to_string(), app.mqtt.port());
    opts.set_credentials(token, "");
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(opts, 100);
    for i in 0..50 {
        client
            .publish(
                "v1/devices/me/telemetry",
                QoS::AtLeastOnce,
                false,
                format!(
                    r#"{{"ts":{},"values":{{"soil_moisture":{i}}}}}"#,
                    1_700_000_000_000i64 + i
                ),
            )
            .await
            .unwrap();
    }
    let mut acks = 0;
    while acks < 50 {
        match tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("acks arrive")
            .expect("no mqtt error")
        {
            Event::Incoming(Packet::PubAck(_)) => {
                acks += 1;
            }
            _ => {}
        }
    }
    // Acked means committed: readable at once, no waiting.
    let t = app
        .query("/api/devices/soil-1/telemetry?keys=soil_moisture&start=0&end=1800000000000")
        .await;
    assert_eq!(t["soil_moisture"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn mosquitto_pub_works_in_both_protocol_versions() {
    let app = spawn_app().await;
    let token = app.device(json!({ "name": "air" })).await;
    for (version, value) in [("mqttv311", 11.5), ("mqttv5", 15.5)] {
        let out = tokio::process::Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &app.mqtt.port().to_string(),
                "-V",
                version,
                "-q",
                "1",
                "-u",
                &token,
                "-t",
                "v1/devices/me/telemetry",
            ])
            .args(["-m", &format!(r#"{{"temperature":{value}}}"#)])
            .output()
            .await
            .expect("mosquitto_pub is installed (apt-get install mosquitto-clients)");
        assert!(
            out.status.success(),
            "{version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let l = app.query("/api/devices/air/latest").await;
        assert_eq!(l["temperature"][0]["value"], value, "{version}");
    }
    let out = tokio::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &app.mqtt.port().to_string(),
            "-q",
            "1",
            "-u",
            "wrong-token",
            "-t",
            "v1/devices/me/telemetry",
            "-m",
            "{}",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("not auth"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn unknown_tokens_get_not_authorized_in_each_version() {
    let app = spawn_app().await;
    let (_, connack) = RawMqtt::connect(app.mqtt, false, "nope").await;
    assert_eq!(
        connack,
        vec![0x20, 2, 0, 5],
        "3.1.1: return code 5, not authorized"
    );
    let (_, connack) = RawMqtt::connect(app.mqtt, true, "nope").await;
    assert_eq!(
        &connack[..4],
        &[0x20, 3, 0, 0x87],
        "5.0: reason 0x87, not authorized"
    );
}

#[tokio::test]
async fn v5_bad_payload_gets_a_puback_reason_and_the_connection_stays() {
    let app = spawn_app().await;
    let token = app.device(json!({ "name": "v5dev" })).await;
    let (mut c, connack) = RawMqtt::connect(app.mqtt, true, &token).await;
    assert_eq!(&connack[..4], &[0x20, 3, 0, 0]);
    c.publish(
        true,
        "v1/devices/me/telemetry",
        br#"{"temperature":{"nested":1}}"#,
        1,
        1,
    )
    .await;
    let ack = c.read_packet().await.unwrap();
    assert_eq!(
        (ack[0], ack[2], ack[3], ack[4]),
        (0x40, 0, 1, 0x99),
        "PUBACK with 'payload format invalid': {ack:?}"
    );
    assert!(
        String::from_utf8_lossy(&ack).contains("temperature"),
        "reason string names the key"
    );
    c.publish(true, "v1/devices/me/nowhere", b"{}", 1, 2).await;
    let ack = c.read_packet().await.unwrap();
    assert_eq!(ack[4], 0x90, "topic name invalid");
    c.publish(
        true,
        "v1/devices/me/telemetry",
        br#"{"temperature":7}"#,
        1,
        3,
    )
    .await;
    let ack = c.read_packet().await.unwrap();
    assert_eq!(&ack[..4], &[0x40, 2, 0, 3]);
    let l = app.query("/api/devices/v5dev/latest").await;
    assert_eq!(l["temperature"][0]["value"], 7);
    assert_eq!(
        l.as_object().unwrap().len(),
        1,
        "nothing of the refused messages was stored"
    );
}

#[tokio::test]
async fn v311_bad_payload_closes_the_connection_and_stores_nothing() {
    let app = spawn_app().await;
    let token = app.device(json!({ "name": "v3dev" })).await;
    let (mut c, _) = RawMqtt::connect(app.mqtt, false, &token).await;
    c.publish(
        false,
        "v1/devices/me/telemetry",
        br#"{"temperature":1}"#,
        1,
        1,
    )
    .await;
    assert_eq!(c.read_packet().await.unwrap(), vec![0x40, 2, 0, 1]);
    c.publish(false, "v1/devices/me/telemetry", b"{not json", 1, 2)
        .await;
    assert_eq!(
        c.read_packet().await,
        None,
        "3.1.1 has no reason codes: the server closes"
    );
    let l = app.query("/api/devices/v3dev/latest").await;
    assert_eq!(l["temperature"][0]["value"], 1);
}

#[tokio::test]
async fn qos0_publishes_are_stored_too() {
    let app = spawn_app().await;
    let token = app.device(json!({ "name": "q0" })).await;
    let (mut c, _) = RawMqtt::connect(app.mqtt, false, &token).await;
    c.publish(false, "v1/devices/me/telemetry", br#"{"level":3}"#, 0, 0)
        .await;
    eventually(&app, "/api/devices/q0/latest", |v| {
        v["level"][0]["value"] == 3
    })
    .await;
}

#[tokio::test]
async fn a_gateway_connects_ear_tags_and_forwards_their_readings() {
    let app = spawn_app().await;
    let gw = app
        .device(
            json!({ "name": "reader", "gateway": true, "asset": "二号猪舍", "asset_kind": "barn" }),
        )
        .await;
    let (mut c, _) = RawMqtt::connect(app.mqtt, false, &gw).await;
    c.publish(
        false,
        "v1/gateway/connect",
        r#"{"device":"耳标 0412","type":"ear-tag"}"#.as_bytes(),
        1,
        1,
    )
    .await;
    assert_eq!(c.read_packet().await.unwrap(), vec![0x40, 2, 0, 1]);
    let d = app
        .query(&format!("/api/devices/{}", enc("耳标 0412")))
        .await;
    assert_eq!(d["type"], "ear-tag");
    assert_eq!(d["asset"], "二号猪舍");
    let now = cunlink_core::time::now_ms();
    let body = json!({ "耳标 0412": [{ "ts": now, "values": { "temperature": 38.9 } }], "耳标 0413": { "temperature": 38.2 } });
    c.publish(
        false,
        "v1/gateway/telemetry",
        body.to_string().as_bytes(),
        1,
        2,
    )
    .await;
    assert_eq!(c.read_packet().await.unwrap(), vec![0x40, 2, 0, 2]);
    let l = app
        .query(&format!("/api/devices/{}/latest", enc("耳标 0412")))
        .await;
    assert_eq!(l["temperature"][0]["value"], 38.9);
    let l = app
        .query(&format!("/api/devices/{}/latest", enc("耳标 0413")))
        .await;
    assert_eq!(l["temperature"][0]["value"], 38.2);
    c.publish(
        false,
        "v1/gateway/attributes",
        r#"{"耳标 0413":{"firmware":"2.1"}}"#.as_bytes(),
        1,
        3,
    )
    .await;
    assert_eq!(c.read_packet().await.unwrap(), vec![0x40, 2, 0, 3]);
    let a = app
        .query(&format!("/api/devices/{}/attributes", enc("耳标 0413")))
        .await;
    assert_eq!(a["firmware"]["value"], "2.1");
}

#[tokio::test]
async fn subscribe_and_ping_are_answered() {
    let app = spawn_app().await;
    let token = app.device(json!({ "name": "sub" })).await;
    let (mut c, _) = RawMqtt::connect(app.mqtt, false, &token).await;
    use tokio::io::AsyncWriteExt;
    // SUBSCRIBE id 9 to v1/devices/me/rpc/request/+ at QoS 1, then PINGREQ.
    let topic = b"v1/devices/me/rpc/request/+";
    let mut sub = vec![
        0x82,
        (2 + 2 + topic.len() + 1) as u8,
        0,
        9,
        0,
        topic.len() as u8,
    ];
    sub.extend_from_slice(topic);
    sub.push(1);
    c.stream.write_all(&sub).await.unwrap();
    assert_eq!(c.read_packet().await.unwrap(), vec![0x90, 3, 0, 9, 1]);
    c.stream.write_all(&[0xC0, 0]).await.unwrap();
    assert_eq!(c.read_packet().await.unwrap(), vec![0xD0, 0]);
}
