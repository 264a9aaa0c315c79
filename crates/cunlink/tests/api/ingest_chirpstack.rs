//! ChirpStack v4 HTTP integration: up events become readings of the registered DevEUI.

use serde_json::json;

use crate::common::{TestApp, request, spawn_app};

/// A new integration token of `app`, as `Authorization` header value.
pub async fn integration(app: &TestApp) -> String {
    let db = app.server.as_ref().unwrap().farm.db.clone();
    let token = db
        .call(|c| cunlink_farm::integrations::create(c, "chirpstack"))
        .await
        .unwrap();
    format!("Bearer {token}")
}

pub fn up(dev_eui: &str, object: serde_json::Value) -> String {
    json!({
        "deduplicationId": "3ab1c2d4-0000-4000-8000-000000000001",
        "time": "2026-11-23T06:01:02.123Z",
        "deviceInfo": { "tenantName": "county", "applicationName": "tea", "deviceProfileName": "soil", "deviceName": "soil-lora", "devEui": dev_eui, "tags": {} },
        "devAddr": "01f2a3b4", "adr": true, "dr": 5, "fCnt": 42, "fPort": 2, "confirmed": false,
        "data": "AQIDBA==",
        "object": object,
        "rxInfo": [{ "gatewayId": "0016c001ff10a235", "rssi": -97, "snr": 7.5 }],
        "txInfo": { "frequency": 470300000 }
    })
    .to_string()
}

#[tokio::test]
async fn an_up_event_stores_the_decoded_object() {
    let app = spawn_app().await;
    app.device(json!({ "name": "soil-lora", "type": "soil-probe", "dev_eui": "70B3D57ED0001234" }))
        .await;
    let auth = integration(&app).await;
    let body = up(
        "70b3d57ed0001234",
        json!({ "soil_moisture": 18.5, "probe": { "depth_cm": 30 }, "missing": null }),
    );
    let r = request(
        app.http,
        "POST",
        "/api/integrations/chirpstack?event=up",
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        body.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let l = app.query("/api/devices/soil-lora/latest").await;
    assert_eq!(l["soil_moisture"][0]["value"], 18.5);
    assert_eq!(
        l["soil_moisture"][0]["ts"], 1_795_413_662_123i64,
        "timed by the event's own time"
    );
    assert_eq!(l["probe.depth_cm"][0]["value"], 30);
    assert!(l.get("missing").is_none());
}

#[tokio::test]
async fn other_events_are_accepted_and_ignored() {
    let app = spawn_app().await;
    let auth = integration(&app).await;
    for event in ["join", "status", "ack", "txack", "log", "location"] {
        let r = request(
            app.http,
            "POST",
            &format!("/api/integrations/chirpstack?event={event}"),
            &[("authorization", &auth)],
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(r.status, 200, "{event}");
    }
}

#[tokio::test]
async fn an_unknown_dev_eui_is_a_404_that_names_it() {
    let app = spawn_app().await;
    let auth = integration(&app).await;
    let r = request(
        app.http,
        "POST",
        "/api/integrations/chirpstack?event=up",
        &[("authorization", &auth)],
        up("0102030405060708", json!({ "t": 1 })).into_bytes(),
    )
    .await;
    assert_eq!(r.status, 404);
    let j = r.json();
    assert_eq!(j["error"], "unknown_dev_eui");
    // As docs/devices.md says: the field is where the DevEUI was read from.
    assert_eq!(j["field"], "deviceInfo.devEui");
    assert!(
        j["message"].as_str().unwrap().contains("0102030405060708"),
        "{j}"
    );
}

#[tokio::test]
async fn protobuf_encoding_is_refused_with_advice() {
    let app = spawn_app().await;
    let auth = integration(&app).await;
    let r = request(
        app.http,
        "POST",
        "/api/integrations/chirpstack?event=up",
        &[
            ("content-type", "application/octet-stream"),
            ("authorization", &auth),
        ],
        vec![0x0a, 0x01],
    )
    .await;
    assert_eq!(r.status, 415);
    assert!(r.json()["message"].as_str().unwrap().contains("JSON"));
}
